"""Gated restoration: Wiener deconvolution undoes a known motion blur on real LFW
photos, :func:`restore_face` touches only a measured face's region and only when the
policy and the measures call for it, and :func:`detection_retries` offers the
enhanced copies a dark or noisy image needs.

Measured on these photos when the bounds were set: with the true kernel the mean
absolute error to the sharp photo (inner 130×130) fell 1.52–2.03× and the variance of
the Laplacian rose 3.1–5.7×; :func:`restore_face` with the estimated kernel brought the
face box 1.47–1.97× closer to the sharp photo; a σ = 3 defocus refocused brought it
1.65–1.84× closer (mean absolute error) and 2.3–2.9× sharper (Laplacian variance).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from tests.lfw_photos import motion_blurred, photo

from faceprint.core.degradation import assess_degradation, estimate_noise, motion_kernel
from faceprint.core.restoration import (
    RestorationPolicy,
    detection_retries,
    restore_face,
    wiener_deconvolve,
)
from faceprint.types import ImageArray

BOX = (75.0, 70.0, 175.0, 190.0)  # the face in a 250×250 LFW photo


# (person, blur length, angle): a spread of photos, lengths and directions.
BLURS = [
    ("Aaron_Eckhart", 9.0, 30.0),
    ("Abdullah_Gul", 15.0, 120.0),
    ("Abel_Pacheco", 21.0, 75.0),
    ("David_Hilt", 21.0, 0.0),
    ("Jimmy_Lee", 15.0, 120.0),
]
INNER = 60  # px left out at each border of the 250×250 photo
FACE = (slice(int(BOX[1]), int(BOX[3])), slice(int(BOX[0]), int(BOX[2])))
# restore_face works on the box grown by 60 % each side: x 15–235, all rows, here
REGION = (slice(0, 250), slice(15, 235))


def mae(image: ImageArray, sharp: ImageArray, where: tuple[slice, ...]) -> float:
    return float(np.abs(image[where].astype(np.float64) - sharp[where]).mean())


def inner(image: ImageArray) -> tuple[slice, slice]:
    return (slice(INNER, image.shape[0] - INNER), slice(INNER, image.shape[1] - INNER))


def laplacian_variance(image: ImageArray) -> float:
    g = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(g.astype(np.float32), cv2.CV_32F)[inner(g)].var())


def noisy(image: ImageArray, sigma: float, seed: int = 0) -> ImageArray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(image + rng.normal(0.0, sigma, image.shape)), 0, 255).astype(np.uint8)


def dark(image: ImageArray, gain: float = 0.2) -> ImageArray:
    return np.clip(np.rint(image * gain), 0, 255).astype(np.uint8)


# --- Wiener deconvolution ------------------------------------------------------------


@pytest.mark.parametrize(("person", "length", "angle"), BLURS)
def test_wiener_with_the_true_kernel_recovers_the_sharp_photo(
    person: str, length: float, angle: float
) -> None:
    sharp = photo(person)
    blurred = motion_blurred(sharp, length, angle)
    before = blurred.copy()
    restored = wiener_deconvolve(blurred, motion_kernel(length, angle))
    assert restored.shape == sharp.shape and restored.dtype == np.uint8
    assert restored.flags.c_contiguous
    assert np.array_equal(blurred, before), "the input was modified"
    where = inner(sharp)
    gain = mae(blurred, sharp, where) / mae(restored, sharp, where)
    assert gain >= 1.4, f"{person}: error fell only {gain:.2f}×"  # measured 1.52–2.03×
    sharpening = laplacian_variance(restored) / laplacian_variance(blurred)
    assert sharpening >= 2.0, f"{person}: Laplacian variance ×{sharpening:.1f}"  # ≥ 3.1×


def test_wiener_deconvolves_grey_images_too() -> None:
    sharp = cv2.cvtColor(photo("Abdullah_Gul"), cv2.COLOR_RGB2GRAY)
    blurred = np.ascontiguousarray(
        cv2.cvtColor(motion_blurred(photo("Abdullah_Gul"), 15, 120), cv2.COLOR_RGB2GRAY)
    )
    restored = wiener_deconvolve(blurred, motion_kernel(15, 120))
    assert restored.shape == sharp.shape and restored.dtype == np.uint8 and restored.ndim == 2
    gain = mae(blurred, sharp, inner(sharp)) / mae(restored, sharp, inner(sharp))
    assert gain >= 1.4, gain  # measured 1.83×
    assert laplacian_variance(restored) > 2.0 * laplacian_variance(blurred)


def test_wiener_by_the_identity_kernel_is_the_identity() -> None:
    image = photo("Abel_Pacheco")[40:140, 60:190]  # not square, not contiguous
    identity = np.ones((1, 1), np.float32)
    out = wiener_deconvolve(image, identity, noise_to_signal=1e-9)
    assert np.abs(out.astype(int) - image).max() <= 1
    # the regularisation shrinks the gain: 1 / (1 + noise_to_signal) at every frequency
    shrunk = wiener_deconvolve(image, identity, noise_to_signal=0.25)
    assert np.abs(shrunk.astype(float) - image / 1.25).max() <= 1.0


def test_more_regularisation_rings_less() -> None:
    blurred = motion_blurred(photo("Abel_Pacheco"), 21, 75)
    kernel = motion_kernel(21, 75)
    sharp = laplacian_variance(wiener_deconvolve(blurred, kernel, noise_to_signal=0.003))
    default = laplacian_variance(wiener_deconvolve(blurred, kernel))
    smooth = laplacian_variance(wiener_deconvolve(blurred, kernel, noise_to_signal=0.1))
    assert sharp > default > smooth > laplacian_variance(blurred)


# --- restore_face --------------------------------------------------------------------


def test_a_clean_face_is_passed_through_untouched() -> None:
    for person in ("Aaron_Eckhart", "Abdullah_Gul", "David_Hilt"):
        image = photo(person)
        report = assess_degradation(image, BOX)
        assert "motion_blur" not in report.detected
        out, steps = restore_face(image, BOX, report, RestorationPolicy())
        assert out is image and steps == ()


@pytest.mark.parametrize(
    ("person", "length", "angle"),
    [
        ("Aaron_Eckhart", 9.0, 30.0),
        ("Abdullah_Gul", 15.0, 120.0),
        ("Abel_Pacheco", 21.0, 75.0),
        ("Jimmy_Lee", 21.0, 75.0),
    ],
)
def test_a_motion_blurred_face_is_deblurred_in_its_region_only(
    person: str, length: float, angle: float
) -> None:
    sharp = photo(person)
    blurred = motion_blurred(sharp, length, angle)
    before = blurred.copy()
    report = assess_degradation(blurred, BOX)
    assert "motion_blur" in report.detected, report
    out, steps = restore_face(blurred, BOX, report, RestorationPolicy())
    assert steps == ("deblur",)
    assert out is not blurred and np.array_equal(blurred, before), "the input was modified"
    assert out.shape == blurred.shape and out.dtype == np.uint8
    outside = np.ones(blurred.shape[:2], bool)
    outside[REGION] = False
    assert np.array_equal(out[outside], blurred[outside])
    assert not np.array_equal(out[REGION], blurred[REGION])
    gain = mae(blurred, sharp, FACE) / mae(out, sharp, FACE)
    assert gain >= 1.3, f"{person}: the face came only {gain:.2f}× closer"  # 1.47–1.97×

    off, none = restore_face(blurred, BOX, report, RestorationPolicy(deblur=False))
    assert off is blurred and none == ()


def test_deblur_needs_a_measured_direction() -> None:
    blurred = motion_blurred(photo("Abdullah_Gul"), 15, 120)
    report = assess_degradation(blurred, BOX)
    undirected = dataclasses.replace(report, motion_angle=None)
    out, steps = restore_face(blurred, BOX, undirected, RestorationPolicy())
    assert out is blurred and steps == ()


@pytest.mark.parametrize(("length", "angle"), [(9.0, 30.0), (15.0, 120.0), (21.0, 75.0)])
def test_a_blur_that_is_not_there_is_not_undone(length: float, angle: float) -> None:
    """A report claiming motion blur on a sharp face (a wrong estimate): deconvolving it
    rings, and the plausibility checks refuse it."""
    for person in ("Aaron_Eckhart", "Abdullah_Gul", "David_Hilt", "Jimmy_Lee"):
        image = photo(person)
        wrong = dataclasses.replace(
            assess_degradation(image, BOX),
            motion_blur=length / 100.0,
            motion_length=length,
            motion_angle=angle,
            detected=("motion_blur",),
        )
        out, steps = restore_face(image, BOX, wrong, RestorationPolicy())
        assert out is image and steps == (), person


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: the deblur gate refuses a deconvolution that grows the "
    "region's total variation more than max_variation_gain (2) times, but a 21-px blur "
    "on a sharp face lowers it 3× (David Hilt: the sharp region's is 3.04× the blurred "
    "one's), so the right kernel is refused too",
)
def test_a_long_blur_on_a_sharp_face_is_deblurred() -> None:
    blurred = motion_blurred(photo("David_Hilt"), 21, 75)
    report = assess_degradation(blurred, BOX)
    assert "motion_blur" in report.detected
    assert restore_face(blurred, BOX, report, RestorationPolicy())[1] == ("deblur",)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


def test_heavy_jpeg_blocking_is_smoothed_only_when_measured_and_enabled() -> None:
    blocky = _jpeg(photo("Abel_Pacheco"), 8)
    report = assess_degradation(blocky, BOX)
    assert "compression" in report.detected
    out, steps = restore_face(blocky, BOX, report, RestorationPolicy())
    assert steps == ("deblock",)
    left, top, right, bottom = (
        int(v) for v in (BOX[0] - 30, BOX[1] - 36, BOX[2] + 30, BOX[3] + 36)
    )
    from faceprint.core.degradation import blockiness

    grey = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float64)  # noqa: E731
    before = blockiness(grey(blocky)[top:bottom, left:right], left=left, top=top)
    after = blockiness(grey(out)[top:bottom, left:right], left=left, top=top)
    assert after < 0.7 * before
    assert restore_face(blocky, BOX, report, RestorationPolicy(deblock=False))[1] == ()
    clean = photo("Abel_Pacheco")
    nothing = dataclasses.replace(assess_degradation(clean, BOX), detected=())
    out, steps = restore_face(clean, BOX, nothing, RestorationPolicy())
    assert out is clean and steps == ()


def test_a_noisy_face_is_low_passed_in_its_region_only() -> None:
    clean = photo("Aaron_Eckhart")
    grainy = noisy(clean, 25.0)
    report = assess_degradation(grainy, BOX)
    assert "noise" in report.detected
    out, steps = restore_face(grainy, BOX, report, RestorationPolicy())
    assert steps == ("denoise",)
    # the face region is closer to the clean photo (the noise is mostly gone) ...
    assert mae(out, clean, FACE) < 0.6 * mae(grainy, clean, FACE)
    assert estimate_noise(out[FACE]) < 0.5 * estimate_noise(grainy[FACE])
    # ... and nothing outside the region moved
    assert np.array_equal(out[:, :10], grainy[:, :10])
    assert restore_face(grainy, BOX, report, RestorationPolicy(denoise=False))[1] == ()


@pytest.mark.parametrize("person", ["Aaron_Eckhart", "Abdullah_Gul", "Aaron_Peirsol"])
def test_a_defocused_face_is_refocused_in_its_region_only(person: str) -> None:
    clean = photo(person)
    soft = np.clip(np.rint(cv2.GaussianBlur(clean.astype(np.float32), (0, 0), 3.0)), 0, 255)
    soft = np.ascontiguousarray(soft.astype(np.uint8))
    report = assess_degradation(soft, BOX)
    assert "defocus" in report.detected
    out, steps = restore_face(soft, BOX, report, RestorationPolicy())
    assert steps == ("refocus",)
    # the face is sharper and closer to the photo before the blur ...
    assert mae(out, clean, FACE) < 0.75 * mae(soft, clean, FACE)
    sharpness = lambda image: float(cv2.Laplacian(image[FACE], cv2.CV_64F).var())  # noqa: E731
    assert sharpness(out) > 1.8 * sharpness(soft)
    # ... nothing outside its region moved, and the step can be refused or switched off
    assert np.array_equal(out[:, :10], soft[:, :10])
    assert restore_face(soft, BOX, report, RestorationPolicy(refocus=False))[1] == ()
    # a deconvolution that raises the region's total variation past the bound is ringing
    strict = RestorationPolicy(max_refocus_gain=1.0)
    assert restore_face(soft, BOX, report, strict) == (soft, ())


def test_a_dark_face_is_restored_only_when_brightening_lifts_its_noise() -> None:
    from faceprint.eval.degrade import degrade

    clean = photo("Abdullah_Gul")
    # very low light: brightened, its shot noise passes the noise limit
    night = degrade(clean, "low_light:3", seed=1)
    report = assess_degradation(night, BOX)
    assert "low_light" in report.detected and "noise" not in report.detected
    out, steps = restore_face(night, BOX, report, RestorationPolicy())
    assert steps == ("brighten", "denoise")
    assert out[FACE].mean() > 2.0 * night[FACE].mean()
    assert restore_face(night, BOX, report, RestorationPolicy(denoise=False))[1] == ()
    # dim light (noise stays under the limit once brightened), and a dark but clean
    # photo: left alone
    for image in (degrade(clean, "low_light:1", seed=1), dark(clean, 0.2)):
        report = assess_degradation(image, BOX)
        assert "low_light" in report.detected
        out, steps = restore_face(image, BOX, report, RestorationPolicy())
        assert out is image and steps == ()


# --- detection retries ---------------------------------------------------------------


def test_no_retries_for_a_clean_image() -> None:
    assert detection_retries(photo("Aaron_Eckhart"), RestorationPolicy()) == []


def test_a_noisy_image_is_retried_denoised() -> None:
    image = noisy(photo("Abdullah_Gul"), 25.0)
    retries = detection_retries(image, RestorationPolicy())
    assert [name for name, _ in retries] == ["denoise"]
    copy = retries[0][1]
    assert copy.shape == image.shape and copy.dtype == np.uint8
    assert estimate_noise(copy) < 0.5 * estimate_noise(image)


def test_a_dark_image_is_retried_brightened() -> None:
    image = dark(photo("Abdullah_Gul"))
    retries = detection_retries(image, RestorationPolicy())
    assert [name for name, _ in retries] == ["brighten"]
    copy = retries[0][1]
    assert copy.shape == image.shape and copy.dtype == np.uint8
    assert copy.mean() > 3 * image.mean()  # measured ×7


def test_a_dark_noisy_image_is_denoised_then_brightened() -> None:
    image = noisy(dark(photo("Abdullah_Gul")), 25.0)
    before = image.copy()
    retries = detection_retries(image, RestorationPolicy())
    assert [name for name, _ in retries] == ["denoise", "brighten"]
    assert retries[1][1].mean() > 2 * image.mean()
    assert np.array_equal(image, before), "the input was modified"
    assert detection_retries(image, RestorationPolicy(retry_detection=False)) == []


def test_noise_lifted_by_brightening_is_denoised_for_detection() -> None:
    from faceprint.eval.degrade import degrade

    image = degrade(photo("Abdullah_Gul"), "low_light:3", seed=0)  # dark; σ ≈ 4, not "noisy"
    retries = detection_retries(image, RestorationPolicy())
    assert [name for name, _ in retries] == ["brighten", "brighten+denoise"]
    brightened, cleaned = retries[0][1], retries[1][1]
    assert estimate_noise(brightened) >= RestorationPolicy().limits.noise
    assert estimate_noise(cleaned) < 0.5 * estimate_noise(brightened)
