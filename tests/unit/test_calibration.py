"""Calibration curves: pair enumeration, fitting, interpolation, FPIR, serialisation."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest

from faceprint.core.calibration import (
    DEFAULT_FMR_GRID,
    CalibrationCurve,
    fit_calibration,
    genuine_similarities,
    impostor_similarities,
)
from faceprint.errors import CalibrationError

# A hand-made curve: 1e-1 -> 0.2, 1e-2 -> 0.3, 1e-3 -> 0.5
CURVE = CalibrationCurve(
    fmr=(1e-1, 1e-2, 1e-3), similarity=(0.2, 0.3, 0.5), dataset="hand-made", impostor_pairs=10**4
)


def unit_rows(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, d)).astype(np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def brute_force_pairs(emb: np.ndarray, ids: list[str], *, same: bool) -> list[float]:
    out = []
    for i in range(len(emb)):
        for j in range(i + 1, len(emb)):
            if (ids[i] == ids[j]) == same:
                out.append(float(np.dot(emb[i], emb[j])))
    return out


# --- pair enumeration --------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 4, 7, 2048])
def test_pair_similarities_match_a_double_loop(block):
    emb = unit_rows(23, 5, seed=1)
    rng = np.random.default_rng(2)
    ids = [f"p{k}" for k in rng.integers(0, 6, 23)]
    imp = impostor_similarities(emb, ids, block=block)
    gen = genuine_similarities(emb, ids, block=block)
    assert imp.dtype == np.float32 and gen.dtype == np.float32
    np.testing.assert_allclose(imp, brute_force_pairs(emb, ids, same=False), atol=1e-6)
    np.testing.assert_allclose(gen, brute_force_pairs(emb, ids, same=True), atol=1e-6)
    assert len(imp) + len(gen) == 23 * 22 // 2


def test_pair_counts_on_known_identities():
    emb = unit_rows(6, 3, seed=3)
    ids = np.array([5, 5, 5, 9, 9, 1])  # 3 + 1 genuine pairs of 15
    assert len(genuine_similarities(emb, ids)) == 4
    assert len(impostor_similarities(emb, ids)) == 11


def test_pair_similarities_of_tiny_sets_are_empty():
    assert len(impostor_similarities(unit_rows(1, 4, 0), ["a"])) == 0
    assert len(genuine_similarities(np.zeros((0, 4), np.float32), [])) == 0


@pytest.mark.parametrize(
    ("emb", "ids", "block"),
    [
        (np.ones(4, np.float32), [0, 1, 2, 3], 8),  # not 2-D
        (np.ones((3, 2), np.float32), [0, 1], 8),  # lengths differ
        (np.ones((3, 2), np.float32), [0, 1, 2], 0),  # block < 1
    ],
)
def test_pair_similarities_reject_bad_input(emb, ids, block):
    with pytest.raises(ValueError):
        impostor_similarities(emb, ids, block=block)


# --- fitting -----------------------------------------------------------------------


def test_fit_on_a_uniform_grid_puts_exactly_floor_fn_pairs_above_each_threshold():
    n = 100_000
    impostor = np.arange(n) / n
    curve = fit_calibration(impostor, dataset="uniform")
    # 10 pairs per point: FMR >= 1e-4, i.e. 1e-1 … 1e-4 in steps of 10**-0.2
    assert len(curve.fmr) == 16
    assert curve.fmr[0] == pytest.approx(1e-1) and curve.fmr[-1] == pytest.approx(1e-4)
    assert curve.impostor_pairs == n and curve.genuine_pairs == 0 and curve.tar == ()
    for f, t in zip(curve.fmr, curve.similarity, strict=True):
        assert int(np.sum(impostor >= t)) == math.floor(f * n + 1e-9)
        assert f * n >= 10
    # 1e-2: k = 1000, midway between 0.99 and 0.98999
    assert curve.threshold_for_fmr(1e-2) == pytest.approx(0.989995)
    assert all(b > a for a, b in zip(curve.similarity, curve.similarity[1:], strict=False))


def test_fit_drops_points_resting_on_fewer_than_ten_pairs():
    curve = fit_calibration(np.linspace(-1, 1, 1000), dataset="small")
    assert len(curve.fmr) == 6  # 1e-1 … 1e-2
    assert curve.fmr[-1] == pytest.approx(1e-2)
    assert min(curve.fmr) * 1000 >= 10 - 1e-9


def test_fit_reports_tar_on_genuine_pairs():
    rng = np.random.default_rng(5)
    impostor = rng.normal(0.0, 0.1, 50_000).astype(np.float32)
    genuine = rng.normal(0.4, 0.1, 2_000).astype(np.float32)
    curve = fit_calibration(impostor, dataset="normal", genuine=genuine)
    assert curve.genuine_pairs == 2000 and len(curve.tar) == len(curve.fmr)
    for t, tar in zip(curve.similarity, curve.tar, strict=True):
        assert tar == pytest.approx(np.mean(genuine >= t))
    assert curve.tar[0] > curve.tar[-1]
    # FMR 1e-3 of N(0, 0.1) is 0.309 (normal upper quantile 3.09 σ)
    assert curve.threshold_for_fmr(1e-3) == pytest.approx(0.309, abs=0.01)


def test_fit_with_an_explicit_grid_sorts_it():
    curve = fit_calibration(np.arange(1000) / 1000, dataset="x", fmr_grid=[0.01, 0.1, 0.05])
    assert curve.fmr == pytest.approx((0.1, 0.05, 0.01))
    assert curve.similarity == pytest.approx((0.8995, 0.9495, 0.9895))


def test_fit_with_tied_scores_puts_the_threshold_above_the_tie():
    curve = fit_calibration(np.full(1000, 0.5, np.float32), dataset="ties")
    assert set(curve.similarity) == {float(np.nextafter(np.float32(0.5), np.float32(1)))}
    assert curve.fmr_at(0.9) == pytest.approx(1e-2)  # above: the smallest FMR, a bound


@pytest.mark.parametrize(
    ("impostor", "grid"),
    [
        (np.zeros(50), None),  # 0.1 · 50 = 5 pairs < 10
        (np.zeros(1000), [1e-3]),  # 1 pair
        (np.zeros(1000), [1.5]),  # not a rate
        (np.array([0.1, np.nan] * 100), None),  # not finite
    ],
)
def test_fit_refuses_unsupported_calibrations(impostor, grid):
    with pytest.raises(CalibrationError):
        fit_calibration(impostor, dataset="x", fmr_grid=grid)


def test_default_grid_is_26_points_from_1e1_to_1e6():
    assert len(DEFAULT_FMR_GRID) == 26
    assert DEFAULT_FMR_GRID[0] == pytest.approx(1e-1)
    assert DEFAULT_FMR_GRID[-1] == pytest.approx(1e-6)


# --- interpolation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmr", "similarity"),
    [
        (1e-1, 0.2),
        (10**-1.5, 0.25),
        (1e-2, 0.3),
        (10**-2.5, 0.4),
        (10**-2.75, 0.45),
        (1e-3, 0.5),
    ],
)
def test_threshold_for_fmr_and_fmr_at_are_log_linear_inverses(fmr, similarity):
    assert CURVE.threshold_for_fmr(fmr) == pytest.approx(similarity)
    assert CURVE.fmr_at(similarity) == pytest.approx(fmr)


def test_round_trip_on_a_fitted_curve():
    rng = np.random.default_rng(9)
    curve = fit_calibration(rng.normal(0, 0.1, 200_000), dataset="normal")
    for f in np.logspace(-1, math.log10(curve.fmr[-1]), 37):
        assert curve.fmr_at(curve.threshold_for_fmr(f)) == pytest.approx(f, rel=1e-9)


@pytest.mark.parametrize(("similarity", "bound"), [(-1.0, 1e-1), (0.1, 1e-1), (0.9, 1e-3)])
def test_fmr_at_outside_the_curve_returns_bounds(similarity, bound):
    assert CURVE.fmr_at(similarity) == pytest.approx(bound)


@pytest.mark.parametrize("fmr", [1e-4, 0.2, 0.0, -1.0, float("nan")])
def test_threshold_for_fmr_outside_the_range_names_the_range(fmr):
    with pytest.raises(CalibrationError, match=r"\[0\.001, 0\.1\]"):
        CURVE.threshold_for_fmr(fmr)


def test_fmr_at_rejects_nan():
    with pytest.raises(CalibrationError):
        CURVE.fmr_at(float("nan"))


def test_fmr_at_with_a_flat_stretch_returns_the_larger_fmr():
    flat = CalibrationCurve(
        fmr=(1e-1, 1e-2, 1e-3), similarity=(0.2, 0.4, 0.4), dataset="x", impostor_pairs=10**4
    )
    assert flat.fmr_at(0.4) == pytest.approx(1e-2)
    assert flat.fmr_at(0.4000001) == pytest.approx(1e-3)
    assert flat.fmr_at(0.3) == pytest.approx(10**-1.5)


def test_fmr_at_interpolates_from_the_low_end_of_a_flat_stretch():
    flat = CalibrationCurve(
        fmr=(1e-1, 1e-2, 1e-3, 1e-4),
        similarity=(0.2, 0.2, 0.4, 0.6),
        dataset="x",
        impostor_pairs=10**5,
    )
    assert flat.fmr_at(0.2) == pytest.approx(1e-1)
    assert flat.fmr_at(0.3) == pytest.approx(10**-2.5)  # between (0.2, 1e-2) and (0.4, 1e-3)


# --- FPIR --------------------------------------------------------------------------


def test_threshold_for_fpir_known_numbers():
    # N = 10, FPIR 1 %: FMR = 1 - 0.99 ** 0.1 = 0.00100453...
    threshold, fmr = CURVE.threshold_for_fpir(0.01, 10)
    assert fmr == pytest.approx(1 - 0.99**0.1, rel=1e-12)
    assert fmr == pytest.approx(0.00100452871, rel=1e-8)
    assert threshold == pytest.approx(0.3 + 0.2 * (-math.log10(fmr) - 2))
    # N = 1: FMR = FPIR
    threshold, fmr = CURVE.threshold_for_fpir(0.01, 1)
    assert fmr == pytest.approx(0.01) and threshold == pytest.approx(0.3)


def test_threshold_for_fpir_clamps_above_the_range_to_the_largest_fmr():
    threshold, fmr = CURVE.threshold_for_fpir(0.5, 1)
    assert fmr == pytest.approx(0.1) and threshold == pytest.approx(0.2)


def test_threshold_for_fpir_grows_with_the_gallery():
    small, _ = CURVE.threshold_for_fpir(0.05, 2)
    large, _ = CURVE.threshold_for_fpir(0.05, 40)
    assert large > small


@pytest.mark.parametrize(
    ("fpir", "gallery_size", "message"),
    [
        (0.01, 100, "too large"),  # FMR 1e-4 < 1e-3
        (0.01, 0, "at least 1"),
        (0.01, -5, "at least 1"),
        (0.0, 10, r"\(0, 1\)"),
        (1.0, 10, r"\(0, 1\)"),
    ],
)
def test_threshold_for_fpir_errors(fpir, gallery_size, message):
    with pytest.raises(CalibrationError, match=message):
        CURVE.threshold_for_fpir(fpir, gallery_size)


# --- validation and serialisation --------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fmr": (), "similarity": ()},
        {"fmr": (1e-1, 1e-2), "similarity": (0.2,)},
        {"fmr": (1e-2, 1e-1), "similarity": (0.2, 0.3)},  # FMR not decreasing
        {"fmr": (1e-1, 1e-2), "similarity": (0.3, 0.2)},  # threshold decreasing
        {"fmr": (2.0, 1e-2), "similarity": (0.2, 0.3)},  # not a rate
        {"fmr": (1e-1, 1e-2), "similarity": (0.2, float("inf"))},
        {"fmr": (1e-1, 1e-2), "similarity": (0.2, 0.3), "tar": (0.9,)},
    ],
)
def test_inconsistent_curves_are_refused(kwargs):
    with pytest.raises(CalibrationError):
        CalibrationCurve(dataset="x", impostor_pairs=100, **kwargs)


def test_to_dict_round_trips_through_json_and_toml():
    curve = fit_calibration(
        np.arange(100_000) / 100_000, dataset='LFW "view 2"', genuine=np.linspace(0.5, 1, 10)
    )
    data = curve.to_dict()
    assert set(data) == {"dataset", "impostor_pairs", "genuine_pairs", "fmr", "similarity", "tar"}
    assert all(isinstance(v, float) for v in data["fmr"] + data["similarity"] + data["tar"])
    assert CalibrationCurve.from_dict(json.loads(json.dumps(data))) == curve
    toml_text = "\n".join(
        f"{key} = {json.dumps(value)}" for key, value in data.items()
    )  # JSON scalars and arrays of floats are valid TOML
    assert CalibrationCurve.from_dict(tomllib.loads(toml_text)) == curve


def test_from_dict_fills_optional_fields():
    curve = CalibrationCurve.from_dict(
        {"dataset": "x", "impostor_pairs": 10, "fmr": [0.1, 0.01], "similarity": [0.1, 0.2]}
    )
    assert curve.genuine_pairs == 0 and curve.tar == ()


@pytest.mark.parametrize(
    "data",
    [
        {"dataset": "x", "impostor_pairs": 10, "fmr": [0.1]},  # no similarity
        {"dataset": "x", "impostor_pairs": "many", "fmr": [0.1], "similarity": [0.1]},
        {"dataset": "x", "impostor_pairs": 10, "fmr": 0.1, "similarity": [0.1]},
        {"dataset": "x", "impostor_pairs": 10, "fmr": [0.1, 0.2], "similarity": [0.1, 0.2]},
    ],
)
def test_from_dict_rejects_malformed_data(data):
    with pytest.raises(CalibrationError):
        CalibrationCurve.from_dict(data)
