"""Verification and identification metrics (pure numpy, no I/O).

Conventions used throughout:

* scores are similarities: higher means more alike;
* a comparison is declared "same" when ``score >= threshold``;
* labels are booleans (or 0/1): ``True`` for a genuine (same-person) pair;
* FAR / FMR is the fraction of impostor scores ``>= threshold``; TAR is the fraction of
  genuine scores ``>= threshold``.

Thresholds that must keep an error count at or below a budget are the smallest value
*of the scores' own dtype* that does so, so the same count is obtained whether a caller
compares in float32 or float64.

Invalid inputs (mismatched lengths, empty arrays, missing classes) raise ``ValueError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.floating]

# floor(rate · n) with a little slack, so that 10**-2 · 1e5 (= 999.999…) counts as 1000.
_FLOOR_SLACK = 1e-9


def budget(rate: float, n: int) -> int:
    """``floor(rate · n)``: how many of ``n`` impostor scores may lie at or above a threshold
    calibrated at ``rate`` (tolerant of floating-point noise in ``rate``)."""
    return math.floor(rate * n + _FLOOR_SLACK)


def _floats(values: ArrayLike, what: str) -> FloatArray:
    """A 1-D float array in the input's float dtype (float32/float64), else float64."""
    arr = np.asarray(values)
    if arr.dtype not in (np.float32, np.float64):
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    arr = arr.ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contain NaN or infinite values")
    return arr


def _labels(labels: ArrayLike) -> NDArray[np.bool_]:
    arr = np.asarray(labels).ravel()
    if arr.dtype == np.bool_:
        return arr
    if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
        raise ValueError("labels must be booleans or 0/1 (1 = same person)")
    return arr.astype(bool)


def _scores_labels(scores: ArrayLike, labels: ArrayLike) -> tuple[FloatArray, NDArray[np.bool_]]:
    s = _floats(scores, "scores")
    y = _labels(labels)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if s.size == 0:
        raise ValueError("no scores given")
    return s, y


def _both_classes(y: NDArray[np.bool_], what: str) -> tuple[int, int]:
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"{what} needs both genuine and impostor scores")
    return n_pos, n_neg


def threshold_above(desc: FloatArray, allowed: int) -> float:
    """The smallest threshold with at most ``allowed`` of ``desc`` at or above it.

    Args:
        desc: scores sorted in decreasing order, shape (n,), float32 or float64.
        allowed: how many scores may lie at or above the threshold, ``0 <= allowed < n``.

    Returns:
        The next value of ``desc``'s dtype above ``desc[allowed]`` (as a Python float).
    """
    value = np.nextafter(desc[allowed], np.array(np.inf, dtype=desc.dtype))
    return float(value)


def roc_curve(
    scores: ArrayLike, labels: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """False-accept and true-accept rates at every distinct threshold.

    Args:
        scores: (n,) similarities.
        labels: (n,) booleans, ``True`` for genuine pairs.

    Returns:
        ``(far, tar, thresholds)``, each of shape (m + 1,) for m distinct scores:
        ``thresholds`` decrease from ``+inf`` through every distinct score, and
        ``far[i]`` / ``tar[i]`` are the fractions of impostor / genuine scores
        ``>= thresholds[i]``; both rates start at 0 and end at 1.

    Raises:
        ValueError: lengths differ, inputs are empty or not finite, or one class is absent.
    """
    s, y = _scores_labels(scores, labels)
    n_pos, n_neg = _both_classes(y, "a ROC curve")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]
    tp = np.cumsum(y_sorted)[last_of_value]
    fp = (last_of_value + 1) - tp
    tar = np.r_[0.0, tp / n_pos]
    far = np.r_[0.0, fp / n_neg]
    thresholds = np.r_[np.inf, s_sorted[last_of_value].astype(np.float64)]
    return far, tar, thresholds


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve, from ranks (Mann-Whitney U).

    Equals the probability that a random genuine score exceeds a random impostor score,
    ties counting one half.

    Args:
        scores: (n,) similarities.
        labels: (n,) booleans, ``True`` for genuine pairs.

    Raises:
        ValueError: as in :func:`roc_curve`.
    """
    s, y = _scores_labels(scores, labels)
    n_pos, n_neg = _both_classes(y, "ROC AUC")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    below = np.cumsum(counts) - counts  # scores strictly below each distinct value
    mid_rank = below + (counts + 1) / 2.0  # 1-based average rank within a tie group
    rank_sum = float(mid_rank[inverse.ravel()][y].sum())
    u = rank_sum - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def tar_at_far(genuine: ArrayLike, impostor: ArrayLike, *, far: float) -> tuple[float, float]:
    """True-accept rate at a false-accept rate.

    The threshold is the smallest similarity ``t`` such that the number of impostor
    scores ``>= t`` is at most ``floor(far · n_impostor)``; when ``far · n_impostor < 1``
    that is just above the highest impostor score.

    Args:
        genuine: (g,) similarities of same-person pairs.
        impostor: (i,) similarities of different-person pairs.
        far: target false-accept rate in (0, 1).

    Returns:
        ``(tar, threshold)``: the fraction of genuine scores ``>= threshold``, and the
        threshold itself.

    Raises:
        ValueError: an input is empty or not finite, or ``far`` is not in (0, 1).
    """
    if not 0.0 < far < 1.0:
        raise ValueError(f"far must be in (0, 1), got {far}")
    gen = _floats(genuine, "genuine scores")
    imp = _floats(impostor, "impostor scores")
    if gen.size == 0 or imp.size == 0:
        raise ValueError("tar_at_far needs genuine and impostor scores")
    desc = np.sort(imp)[::-1]
    threshold = threshold_above(desc, min(budget(far, desc.size), desc.size - 1))
    return float(np.mean(gen >= threshold)), threshold


def best_threshold(scores: ArrayLike, labels: ArrayLike) -> float:
    """The threshold that maximises accuracy on ``(scores, labels)``.

    Candidates are the midpoints between consecutive distinct scores plus the two
    extremes (the lowest score, accepting everything, and the next float above the
    highest, rejecting everything). On a tie the lowest candidate wins.

    Args:
        scores: (n,) similarities.
        labels: (n,) booleans, ``True`` for genuine pairs.

    Returns:
        The threshold (``score >= threshold`` means "same").

    Raises:
        ValueError: lengths differ, or inputs are empty or not finite.
    """
    s, y = _scores_labels(scores, labels)
    values = np.unique(s).astype(np.float64)
    candidates = np.r_[
        values[0], (values[1:] + values[:-1]) / 2.0, np.nextafter(values[-1], np.inf)
    ]
    order = np.argsort(s, kind="stable")
    s_sorted = s[order].astype(np.float64)
    genuine_below = np.r_[0, np.cumsum(y[order])]
    # scores below candidate c: rejected; correct if impostor. At or above: accepted.
    idx = np.searchsorted(s_sorted, candidates, side="left")
    pos_below = genuine_below[idx]
    neg_below = idx - pos_below
    correct = (int(y.sum()) - pos_below) + neg_below
    return float(candidates[int(np.argmax(correct))])


@dataclass(frozen=True, slots=True)
class KFoldResult:
    """Accuracy with the threshold cross-validated over folds.

    ``mean`` and ``std`` (population standard deviation, ``np.std``, as reported in the
    LFW literature) are over ``per_fold``; ``per_fold[i]`` is the accuracy on the i-th
    fold (folds in sorted order of their ids) at ``thresholds[i]``, which was chosen on
    the other folds.
    """

    mean: float
    std: float
    per_fold: tuple[float, ...]
    thresholds: tuple[float, ...]


def kfold_accuracy(scores: ArrayLike, labels: ArrayLike, folds: ArrayLike) -> KFoldResult:
    """For each fold, choose the threshold on the other folds and measure accuracy on it.

    Args:
        scores: (n,) similarities.
        labels: (n,) booleans, ``True`` for genuine pairs.
        folds: (n,) fold ids (any sortable labels), at least two distinct.

    Returns:
        A :class:`KFoldResult`; thresholds come from :func:`best_threshold`.

    Raises:
        ValueError: lengths differ, inputs are empty, or there is only one fold.
    """
    s, y = _scores_labels(scores, labels)
    f = np.asarray(folds).ravel()
    if f.shape != s.shape:
        raise ValueError(f"folds must have one entry per score: {f.size} vs {s.size}")
    fold_ids = np.unique(f)
    if fold_ids.size < 2:
        raise ValueError("k-fold accuracy needs at least two folds")
    accuracies: list[float] = []
    thresholds: list[float] = []
    for fold in fold_ids:
        test = f == fold
        t = best_threshold(s[~test], y[~test])
        accuracies.append(float(np.mean((s[test] >= t) == y[test])))
        thresholds.append(t)
    return KFoldResult(
        mean=float(np.mean(accuracies)),
        std=float(np.std(accuracies)),
        per_fold=tuple(accuracies),
        thresholds=tuple(thresholds),
    )


@dataclass(frozen=True, slots=True)
class OpenSetResult:
    """Open-set 1:N identification figures.

    * ``rank1``: closed-set rank-1 accuracy of the mated probes;
    * ``threshold``: similarity threshold chosen on the non-mated probes;
    * ``fpir``: measured false-positive identification rate at ``threshold`` (at most
      ``target_fpir``; lower when the non-mated probes are too few to resolve it);
    * ``fnir``: false-negative identification rate of the mated probes at ``threshold``;
    * ``mated`` / ``nonmated`` / ``gallery``: the number of probes and templates.
    """

    rank1: float
    threshold: float
    fpir: float
    fnir: float
    mated: int
    nonmated: int
    gallery: int
    target_fpir: float


def _matrix(values: NDArray[np.floating], what: str) -> NDArray[np.float32]:
    arr = np.asarray(values, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{what} must be a non-empty N×D matrix, got shape {arr.shape}")
    return arr


def _best_matches(
    probes: NDArray[np.float32], gallery: NDArray[np.float32], *, block: int = 4096
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """Index and similarity of each probe's best gallery row, in blocks of probes."""
    best = np.empty(len(probes), dtype=np.intp)
    score = np.empty(len(probes), dtype=np.float32)
    for start in range(0, len(probes), block):
        sims = probes[start : start + block] @ gallery.T
        idx = sims.argmax(axis=1)
        best[start : start + block] = idx
        score[start : start + block] = sims[np.arange(len(idx)), idx]
    return best, score


def open_set_identification(
    gallery: NDArray[np.floating],
    gallery_labels: ArrayLike,
    mated_probes: NDArray[np.floating],
    mated_labels: ArrayLike,
    nonmated_probes: NDArray[np.floating],
    *,
    fpir: float = 0.01,
) -> OpenSetResult:
    """Rank-1 accuracy, and FNIR at the threshold where the FPIR is ``fpir``.

    Similarity is the dot product, so rows should be unit-norm (cosine similarity).

    * rank-1: fraction of mated probes whose best gallery template has their label;
    * threshold: the smallest similarity ``t`` such that at most ``floor(fpir · n)`` of
      the ``n`` non-mated probes have a best gallery score ``>= t``;
    * FNIR: fraction of mated probes that are *not* identified, i.e. whose rank-1
      template has another label or scores below ``t``.

    Args:
        gallery: (G, D) template embeddings.
        gallery_labels: (G,) identity of each template (ints or strings).
        mated_probes: (M, D) probes whose identity is enrolled.
        mated_labels: (M,) identity of each mated probe; every one must be in the gallery.
        nonmated_probes: (U, D) probes of people who are not enrolled.
        fpir: target false-positive identification rate in (0, 1).

    Raises:
        ValueError: shapes or lengths disagree, an input is empty, ``fpir`` is not in
            (0, 1), or a mated label is not in the gallery.
    """
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"fpir must be in (0, 1), got {fpir}")
    g = _matrix(gallery, "gallery")
    mp = _matrix(mated_probes, "mated probes")
    nm = _matrix(nonmated_probes, "non-mated probes")
    if not g.shape[1] == mp.shape[1] == nm.shape[1]:
        raise ValueError(
            f"embedding dimensions differ: gallery {g.shape[1]}, mated {mp.shape[1]}, "
            f"non-mated {nm.shape[1]}"
        )
    gl = np.asarray(gallery_labels).ravel()
    ml = np.asarray(mated_labels).ravel()
    if len(gl) != len(g) or len(ml) != len(mp):
        raise ValueError("need one label per gallery template and per mated probe")
    unknown = np.setdiff1d(ml, gl)
    if unknown.size:
        shown = ", ".join(str(v) for v in unknown[:5])
        raise ValueError(
            f"{unknown.size} mated label(s) are not in the gallery ({shown}); "
            "treat those probes as non-mated or drop them"
        )
    best, best_score = _best_matches(mp, g)
    correct = gl[best] == ml
    _, nonmated_score = _best_matches(nm, g)
    desc = np.sort(nonmated_score)[::-1]
    threshold = threshold_above(desc, min(budget(fpir, desc.size), desc.size - 1))
    identified = correct & (best_score >= threshold)
    return OpenSetResult(
        rank1=float(np.mean(correct)),
        threshold=threshold,
        fpir=float(np.mean(nonmated_score >= threshold)),
        fnir=float(1.0 - np.mean(identified)),
        mated=len(mp),
        nonmated=len(nm),
        gallery=len(g),
        target_fpir=float(fpir),
    )
