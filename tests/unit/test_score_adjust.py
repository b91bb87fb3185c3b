"""Score adjusters (core.score_adjust) on hand-made curves with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceprint.core.score_adjust import (
    CentroidShift,
    PartitionCalibration,
    adjuster_from_dict,
)
from faceprint.errors import ConfigError

LEVELS = -np.linspace(0.0, 6.0, 61)  # log10 FMR 1 … 1e-6
GLOBAL = 0.1 - 0.05 * LEVELS  # similarity 0.1 at FMR 1, 0.4 at FMR 1e-6 (linear in log FMR)


def _two_parts(pairing: str, shift: float = 0.05) -> PartitionCalibration:
    return PartitionCalibration(
        model_id="m",
        method="test",
        pairing=pairing,  # type: ignore[arg-type]
        centroids=np.eye(2, dtype=np.float32),
        parts=("a", "b"),
        levels=LEVELS,
        global_similarity=GLOBAL,
        part_similarity=np.stack([GLOBAL + shift, GLOBAL - shift]),
    )


A = np.array([[1.0, 0.0]], dtype=np.float32)  # in part a
B = np.array([[0.0, 1.0]], dtype=np.float32)  # in part b


def test_same_part_pairs_move_by_the_parts_offset_and_cross_pairs_stay() -> None:
    cal = _two_parts("same")
    # A part whose impostors score 0.05 higher is judged 0.05 lower (inside its range).
    assert cal._adjust(np.array([0.3]), np.array([0]), np.array([0]))[0] == pytest.approx(0.25)
    assert cal._adjust(np.array([0.3]), np.array([1]), np.array([1]))[0] == pytest.approx(0.35)
    assert cal._adjust(np.array([0.3]), np.array([0]), np.array([1]))[0] == pytest.approx(0.3)


def test_any_pairing_averages_log_fmr_of_the_two_parts() -> None:
    cal = _two_parts("any")
    # log-FMRs of a (+0.05) and b (−0.05) average back to the global curve: unchanged.
    assert cal._adjust(np.array([0.3]), np.array([0]), np.array([1]))[0] == pytest.approx(0.3)
    assert cal._adjust(np.array([0.3]), np.array([0]), np.array([0]))[0] == pytest.approx(0.25)


def test_beyond_the_measured_range_the_last_offset_is_kept_and_order_preserved() -> None:
    cal = _two_parts("same")
    raw = np.linspace(-0.5, 1.0, 301)
    out = cal._adjust(raw, np.zeros(301, np.intp), np.zeros(301, np.intp))
    assert np.all(np.diff(out) >= -1e-12)
    assert out[-1] == pytest.approx(1.0 - 0.05)  # 0.95: same offset as inside the range


def test_pair_and_matrix_scores_agree_and_assign_by_nearest_centroid() -> None:
    cal = _two_parts("same")
    probes = np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    assert cal.assign(probes).tolist() == [0, 1]
    matrix = cal.scores(probes, probes)
    pairs = cal.pair_scores(probes, probes[::-1])
    assert pairs[0] == pytest.approx(matrix[0, 1]) and pairs[1] == pytest.approx(matrix[1, 0])


def test_round_trip_through_json_gives_the_same_scores() -> None:
    cal = _two_parts("any")
    cal_nan = PartitionCalibration(
        **{**cal.__dict__, "part_similarity": np.where(LEVELS < -5, np.nan, cal.part_similarity)}
    )
    for adjuster in (cal, cal_nan):
        again = adjuster_from_dict(json.loads(json.dumps(adjuster.to_dict())))
        x = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        assert np.allclose(again.scores(x, x), adjuster.scores(x, x), atol=1e-6)


def test_centroid_shift_with_beta_zero_and_equal_curves_is_the_identity() -> None:
    shift = CentroidShift(
        model_id="m",
        method="centroid-0",
        beta=0.0,
        centroids=np.array([[0.3, 0.0], [0.0, 0.3]], dtype=np.float32),
        groups=("a", "b"),
        levels=LEVELS,
        global_similarity=GLOBAL,
        shifted_similarity=GLOBAL,
    )
    x = np.array([[0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    assert shift.scores(x, x)[0, 1] == pytest.approx(0.6, abs=1e-6)
    moved = CentroidShift(**{**shift.__dict__, "beta": 1.0})
    y = moved.transform(x)
    assert np.allclose(np.linalg.norm(y, axis=1), 1.0)
    assert moved.assign(x).tolist() == [1, 0]
    assert adjuster_from_dict(json.loads(json.dumps(moved.to_dict()))).beta == 1.0


def test_malformed_adjusters_are_refused() -> None:
    with pytest.raises(ConfigError, match="not a faceprint score adjuster"):
        adjuster_from_dict({"format": "other"})
    with pytest.raises(ConfigError, match="unknown score adjuster kind"):
        adjuster_from_dict({"format": "faceprint-score-adjuster/1", "kind": "magic"})
    broken = _two_parts("same").to_dict()
    del broken["levels"]
    with pytest.raises(ConfigError, match="malformed"):
        adjuster_from_dict(broken)
    with pytest.raises(ConfigError, match="pairing"):
        _two_parts("sometimes")
    with pytest.raises(ConfigError, match="dimension"):
        _two_parts("same").scores(np.ones((1, 3)), np.ones((1, 3)))
