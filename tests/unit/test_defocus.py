"""Defocus measures on real LFW photos blurred with known Gaussians: the re-blur
gradient ratio reads the added σ back, tells an isotropic blur from a motion blur, and
the resampling trace tells an upscaled face from a defocused one.

Measured on these five photos when the bounds were set: added σ read 1.92–2.23 for
σ = 2, 2.81–3.22 for 3, 3.53–3.94 for 4; anisotropy 1.03–1.25 for Gaussians and
1.60–2.34 for 9 and 15 px motion blurs; resampling periodicity 4.2–7.0 upscaled ×3,
4.9–8.7 ×5, 1.5–4.1 Gaussian-blurred, 2.0–4.1 clean.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.lfw_photos import BOX, motion_blurred, photo

from faceprint.core.defocus import (
    INTRINSIC_EDGE_SIGMA,
    EdgeBlur,
    estimate_defocus,
    gaussian_kernel,
    resampling_periodicity,
)
from faceprint.core.degradation import DegradationLimits, assess_degradation, face_region
from faceprint.types import ImageArray

PHOTOS = ("Aaron_Eckhart", "Abdullah_Gul", "Abel_Pacheco", "Aaron_Peirsol", "Abdoulaye_Wade")
LIMITS = DegradationLimits()


def defocused(image: ImageArray, sigma: float) -> ImageArray:
    out = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def upscaled(image: ImageArray, k: float) -> ImageArray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (round(w / k), round(h / k)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))


def region(image: ImageArray) -> ImageArray:
    return face_region(image, BOX)


@pytest.mark.parametrize("sigma", [2.0, 3.0, 4.0])
@pytest.mark.parametrize("person", PHOTOS)
def test_a_gaussian_blur_is_read_back_within_15_percent(person: str, sigma: float) -> None:
    edges = estimate_defocus(region(defocused(photo(person), sigma)))
    assert edges.added == pytest.approx(sigma, rel=0.15)
    assert edges.anisotropy < 1.3  # alike in every direction


@pytest.mark.parametrize("person", PHOTOS)
def test_a_clean_photo_has_a_sharp_photos_own_edges(person: str) -> None:
    edges = estimate_defocus(region(photo(person)))
    assert edges.sigma == pytest.approx(INTRINSIC_EDGE_SIGMA, abs=0.25)
    assert edges.added < LIMITS.defocus


@pytest.mark.parametrize("length", [9.0, 15.0])
@pytest.mark.parametrize("person", PHOTOS)
def test_a_motion_blur_is_not_isotropic(person: str, length: float) -> None:
    edges = estimate_defocus(region(motion_blurred(photo(person), length, 30.0)))
    assert edges.anisotropy > LIMITS.defocus_anisotropy


@pytest.mark.parametrize("person", PHOTOS)
def test_the_screen_only_ever_reads_wider(person: str) -> None:
    for sigma in (0.0, 2.0, 3.0):
        image = region(defocused(photo(person), sigma) if sigma else photo(person))
        full = estimate_defocus(image)
        screened = estimate_defocus(image, screen=100.0)  # always answered by the screen
        assert screened.sigma >= full.sigma
        # under the screen's bound the full estimate is never needed
        assert estimate_defocus(image, screen=0.0) == full


def test_upscaled_faces_carry_the_resampling_trace_and_defocused_ones_do_not() -> None:
    traced = [resampling_periodicity(region(upscaled(photo(p), 5.0))) for p in PHOTOS]
    soft = [resampling_periodicity(region(defocused(photo(p), 3.0))) for p in PHOTOS]
    assert sum(t >= LIMITS.resampled for t in traced) >= 4, traced
    assert max(soft) < LIMITS.resampled, soft
    assert np.mean(traced) > 1.5 * np.mean(soft)


@pytest.mark.parametrize("person", PHOTOS)
def test_defocus_is_named_with_its_sigma_and_nothing_else_is(person: str) -> None:
    image = photo(person)
    blurred = assess_degradation(defocused(image, 3.0), BOX)
    assert "defocus" in blurred.detected
    assert blurred.defocus == pytest.approx(3.0, rel=0.15)
    for other in (image, motion_blurred(image, 15.0, 30.0)):
        report = assess_degradation(other, BOX)
        assert "defocus" not in report.detected and report.defocus == 0.0
    assert assess_degradation(defocused(image, 3.0), BOX, defocus=False).defocus == 0.0


def test_tiny_and_flat_regions_have_no_estimate() -> None:
    assert estimate_defocus(np.zeros((8, 8, 3), np.uint8)) == EdgeBlur(0.0, 1.0, 0)
    assert estimate_defocus(np.full((64, 64, 3), 128, np.uint8)).edges == 0
    assert resampling_periodicity(np.zeros((8, 8), np.uint8)) == 0.0


@pytest.mark.parametrize("sigma", [0.8, 2.5, 4.0])
def test_gaussian_kernel_is_normalised_odd_and_isotropic(sigma: float) -> None:
    kernel = gaussian_kernel(sigma)
    assert kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
    assert kernel.shape[0] >= 6 * sigma
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(kernel, kernel.T) and np.allclose(kernel, kernel[::-1, ::-1])
