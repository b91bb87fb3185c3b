"""Fitting the fairness score adjusters of :mod:`faceprint.core.score_adjust`.

Every fit reads the impostor (cross-identity) pairs of a labelled face set: all of them,
in blocks, counted into fine similarity histograms (bin width :data:`BIN_WIDTH`), from
which each curve's similarity at each log10 FMR level is read. A level is measured only
where at least :data:`~faceprint.core.calibration.MIN_PAIRS_PER_POINT` impostor pairs
lie above it, as the global calibration does.

- :func:`fit_faircal` — label-free: spherical k-means (faiss) parts, one curve per part
  from the pairs that touch it; a pair's FMR is the geometric mean of its two parts'.
- :func:`fit_group_thresholds` — with group labels: one curve per group from the pairs
  inside it; only within-group pairs are re-scored (the naive baseline).
- :func:`fit_centroid_shift` — with group labels: shift each face away from its group's
  centroid by ``beta``, and map back onto the global scale.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from faceprint.core.calibration import MIN_PAIRS_PER_POINT
from faceprint.core.score_adjust import CentroidShift, PartitionCalibration
from faceprint.errors import DatasetError

__all__ = [
    "BIN_WIDTH",
    "LEVEL_STEP",
    "fit_centroid_shift",
    "fit_faircal",
    "fit_group_thresholds",
    "impostor_histograms",
]

BIN_WIDTH = 5e-4
"""Width of the similarity histogram bins the curves are read from."""

LEVEL_STEP = 0.025
"""Spacing of the stored log10 FMR levels (40 per decade)."""

log = logging.getLogger(__name__)

_BINS = round(2.0 / BIN_WIDTH)
_EDGES = -1.0 + BIN_WIDTH * np.arange(_BINS, dtype=np.float64)


def _codes(values: ArrayLike) -> NDArray[np.intp]:
    _, codes = np.unique(np.asarray(values).reshape(-1), return_inverse=True)
    return codes.reshape(-1).astype(np.intp)


def _bin(sims: NDArray[np.floating]) -> NDArray[np.intp]:
    return np.clip(((sims + 1.0) / BIN_WIDTH).astype(np.intp), 0, _BINS - 1)


def impostor_histograms(
    vectors: ArrayLike,
    identities: ArrayLike,
    parts: ArrayLike | None = None,
    *,
    n_parts: int = 0,
    pairing: str = "any",
    block: int = 512,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Histograms of impostor similarities: global (each unordered pair once), and per
    part (``pairing="any"``: every pair counted in both faces' parts; ``"same"``: pairs
    with both faces in the part, counted once). Rows with a negative part count in the
    global histogram only.

    Returns:
        ``(global_counts, part_counts)``: shapes (B,) and (n_parts, B).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = _codes(identities)
    n = len(x)
    p = np.full(n, -1, np.intp) if parts is None else np.asarray(parts, np.intp).reshape(-1)
    if len(ids) != n or len(p) != n:
        raise DatasetError("need one identity and one part per vector")
    global_counts = np.zeros(_BINS, np.int64)
    part_counts = np.zeros(max(n_parts, 0) * _BINS, np.int64)
    cols = np.arange(n)
    for start in range(0, n, block):
        stop = min(start + block, n)
        bins = _bin(x[start:stop] @ x.T)
        other = ids[start:stop, None] != ids[None, :]
        upper = cols[None, :] > cols[start:stop, None]
        global_counts += np.bincount(bins[other & upper], minlength=_BINS)
        if n_parts <= 0:
            continue
        rows = p[start:stop, None]
        if pairing == "any":
            mask = other & (rows >= 0)
            key = rows * _BINS + bins
        else:
            mask = other & upper & (rows >= 0) & (rows == p[None, :])
            key = np.broadcast_to(rows, bins.shape) * _BINS + bins
        part_counts += np.bincount(key[mask], minlength=n_parts * _BINS)
    return global_counts, part_counts.reshape(max(n_parts, 0), _BINS)


def _levels(total: int) -> NDArray[np.float64]:
    """log10 FMR levels 0, −0.025, … down to the lowest the global pairs support."""
    if total < MIN_PAIRS_PER_POINT * 10:
        raise DatasetError(f"only {total} impostor pairs: too few to fit a curve")
    lowest = math.log10(MIN_PAIRS_PER_POINT / total)
    steps = math.floor(-lowest / LEVEL_STEP + 1e-9)
    return np.round(-LEVEL_STEP * np.arange(steps + 1), 6)


def _curve(counts: NDArray[np.int64], levels: NDArray[np.float64]) -> NDArray[np.float64]:
    """Similarity at each level (NaN where fewer than MIN_PAIRS pairs lie above it)."""
    total = int(counts.sum())
    out = np.full(len(levels), np.nan)
    if total == 0:
        return out
    at_or_above = np.cumsum(counts[::-1])[::-1].astype(np.float64)
    log_rate = np.log10(np.maximum(at_or_above, 0.5) / total)  # non-increasing in the edge
    ok = 10.0**levels * total >= MIN_PAIRS_PER_POINT
    if ok.any():
        out[ok] = np.maximum.accumulate(np.interp(-levels[ok], -log_rate, _EDGES))
    return out


def _part_curves(
    part_counts: NDArray[np.int64], levels: NDArray[np.float64], global_curve: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each part's curve; a part with too few impostor pairs to measure two levels keeps
    the global curve (its scores are left as they are)."""
    rows = []
    for part, counts in enumerate(part_counts):
        curve = _curve(counts, levels)
        if np.isfinite(curve).sum() < 2:
            log.warning(
                "part %d has %d impostor pairs: too few for its own curve, left unadjusted",
                part,
                int(counts.sum()),
            )
            curve = global_curve.copy()
        rows.append(curve)
    return np.stack(rows)


def _group_codes(groups: Sequence[str]) -> tuple[tuple[str, ...], NDArray[np.intp]]:
    labels = np.asarray([str(g) for g in groups])
    names = tuple(sorted(set(labels.tolist()) - {""}))
    if len(names) < 2:
        raise DatasetError(f"need at least two labelled groups, got {list(names)}")
    index = {g: i for i, g in enumerate(names)}
    return names, np.array([index.get(g, -1) for g in labels], dtype=np.intp)


def _unit(rows: NDArray[np.floating]) -> NDArray[np.float32]:
    out: NDArray[np.float32] = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(
        np.float32
    )
    return out


def fit_faircal(
    vectors: ArrayLike,
    identities: ArrayLike,
    *,
    model_id: str,
    clusters: int = 20,
    seed: int = 0,
    fitted_on: str = "",
) -> PartitionCalibration:
    """FairCal-style label-free calibration over ``clusters`` k-means parts."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if clusters < 2 or len(x) < clusters * 10:
        raise DatasetError(f"{len(x)} faces cannot support {clusters} clusters (≥ 10 each)")
    kmeans = faiss.Kmeans(x.shape[1], clusters, niter=25, seed=seed, spherical=True)
    kmeans.train(x)
    centroids = _unit(np.asarray(kmeans.centroids))
    parts = (x @ centroids.T).argmax(axis=1)
    global_counts, part_counts = impostor_histograms(
        x, identities, parts, n_parts=clusters, pairing="any"
    )
    levels = _levels(int(global_counts.sum()))
    global_curve = _curve(global_counts, levels)
    return PartitionCalibration(
        model_id=model_id,
        method=f"faircal-{clusters}",
        pairing="any",
        centroids=centroids,
        parts=tuple(str(i) for i in range(clusters)),
        levels=levels,
        global_similarity=global_curve,
        part_similarity=_part_curves(part_counts, levels, global_curve),
        fitted_on=fitted_on,
    )


def fit_group_thresholds(
    vectors: ArrayLike,
    identities: ArrayLike,
    groups: Sequence[str],
    *,
    model_id: str,
    fitted_on: str = "",
) -> PartitionCalibration:
    """Per-group curves from within-group impostor pairs (``groups``: one label per
    face, ``""`` for unknown); faces are assigned to groups by nearest centroid when
    matching."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    names, codes = _group_codes(groups)
    global_counts, part_counts = impostor_histograms(
        x, identities, codes, n_parts=len(names), pairing="same"
    )
    levels = _levels(int(global_counts.sum()))
    global_curve = _curve(global_counts, levels)
    centroids = _unit(np.stack([x[codes == i].mean(axis=0) for i in range(len(names))]))
    return PartitionCalibration(
        model_id=model_id,
        method="group-thresholds",
        pairing="same",
        centroids=centroids,
        parts=names,
        levels=levels,
        global_similarity=global_curve,
        part_similarity=_part_curves(part_counts, levels, global_curve),
        fitted_on=fitted_on,
    )


def fit_centroid_shift(
    vectors: ArrayLike,
    identities: ArrayLike,
    groups: Sequence[str],
    *,
    model_id: str,
    beta: float = 0.5,
    fitted_on: str = "",
) -> CentroidShift:
    """Group centroids from labelled faces; the shifted impostors' curve is fitted on
    all faces, each assigned to its nearest centroid (as at match time)."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    names, codes = _group_codes(groups)
    centroids = np.stack([x[codes == i].mean(axis=0) for i in range(len(names))])
    shell = CentroidShift(
        model_id=model_id,
        method=f"centroid-{beta:g}",
        beta=beta,
        centroids=centroids.astype(np.float32),
        groups=names,
        levels=np.array([0.0, -1.0]),
        global_similarity=np.array([-1.0, 0.0]),
        shifted_similarity=np.array([-1.0, 0.0]),
    )
    raw_counts, _ = impostor_histograms(x, identities)
    shifted_counts, _ = impostor_histograms(shell.transform(x), identities)
    levels = _levels(int(raw_counts.sum()))
    return CentroidShift(
        model_id=model_id,
        method=shell.method,
        beta=beta,
        centroids=shell.centroids,
        groups=names,
        levels=levels,
        global_similarity=_curve(raw_counts, levels),
        shifted_similarity=_curve(shifted_counts, levels),
        fitted_on=fitted_on,
    )
