"""The clusters of a folder as typed results: members, representative, JSON.

The representative of a cluster is its medoid: the usable member most similar on
average to the others (for one or two faces, the better-quality one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from faceprint.people.store import PeopleStore


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """One face of a cluster.

    ``how`` is ``auto`` (clustered), ``joined`` (matched a reviewed cluster),
    ``attached`` (a low-quality face placed by its best match), ``pinned`` (kept by a
    review). ``similarity`` is to the cluster's representative (1 for itself).
    """

    face_id: int
    path: str
    sha256: str
    box: tuple[float, float, float, float]
    quality: float | None
    reasons: tuple[str, ...]
    how: str
    similarity: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "path": self.path,
            "sha256": self.sha256,
            "box": [round(v, 1) for v in self.box],
            "quality": None if self.quality is None else round(self.quality, 4),
            "reasons": list(self.reasons),
            "how": self.how,
            "similarity": round(self.similarity, 4),
        }


@dataclass(frozen=True, slots=True)
class Cluster:
    """A group of faces believed to be one person (members best match first)."""

    id: int
    name: str | None
    reviewed: bool
    representative: int
    members: tuple[ClusterMember, ...]

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def singleton(self) -> bool:
        return len(self.members) == 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "reviewed": self.reviewed,
            "size": self.size,
            "representative": self.representative,
            "members": [m.to_dict() for m in self.members],
        }


def list_clusters(store: PeopleStore, *, ids: set[int] | None = None) -> list[Cluster]:
    """Every cluster (or those in ``ids``): named first, then by size, then by id."""
    info = store.clusters()
    groups: dict[int, list[tuple[int, str]]] = {}
    for face, (cluster, how) in store.memberships().items():
        if ids is None or cluster in ids:
            groups.setdefault(cluster, []).append((face, how))
    all_faces = [f for members in groups.values() for f, _ in members]
    faces = store.faces(all_faces)
    vectors = store.embeddings(all_faces)
    paths = store.paths_of({f.sha256 for f in faces.values()})
    out = []
    for cluster, members in groups.items():
        name, reviewed = info.get(cluster, (None, False))
        face_ids = [f for f, _ in members]
        matrix = np.stack([vectors[f] for f in face_ids])
        rep = _representative(matrix, [faces[f] for f in face_ids])
        sims = matrix @ matrix[rep]
        rows = []
        for (face, how), s in zip(members, sims.tolist(), strict=True):
            stored = faces[face]
            rows.append(
                ClusterMember(
                    face,
                    paths.get(stored.sha256, ""),
                    stored.sha256,
                    stored.box,
                    stored.quality,
                    stored.reasons,
                    how,
                    float(s),
                )
            )
        rows.sort(key=lambda m: (-m.similarity, m.face_id))
        out.append(Cluster(cluster, name, reviewed, face_ids[rep], tuple(rows)))
    out.sort(key=lambda c: (c.name is None, -c.size, c.id))
    return out


def _representative(matrix: np.ndarray, faces: list[Any]) -> int:
    quality = np.asarray([(f.quality or 0.0) if f.usable else -1.0 for f in faces])
    if len(faces) <= 2:
        return int(np.argmax(quality))
    mean_sim = matrix @ matrix.mean(axis=0)  # = mean similarity to the members
    mean_sim[quality < 0] -= 2.0  # a usable face represents better than any unusable one
    return int(np.argmax(mean_sim))
