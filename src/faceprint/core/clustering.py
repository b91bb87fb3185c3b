"""Clustering face embeddings: a k-nearest-neighbour graph, Chinese Whispers, scores.

Pure computation on unit vectors (numpy, and faiss for the neighbour search). The
threshold is the caller's: :func:`clustering_threshold` derives it from a model's
calibration so that a face has a known chance of gaining a false link.

- :func:`knn_graph` links each face to its nearest neighbours at or above a
  similarity: exact (a flat inner-product index) up to ``exact_limit`` faces, an
  inverted-file index above (the neighbours that matter are the close ones, which an
  IVF probe of the nearest lists finds).
- :func:`chinese_whispers` (Biemann 2006) labels the graph: each node, in random
  order, takes the label with the largest summed edge weight among its neighbours,
  until no label changes. Unlike connected components a single false edge does not
  merge two people, and unlike agglomerative clustering it needs only the sparse
  graph (so it scales to 10⁵–10⁶ faces).
- :func:`bcubed_scores` and :func:`pairwise_scores` compare a clustering with
  identity labels.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.core.calibration import CalibrationCurve
from faceprint.errors import CalibrationError


@dataclass(frozen=True, slots=True)
class Graph:
    """An undirected weighted graph as unique edges ``src < dst``."""

    size: int
    src: NDArray[np.int64]
    dst: NDArray[np.int64]
    weight: NDArray[np.float32]

    @property
    def edges(self) -> int:
        return int(self.src.size)


@dataclass(frozen=True, slots=True)
class ClusteringThreshold:
    """The edge threshold and what it means.

    ``fmr`` is the per-comparison false-match rate at ``similarity``; ``fpir`` the
    chance that a face of a person not otherwise in the set links to somebody
    (``1 - (1 - fmr)^(faces - 1)``); ``clamped`` is true when the asked rate was below
    the calibrated range and the calibration's smallest FMR was used instead.
    """

    similarity: float
    fmr: float | None
    fpir: float | None
    faces: int
    source: str
    clamped: bool = False


def clustering_threshold(
    curve: CalibrationCurve | None,
    faces: int,
    *,
    fpir: float = 0.01,
    similarity: float | None = None,
) -> ClusteringThreshold:
    """The similarity above which two faces are linked.

    Every face is in effect searched against the other ``faces - 1``: to keep the
    chance that a face gains one false link at ``fpir``, each comparison may false-match
    at ``1 - (1 - fpir)^(1/(faces-1))`` (≈ fpir / faces), read off the calibration. A
    set too large for the calibrated range gets its smallest FMR (``clamped``).

    Raises:
        CalibrationError: no calibration and no explicit ``similarity``; ``fpir`` not
            in (0, 1).
    """
    if similarity is not None:
        fmr = curve.fmr_at(similarity) if curve is not None else None
        return ClusteringThreshold(similarity, fmr, None, faces, "user")
    if curve is None:
        raise CalibrationError(
            "this model has no calibration, so a clustering threshold cannot be derived; "
            "pass an explicit similarity threshold"
        )
    others = max(1, faces - 1)
    similarity, fmr = curve.threshold_for_fpir(fpir, others, clamp=True)
    actual_fpir = -math.expm1(others * math.log1p(-fmr))
    clamped = actual_fpir > fpir * (1 + 1e-9)
    return ClusteringThreshold(similarity, fmr, actual_fpir, faces, "fpir", clamped=clamped)


def knn_graph(
    vectors: NDArray[np.float32],
    *,
    threshold: float,
    k: int = 32,
    exact_limit: int = 20_000,
    allowed: NDArray[np.bool_] | None = None,
) -> Graph:
    """Edges from each face to its ``k`` nearest neighbours with similarity ≥ threshold.

    Args:
        vectors: N×D unit float32 embeddings.
        threshold: cosine similarity of an edge.
        k: neighbours per face searched (an edge needs either end to list the other).
        exact_limit: up to this many faces the search is exact; above, an IVF index.
        allowed: optional mask; faces outside it get no edges (the quality gate).
    """
    import faiss

    n = int(vectors.shape[0])
    empty = Graph(n, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if n < 2:
        return empty
    nodes = np.arange(n) if allowed is None else np.flatnonzero(allowed)
    if nodes.size < 2:
        return empty
    x = np.ascontiguousarray(vectors[nodes], dtype=np.float32)
    kk = min(k + 1, int(nodes.size))
    index: Any
    if nodes.size <= exact_limit:
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
    else:
        lists = int(4 * math.sqrt(nodes.size))
        quantizer = faiss.IndexFlatIP(x.shape[1])
        index = faiss.IndexIVFFlat(quantizer, x.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
        index.train(x)
        index.add(x)
        index.nprobe = max(8, lists // 32)
    sims, ids = index.search(x, kk)
    rows = np.repeat(np.arange(nodes.size), kk)
    cols = ids.ravel()
    w = sims.ravel()
    keep = (cols >= 0) & (cols != rows) & (w >= threshold)
    a, b, w = rows[keep], cols[keep], w[keep]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo.astype(np.int64) * nodes.size + hi
    key, first = np.unique(key, return_index=True)
    return Graph(
        n,
        nodes[lo[first]].astype(np.int64),
        nodes[hi[first]].astype(np.int64),
        w[first].astype(np.float32),
    )


def chinese_whispers(graph: Graph, *, iterations: int = 30, seed: int = 0) -> NDArray[np.int64]:
    """Cluster labels (0 … C−1, in order of first appearance) for every node.

    Weighted Chinese Whispers: nodes are visited in a fresh random order each round and
    take their neighbours' heaviest label (ties: the smallest label, so a run is
    reproducible from ``seed``); it stops when a round changes nothing or after
    ``iterations`` rounds. Nodes without edges are singletons.
    """
    n = graph.size
    labels = list(range(n))
    if graph.edges:
        src = np.concatenate([graph.src, graph.dst])
        dst = np.concatenate([graph.dst, graph.src])
        wt = np.concatenate([graph.weight, graph.weight]).astype(np.float64)
        order = np.argsort(src, kind="stable")
        src, dst, wt = src[order], dst[order], wt[order]
        starts = np.searchsorted(src, np.arange(n + 1))
        linked = np.flatnonzero(np.diff(starts) > 0)
        neighbours = [dst[starts[i] : starts[i + 1]].tolist() for i in linked]
        weights = [wt[starts[i] : starts[i + 1]].tolist() for i in linked]
        rng = np.random.default_rng(seed)
        for _ in range(iterations):
            changed = 0
            for pos in rng.permutation(linked.size).tolist():
                node = int(linked[pos])
                score: dict[int, float] = {}
                for other, weight in zip(neighbours[pos], weights[pos], strict=True):
                    lab = labels[other]
                    score[lab] = score.get(lab, 0.0) + weight
                best = max(score.items(), key=lambda item: (item[1], -item[0]))[0]
                if best != labels[node]:
                    labels[node] = best
                    changed += 1
            if not changed:
                break
    return relabel(np.asarray(labels, dtype=np.int64))


def relabel(labels: NDArray[np.integer] | Sequence[int]) -> NDArray[np.int64]:
    """Labels renumbered 0 … C−1 in order of first appearance."""
    arr = np.asarray(labels)
    _, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.reshape(-1)]


@dataclass(frozen=True, slots=True)
class ClusterScores:
    """Precision, recall and their harmonic mean F."""

    precision: float
    recall: float
    f: float

    def to_dict(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f": self.f}


def _f(p: float, r: float) -> ClusterScores:
    return ClusterScores(p, r, 0.0 if p + r == 0 else 2 * p * r / (p + r))


def _tables(
    predicted: Sequence[object], truth: Sequence[object]
) -> tuple[Counter[object], Counter[object], Counter[tuple[object, object]]]:
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predicted labels for {len(truth)} true labels")
    if not predicted:
        raise ValueError("no items to score")
    return Counter(predicted), Counter(truth), Counter(zip(predicted, truth, strict=True))


def bcubed_scores(predicted: Sequence[object], truth: Sequence[object]) -> ClusterScores:
    """BCubed precision/recall/F (Bagga & Baldwin 1998; Amigó et al. 2009).

    Per item: precision is the share of its cluster with its identity, recall the
    share of its identity in its cluster; both averaged over items. Singletons count,
    so a set where most people have one photo rewards leaving them alone.
    """
    clusters, identities, both = _tables(predicted, truth)
    n = len(predicted)
    precision = sum(c * c / clusters[p] for (p, _), c in both.items()) / n
    recall = sum(c * c / identities[t] for (_, t), c in both.items()) / n
    return _f(precision, recall)


def pairwise_scores(predicted: Sequence[object], truth: Sequence[object]) -> ClusterScores:
    """Pairwise precision/recall/F over all pairs of items put together / truly together.

    With no predicted (or no true) pairs the precision (recall) is 1 by convention.
    """
    clusters, identities, both = _tables(predicted, truth)

    def pairs(counts: Counter[object] | Counter[tuple[object, object]]) -> int:
        return sum(c * (c - 1) // 2 for c in counts.values())

    together, predicted_pairs, true_pairs = pairs(both), pairs(clusters), pairs(identities)
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / true_pairs if true_pairs else 1.0
    return _f(precision, recall)
