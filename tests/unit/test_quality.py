"""Quality measures and policy reasons on synthetic crops (no weights)."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.core.quality import QualityPolicy, assess, crop_measures
from faceprint.types import Detection, Liveness

LM = ((0.0, 0.0),) * 5
RNG = np.random.default_rng(0)
SHARP = RNG.integers(0, 256, (112, 112, 3), dtype=np.uint8)  # all high frequency
FLAT = np.tile(np.linspace(60, 200, 112, dtype=np.uint8)[None, :, None], (112, 1, 3))  # a ramp
DARK = (SHARP // 12).astype(np.uint8)


def _det(size=120.0, score=0.95):
    return Detection((10.0, 10.0, 10.0 + size, 10.0 + size), score, LM)


def test_crop_measures():
    sharp, bright, contrast = crop_measures(SHARP)
    assert sharp > 1.0 and 0.45 < bright < 0.55 and contrast > 0.15  # grey of RGB noise
    flat_sharpness, flat_bright, _ = crop_measures(FLAT)
    assert flat_sharpness < 0.001
    assert flat_bright == pytest.approx(130 / 255, abs=0.01)
    # sharpness is exposure-free: a dark copy of a sharp crop is still sharp
    assert crop_measures(DARK)[0] == pytest.approx(sharp, rel=0.2)


@pytest.mark.parametrize(
    ("kwargs", "crop", "reasons"),
    [
        ({}, SHARP, ()),
        ({"detection": _det(size=30)}, SHARP, ("face_too_small",)),
        ({}, FLAT, ("blurry",)),
        ({}, DARK, ("too_dark",)),
        ({}, np.full((112, 112, 3), 250, np.uint8), ("blurry", "overexposed")),
        ({"pose": (60.0, 0.0, 0.0)}, SHARP, ("extreme_pose",)),
        ({"pose": (0.0, -40.0, 0.0)}, SHARP, ("extreme_pose",)),
        ({"detection": _det(score=0.6)}, SHARP, ("low_confidence",)),
        ({"liveness": Liveness(0.1, False, 0.5)}, SHARP, ("spoof_suspected",)),
    ],
)
def test_policy_reasons(kwargs, crop, reasons):
    detection = kwargs.pop("detection", _det())
    q = assess(detection, crop, policy=QualityPolicy(), **kwargs)
    assert q.reasons == reasons
    assert q.acceptable is (reasons == ())


def test_score_orders_good_above_bad():
    good = assess(_det(), SHARP, policy=QualityPolicy(), pose=(0.0, 0.0, 0.0))
    turned = assess(_det(), SHARP, policy=QualityPolicy(), pose=(40.0, 0.0, 0.0))
    small = assess(_det(size=40), SHARP, policy=QualityPolicy())
    blurred = assess(_det(), FLAT, policy=QualityPolicy())
    assert good.score > turned.score > 0
    assert good.score > small.score and good.score > blurred.score
    assert 0.0 <= blurred.score <= good.score <= 1.0


def test_policy_is_configurable():
    strict = QualityPolicy(min_face_size=200)
    assert assess(_det(size=120), SHARP, policy=strict).reasons == ("face_too_small",)
