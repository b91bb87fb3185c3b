"""Threshold selection from calibration curves."""

from __future__ import annotations

import pytest

from faceprint.core.thresholds import identification_threshold, verification_threshold
from faceprint.errors import CalibrationError
from faceprint.testing import fake_calibration

CURVE = fake_calibration(dimension=64)


def test_default_verification_threshold_is_fmr_1e3():
    t = verification_threshold(CURVE)
    assert t.source == "fmr" and t.fmr == pytest.approx(1e-3)
    assert t.similarity == pytest.approx(CURVE.threshold_for_fmr(1e-3))
    # N(0, 1/64) upper 1e-3 quantile = 3.0902 / 8
    assert t.similarity == pytest.approx(3.0902 / 8, abs=2e-3)


def test_explicit_similarity_reports_its_fmr():
    t = verification_threshold(CURVE, similarity=0.5)
    assert t.source == "user" and t.similarity == 0.5
    assert t.fmr is not None and t.fmr < 1e-3


def test_stricter_fmr_means_higher_threshold():
    loose = verification_threshold(CURVE, fmr=1e-2).similarity
    strict = verification_threshold(CURVE, fmr=1e-5).similarity
    assert strict > loose


def test_identification_threshold_grows_with_gallery_size():
    small = identification_threshold(CURVE, gallery_size=10)
    large = identification_threshold(CURVE, gallery_size=10_000)
    assert small.source == large.source == "fpir"
    assert small.fpir == large.fpir == pytest.approx(0.01)
    assert large.similarity > small.similarity
    # per-comparison FMR = 1 - (1 - FPIR)^(1/N)
    assert small.fmr == pytest.approx(1 - 0.99 ** (1 / 10))
    assert large.gallery_size == 10_000


def test_identification_with_explicit_threshold_estimates_fpir():
    t = identification_threshold(CURVE, gallery_size=100, similarity=0.4)
    assert t.source == "user" and t.fmr is not None and t.fpir is not None
    assert t.fpir == pytest.approx(1 - (1 - t.fmr) ** 100)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"similarity": 0.3, "fmr": 1e-3},
        {"similarity": 1.5},
        {"fmr": 0.0},
        {"fmr": 2.0},
    ],
)
def test_bad_verification_arguments(kwargs):
    with pytest.raises(ValueError):
        verification_threshold(CURVE, **kwargs)


def test_uncalibrated_model_needs_explicit_threshold():
    with pytest.raises(CalibrationError, match="no calibration"):
        verification_threshold(None)
    t = verification_threshold(None, similarity=0.3)
    assert t.fmr is None and t.similarity == 0.3


def test_fmr_below_calibrated_range_is_refused():
    with pytest.raises(CalibrationError):
        verification_threshold(CURVE, fmr=1e-9)


def test_gallery_too_large_for_calibration():
    with pytest.raises(CalibrationError):
        identification_threshold(CURVE, gallery_size=10**9, fpir=1e-3)
