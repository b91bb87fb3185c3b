"""Attribute-matched impersonation on synthetic embeddings with planted look-alikes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceprint.errors import ConfigError, DatasetError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.eval.audit.impersonation import age_band, attribute_impersonation, wilson_interval

D = 64


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _population(seed: int = 0, lookalikes: int = 30, others: int = 270) -> AuditSet:
    """``lookalikes`` young women who all look alike (cos ≈ 0.8 between them) among
    ``others`` random people: older men and women, 2 faces each."""
    rng = np.random.default_rng(seed)
    common = _unit(rng.normal(size=D))
    rows, persons, genders, ages = [], [], [], []
    for i in range(lookalikes + others):
        alike = i < lookalikes
        for _ in range(2):
            if alike:
                rows.append(common * 0.9 + _unit(rng.normal(size=D)) * 0.44)
            else:
                rows.append(rng.normal(size=D))
            persons.append(f"p{i:04d}")
            genders.append("female" if alike or i % 2 else "male")
            ages.append(24.0 if alike else 45.0 + (i % 20))
    return AuditSet(
        model_id="synthetic",
        paths=tuple(f"{p}/{p}_{j:04d}.jpg" for j, p in enumerate(persons)),
        persons=tuple(persons),
        vectors=_unit(np.array(rows)),
        gender=tuple(genders),
        age=np.asarray(ages, dtype=np.float32),
    )


def test_wilson_interval_matches_the_textbook_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    lo, hi = wilson_interval(90, 100)
    assert lo < 0.9 < hi and hi < 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_age_bands():
    ages = np.array([5, 19.9, 20, 29.9, 35, 59, 60, 90, np.nan], dtype=np.float32)
    assert age_band(ages).tolist() == [0, 0, 1, 1, 2, 4, 5, 5, -1]


def test_lookalikes_of_the_same_gender_and_age_get_in():
    audit = _population()
    report = attribute_impersonation(audit, {"t": 0.6}, attempts=20, seed=0)
    (result,) = report.results
    assert report.targets == 300
    # every look-alike is impersonated by its 29 peers (cos ≈ 0.8 ≥ 0.6); no one else
    assert result.matched_impersonated == 30
    # random attackers rarely draw a look-alike (60 of 598 faces, 20 draws): fewer hits
    assert result.random_impersonated < result.matched_impersonated
    assert result.matched_interval[0] < result.matched_rate < result.matched_interval[1]
    # look-alikes have only 29 peers × 2 faces = 58 matching faces: enough for 20
    assert report.short_targets == 0


def test_small_pools_are_used_whole_and_reported():
    audit = _population(lookalikes=5, others=40)
    report = attribute_impersonation(audit, {"t": 0.6}, attempts=100, seed=0)
    assert report.short_targets == report.targets  # no pool reaches 100 faces
    bands = age_band(audit.age)
    first = {p: i for i, p in reversed(list(enumerate(audit.persons)))}
    pools = [
        sum(
            1
            for j, q in enumerate(audit.persons)
            if q != p and audit.gender[j] == audit.gender[i] and bands[j] == bands[i]
        )
        for p, i in first.items()
    ]
    assert report.min_pool == min(pools)  # counted the slow way
    assert min(pools) <= 8  # a look-alike has 4 peers × 2 faces
    assert report.results[0].matched_impersonated == 5


def test_higher_thresholds_never_impersonate_more():
    audit = _population()
    report = attribute_impersonation(audit, {"a": 0.2, "b": 0.5, "c": 0.9}, attempts=50)
    matched = [r.matched_impersonated for r in report.results]
    randoms = [r.random_impersonated for r in report.results]
    assert matched == sorted(matched, reverse=True)
    assert randoms == sorted(randoms, reverse=True)
    assert matched[0] > matched[-1]


def test_seeded_and_sampled_targets():
    audit = _population()
    a = attribute_impersonation(audit, {"t": 0.3}, attempts=5, max_targets=50, seed=3)
    b = attribute_impersonation(audit, {"t": 0.3}, attempts=5, max_targets=50, seed=3)
    assert a == b
    assert a.targets == 50
    data = json.loads(json.dumps(a.to_dict()))
    assert data["results"][0]["targets"] == 50


def test_targets_without_attributes_are_skipped():
    base = _population(lookalikes=2, others=4)
    audit = AuditSet(
        base.model_id,
        base.paths,
        base.persons,
        base.vectors,
        ("unknown",) * 2 + base.gender[2:],
        base.age,
    )
    report = attribute_impersonation(audit, {"t": 0.5}, attempts=3)
    assert report.skipped_targets == 1
    assert report.targets == 5


@pytest.mark.parametrize(
    "kwargs",
    [{"thresholds": {}}, {"thresholds": {"x": 1.2}}, {"attempts": 0}, {"max_targets": 0}],
)
def test_bad_arguments(kwargs):
    options = {"thresholds": {"t": 0.5}, **kwargs}
    with pytest.raises(ConfigError):
        attribute_impersonation(_population(lookalikes=2, others=4), **options)


def test_one_identity_is_not_enough():
    audit = AuditSet("m", ("a/1.jpg", "a/2.jpg"), ("a", "a"), _unit(np.eye(2, D)),
                     ("male", "male"), np.array([30, 31], np.float32))  # fmt: skip
    with pytest.raises(DatasetError):
        attribute_impersonation(audit, {"t": 0.5})
