"""Fairness measures on small tables with known answers (pure code, no weights)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceprint.core.fairness import (
    bootstrap_interval,
    garbe,
    gini,
    group_rates,
    max_over_geomean,
    max_over_min,
)
from faceprint.errors import UsageError


def test_group_rates_count_each_groups_errors_at_one_threshold() -> None:
    #        group a: 3 mated (1 below 0.5), 4 non-mated (1 at/above 0.5)
    #        group b: 2 mated (0 below),     2 non-mated (2 above)
    scores = [0.9, 0.4, 0.7, 0.1, 0.5, 0.2, 0.3, 0.8, 0.6, 0.55, 0.95]
    mated = [1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0]
    groups = ["a", "a", "a", "a", "a", "a", "a", "b", "b", "b", "b"]
    a, b = group_rates(scores, mated, groups, threshold=0.5)
    assert (a.group, a.mated, a.false_non_matches, a.non_mated, a.false_matches) == (
        "a",
        3,
        1,
        4,
        1,
    )
    assert a.fnmr == pytest.approx(1 / 3) and a.fmr == pytest.approx(1 / 4)
    assert (b.fnmr, b.fmr) == (0.0, 1.0)


def test_a_group_without_comparisons_of_a_kind_has_no_rate() -> None:
    (only,) = group_rates([0.9, 0.8], [1, 1], ["x", "x"], threshold=0.5)
    assert only.fnmr == 0.0 and math.isnan(only.fmr)


def test_group_rates_refuse_inconsistent_inputs() -> None:
    with pytest.raises(UsageError):
        group_rates([0.1, 0.2], [1], ["a", "a"], threshold=0.5)
    with pytest.raises(UsageError):
        group_rates([np.nan], [1], ["a"], threshold=0.5)


def test_max_over_geomean_and_max_over_min() -> None:
    rates = [1e-4, 4e-4, 1.6e-3]  # geometric mean 4e-4
    assert max_over_geomean(rates) == pytest.approx(4.0)
    assert max_over_min(rates) == pytest.approx(16.0)
    assert max_over_geomean([2e-3, 2e-3]) == pytest.approx(1.0)
    assert max_over_geomean([0.0, 0.0]) == 1.0 and max_over_min([0.0, 0.0]) == 1.0
    assert max_over_geomean([0.0, 1e-3]) == math.inf
    assert max_over_min([0.0, 1e-3]) == math.inf
    assert max_over_geomean([1e-3, math.nan, 4e-3]) == pytest.approx(2.0)  # NaN skipped


def test_gini_and_garbe() -> None:
    assert gini([0.3, 0.3, 0.3]) == 0.0
    assert gini([0.0, 0.0, 1.0]) == pytest.approx(1.0)  # one group has every error
    # two groups 1 and 3: Σ|xi−xj| = 4, n = 2, mean 2 → 2/1 · 4 / (2·4·2) = 0.5
    assert gini([1.0, 3.0]) == pytest.approx(0.5)
    assert garbe([1.0, 3.0], [0.3, 0.3]) == pytest.approx(0.25)
    assert garbe([1.0, 3.0], [0.3, 0.3], alpha=1.0) == pytest.approx(0.5)
    with pytest.raises(UsageError):
        garbe([1.0], [1.0], alpha=2.0)


def test_bootstrap_interval_covers_a_known_rate() -> None:
    rng = np.random.default_rng(1)
    errors = (rng.random(4000) < 0.1).astype(float)  # a rate of 0.1
    low, high = bootstrap_interval(lambda idx: float(errors[idx].mean()), np.zeros(4000))
    assert low < 0.1 < high and high - low < 0.025  # ≈ ±1.96·√(0.09/4000) = ±0.0093
    same = bootstrap_interval(lambda idx: float(errors[idx].mean()), np.zeros(4000))
    assert same == (low, high)  # seeded


def test_bootstrap_resamples_within_strata_and_keeps_infinities() -> None:
    strata = np.array([0] * 5 + [1] * 5)
    sizes = bootstrap_interval(lambda idx: float(np.sum(idx < 5)), strata, rounds=50)
    assert sizes == (5.0, 5.0)  # each stratum keeps its size
    values = np.array([0.0] * 9 + [1.0])
    low, high = bootstrap_interval(
        lambda idx: 1.0 / values[idx].mean() if values[idx].mean() else math.inf,
        np.zeros(10),
        rounds=200,
    )
    assert high == math.inf and math.isfinite(low)
    with pytest.raises(UsageError):
        bootstrap_interval(lambda idx: 0.0, strata, rounds=5)
