"""Demographic differentials of a verifier's errors (ISO/IEC 19795-10 terms).

Pure numpy, no models: given each comparison's score, whether it is mated, and the
demographic group it belongs to (a non-mated comparison belongs to a group when both
faces do, as NIST's demographic tests count it), these compute per group the false
match rate (FMR) and false non-match rate (FNMR) at one global threshold, and the
summary measures of how unequal they are:

- **max/geomean**: the worst group's rate over the geometric mean of all groups'
  (NIST FRVT's headline inequity measure; 1 is perfect equity);
- **max/min**: the worst over the best group;
- **GARBE** (Howard et al., 2022, "Evaluating proposed fairness models for face
  recognition algorithms"): α·Gini(FMR) + (1−α)·Gini(FNMR), each Gini coefficient
  with the small-sample correction n/(n−1); 0 is perfect equity, 1 the worst.

Intervals come from a bootstrap over comparisons within each group
(:func:`bootstrap_interval`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from faceprint.errors import UsageError

__all__ = [
    "GroupRates",
    "bootstrap_interval",
    "garbe",
    "gini",
    "group_rates",
    "max_over_geomean",
    "max_over_min",
]


@dataclass(frozen=True, slots=True)
class GroupRates:
    """One group's errors at a threshold.

    Attributes:
        group: the group's name.
        mated: mated comparisons counted; ``false_non_matches`` of them scored below
            the threshold.
        non_mated: non-mated comparisons within the group; ``false_matches`` of them
            scored at or above it.
    """

    group: str
    mated: int
    false_non_matches: int
    non_mated: int
    false_matches: int

    @property
    def fnmr(self) -> float:
        """False non-match rate (NaN without mated comparisons)."""
        return self.false_non_matches / self.mated if self.mated else math.nan

    @property
    def fmr(self) -> float:
        """False match rate (NaN without non-mated comparisons)."""
        return self.false_matches / self.non_mated if self.non_mated else math.nan


def group_rates(
    scores: ArrayLike, mated: ArrayLike, groups: Sequence[str], *, threshold: float
) -> list[GroupRates]:
    """Per group (in order of first appearance), FMR and FNMR at ``threshold``: a
    comparison matches when its score is ≥ the threshold.

    Raises:
        UsageError: the three inputs differ in length, or a score is not finite.
    """
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    m = np.asarray(mated, dtype=bool).reshape(-1)
    if not len(s) == len(m) == len(groups):
        raise UsageError(
            f"scores, mated and groups differ in length ({len(s)}, {len(m)}, {len(groups)})"
        )
    if not np.all(np.isfinite(s)):
        raise UsageError("every score must be finite")
    names = list(dict.fromkeys(groups))
    index = {name: i for i, name in enumerate(names)}
    g = np.fromiter((index[x] for x in groups), dtype=np.int64, count=len(groups))
    accept = s >= threshold
    out = []
    for i, name in enumerate(names):
        inside = g == i
        genuine, impostor = inside & m, inside & ~m
        out.append(
            GroupRates(
                group=name,
                mated=int(genuine.sum()),
                false_non_matches=int((genuine & ~accept).sum()),
                non_mated=int(impostor.sum()),
                false_matches=int((impostor & accept).sum()),
            )
        )
    return out


def _rates(values: ArrayLike) -> NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        raise UsageError("no group has a rate")
    if np.any(x < 0):
        raise UsageError("rates cannot be negative")
    return x


def max_over_geomean(values: ArrayLike) -> float:
    """The largest rate over the geometric mean of all (NaNs skipped). Infinite when a
    group's rate is 0 and another's is not (the geometric mean is then 0): report the
    counts, or bootstrap, rather than a ratio of zeros."""
    x = _rates(values)
    if np.all(x == 0):
        return 1.0
    if np.any(x == 0):
        return math.inf
    return float(x.max() / math.exp(float(np.mean(np.log(x)))))


def max_over_min(values: ArrayLike) -> float:
    """The largest rate over the smallest (NaNs skipped; infinite when the smallest is
    0 and the largest is not)."""
    x = _rates(values)
    if x.max() == 0:
        return 1.0
    return math.inf if x.min() == 0 else float(x.max() / x.min())


def gini(values: ArrayLike) -> float:
    """Gini coefficient with the n/(n−1) correction: 0 when every rate is equal, 1 when
    one group has all the errors (NaNs skipped; 0 for a single group or all zeros)."""
    x = _rates(values)
    n = len(x)
    if n < 2 or x.mean() == 0:
        return 0.0
    spread = float(np.abs(x[:, None] - x[None, :]).sum())
    return n / (n - 1) * spread / (2 * n * n * float(x.mean()))


def garbe(fmr: ArrayLike, fnmr: ArrayLike, *, alpha: float = 0.5) -> float:
    """GARBE: ``alpha``·Gini(FMR) + (1 − ``alpha``)·Gini(FNMR)."""
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"alpha must be in [0, 1], got {alpha}")
    return alpha * gini(fmr) + (1 - alpha) * gini(fnmr)


def bootstrap_interval(
    statistic: Callable[[NDArray[np.int64]], float],
    strata: ArrayLike,
    *,
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)``: each round resamples,
    with replacement and within each stratum (a group's mated and its non-mated
    comparisons, say), the indices of the comparisons; ``statistic`` recomputes from
    the resampled ones. Non-finite values of a round are kept, so an interval can be
    infinite when some rounds make a rate 0.

    Raises:
        UsageError: ``rounds`` < 10 or ``level`` not in (0, 1).
    """
    if rounds < 10:
        raise UsageError(f"need at least 10 bootstrap rounds, got {rounds}")
    if not 0.0 < level < 1.0:
        raise UsageError(f"level must be in (0, 1), got {level}")
    labels = np.asarray(strata).reshape(-1)
    members = [np.flatnonzero(labels == value) for value in np.unique(labels)]
    rng = np.random.default_rng(seed)
    values = np.empty(rounds, dtype=np.float64)
    for r in range(rounds):
        picked = [idx[rng.integers(0, len(idx), len(idx))] for idx in members]
        values[r] = statistic(np.concatenate(picked))
    values.sort()  # order statistics, not interpolation: rounds may be infinite
    tail = (1.0 - level) / 2.0
    low = values[math.floor(tail * (rounds - 1))]
    high = values[math.ceil((1.0 - tail) * (rounds - 1))]
    return float(low), float(high)
