"""Enroll named clusters into a gallery.

Each named cluster becomes (or adds to) the gallery person of that name, with its
faces that pass the quality gate. Enrolling again adds only faces not yet there: an
image already enrolled for that person (by sha256, as the gallery records it) is
skipped, so a run killed between the two databases' writes does not duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from faceprint.errors import UsageError
from faceprint.gallery import FaceRecord, Gallery
from faceprint.people.store import PeopleStore
from faceprint.people.views import list_clusters
from faceprint.types import Embedding


@dataclass(frozen=True, slots=True)
class EnrolledCluster:
    """What enrolling one cluster did."""

    cluster: int
    person: str
    added: int
    already: int
    low_quality: int


def enroll_clusters(
    store: PeopleStore,
    gallery: Gallery,
    *,
    clusters: Sequence[int] | None = None,
    collection: str = "default",
    source: Callable[[str], str] | None = None,
) -> list[EnrolledCluster]:
    """Add the faces of named clusters (all, or ``clusters``) to ``gallery``.

    ``source`` maps a photo's stored path to the source text the gallery records
    (default: the path itself; the service passes one that hides server paths).

    Raises:
        UsageError: a chosen cluster has no name, or no cluster is named.
        faceprint.errors.UnknownClusterError: a chosen cluster does not exist.
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
    """
    model = store.model_id
    if model is None:
        raise UsageError("this clustering folder holds no faces yet")
    if clusters is not None:
        for c in clusters:
            name, _ = store.require_cluster(c)
            if name is None:
                raise UsageError(f"cluster {c} has no name; name it first (cluster name {c} …)")
    chosen = list_clusters(store, ids=None if clusters is None else set(clusters))
    chosen = [c for c in chosen if c.name is not None]
    if not chosen:
        raise UsageError("no cluster is named yet; name a cluster first")
    key = gallery.path
    out = []
    for cluster in chosen:
        person = str(cluster.name)
        usable = [m for m in cluster.members if not m.reasons]
        stored = gallery.enrolled_images({m.sha256 for m in usable}, collection=collection)
        fresh = [m for m in usable if person not in stored.get(m.sha256, ())]
        vectors = store.embeddings([m.face_id for m in fresh])
        records = [
            FaceRecord(
                embedding=Embedding(vectors[m.face_id], model),
                source=m.path if source is None else source(m.path),
                source_sha256=m.sha256,
                bbox_xyxy=m.box,
            )
            for m in fresh
        ]
        gallery.add_faces(person, records, collection=collection)
        with store.transaction():
            store.mark_enrolled(key, [(m.face_id, person) for m in usable])
        out.append(
            EnrolledCluster(
                cluster.id,
                person,
                len(records),
                len(usable) - len(fresh),
                len(cluster.members) - len(usable),
            )
        )
    return out
