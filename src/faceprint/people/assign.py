"""Cluster the stored faces again, keeping what a reviewer decided.

1. Faces of *reviewed* clusters (named, merged or split by a person) stay where they are.
2. Every other face is first matched against those reviewed faces (open set): it joins
   the best reviewed cluster whose face it matches at the identification threshold for
   the number of reviewed faces (FPIR-aware, from the model's calibration), unless a
   reviewer removed it from that cluster.
3. The rest are clustered: a k-nearest-neighbour graph of the faces that pass the
   quality gate, at the clustering threshold (see
   :func:`~faceprint.core.clustering.clustering_threshold`), labelled by Chinese
   Whispers. Faces that fail the gate (tiny, blurry, low detector score) never link
   two faces together: each one joins the cluster of its best usable match above the
   same threshold, or stays alone.
4. Cluster ids are stable: a new group keeps the id of the old automatic cluster it
   shares most faces with, so re-running after adding photos does not renumber.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from faceprint.core.calibration import CalibrationCurve
from faceprint.core.clustering import (
    ClusteringThreshold,
    chinese_whispers,
    clustering_threshold,
    knn_graph,
)
from faceprint.people.store import PeopleStore


@dataclass(frozen=True, slots=True)
class Reclustering:
    """What one clustering pass did.

    Attributes:
        faces: faces clustered in all.
        threshold: the edge threshold of the automatic clustering.
        join_threshold: the threshold to join a reviewed cluster (``None``: none yet).
        kept: faces of reviewed clusters, left where they were.
        joined: faces that joined a reviewed cluster.
        attached: low-quality faces that joined a cluster through their best match.
        low_quality: low-quality faces left alone.
        seconds: wall time of the pass (graph and labelling).
    """

    faces: int
    threshold: ClusteringThreshold | None
    join_threshold: ClusteringThreshold | None
    kept: int
    joined: int
    attached: int
    low_quality: int
    seconds: float


def recluster(
    store: PeopleStore,
    curve: CalibrationCurve | None,
    *,
    fpir: float = 0.01,
    similarity: float | None = None,
    k: int = 32,
    exact_limit: int = 20_000,
    seed: int = 0,
) -> Reclustering:
    """Assign every stored face to a cluster (see the module docs) and store it.

    Raises:
        CalibrationError: the model has no calibration and no ``similarity`` was given.
    """
    import faiss

    start = time.perf_counter()
    matrix = store.face_matrix()
    ids, vectors, usable = matrix.ids, matrix.vectors, matrix.usable
    clusters = store.clusters()
    reviewed = {c for c, (_, rev) in clusters.items() if rev}
    old = store.memberships()
    pinned = {f: c for f, (c, how) in old.items() if how == "pinned" and c in reviewed}
    assignment: dict[int, tuple[int, str]] = {f: (c, "pinned") for f, c in pinned.items()}
    free = np.asarray([i for i, f in enumerate(ids.tolist()) if f not in pinned], dtype=np.int64)

    join_threshold = None
    joined = 0
    if pinned and free.size:
        anchor_rows = np.asarray([i for i, f in enumerate(ids.tolist()) if f in pinned])
        anchor_cluster = np.asarray([pinned[int(ids[i])] for i in anchor_rows])
        join_threshold = clustering_threshold(
            curve, anchor_rows.size + 1, fpir=fpir, similarity=similarity
        )
        index = faiss.IndexFlatIP(vectors.shape[1])
        index.add(np.ascontiguousarray(vectors[anchor_rows]))
        sims, nearest = index.search(np.ascontiguousarray(vectors[free]), min(16, anchor_rows.size))
        excluded = store.exclusions()
        still_free = []
        for row, face_sims, face_nearest in zip(free.tolist(), sims, nearest, strict=True):
            face = int(ids[row])
            choice = None
            for s, a in zip(face_sims.tolist(), face_nearest.tolist(), strict=True):
                if a < 0 or s < join_threshold.similarity:
                    break
                cluster = int(anchor_cluster[a])
                if (face, cluster) not in excluded:
                    choice = cluster
                    break
            if choice is None:
                still_free.append(row)
            else:
                assignment[face] = (choice, "joined")
                joined += 1
        free = np.asarray(still_free, dtype=np.int64)

    threshold = None
    attached = low_quality = 0
    groups: list[list[tuple[int, str]]] = []
    if free.size:
        good = usable[free]
        threshold = clustering_threshold(
            curve, max(2, int(good.sum())), fpir=fpir, similarity=similarity
        )
        graph = knn_graph(
            vectors[free],
            threshold=threshold.similarity,
            k=k,
            exact_limit=exact_limit,
            allowed=good,
        )
        labels = chinese_whispers(graph, seed=seed)
        good_rows = np.flatnonzero(good)
        bad_rows = np.flatnonzero(~good)
        if bad_rows.size and good_rows.size:
            index = faiss.IndexFlatIP(vectors.shape[1])
            index.add(np.ascontiguousarray(vectors[free[good_rows]]))
            sims, nearest = index.search(np.ascontiguousarray(vectors[free[bad_rows]]), 1)
            for row, s, j in zip(bad_rows.tolist(), sims[:, 0], nearest[:, 0], strict=True):
                if j >= 0 and s >= threshold.similarity:
                    labels[row] = labels[good_rows[j]]
                    attached += 1
                else:
                    low_quality += 1
        elif bad_rows.size:
            low_quality = int(bad_rows.size)
        by_label: dict[int, list[tuple[int, str]]] = {}
        for row, label in enumerate(labels.tolist()):
            how = "auto" if good[row] else "attached"
            by_label.setdefault(label, []).append((int(ids[free[row]]), how))
        groups = list(by_label.values())
    _stable_ids(store, groups, old, reviewed, assignment)
    with store.transaction():
        store.replace_automatic(assignment, keep=reviewed)
    return Reclustering(
        faces=int(ids.size),
        threshold=threshold,
        join_threshold=join_threshold,
        kept=len(pinned),
        joined=joined,
        attached=attached,
        low_quality=low_quality,
        seconds=time.perf_counter() - start,
    )


def _stable_ids(
    store: PeopleStore,
    groups: list[list[tuple[int, str]]],
    old: dict[int, tuple[int, str]],
    reviewed: set[int],
    assignment: dict[int, tuple[int, str]],
) -> None:
    """Give each group the id of the old automatic cluster it overlaps most (each old id
    once, largest overlaps first), or a fresh id."""
    candidates = []
    for g, members in enumerate(groups):
        overlap = Counter(old[f][0] for f, _ in members if f in old and old[f][0] not in reviewed)
        candidates += [(count, -g, cid) for cid, count in overlap.items()]
    chosen: dict[int, int] = {}
    taken: set[int] = set()
    for _, neg_g, cid in sorted(candidates, reverse=True):
        g = -neg_g
        if g not in chosen and cid not in taken:
            chosen[g] = cid
            taken.add(cid)
    next_id = store.next_cluster_id()
    for g, members in enumerate(groups):
        if g in chosen:
            cid = chosen[g]
        else:
            cid, next_id = next_id, next_id + 1
        for face, how in members:
            assignment[face] = (cid, how)
