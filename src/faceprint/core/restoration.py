"""Gated restoration: undo a measured capture degradation before a face is embedded.

Blanket restoration often hurts recognition (it invents texture and moves identity
cues), so nothing here runs unless :mod:`faceprint.core.degradation` measured the
degradation it undoes on that face, and a clean face is passed through untouched:

- **motion blur** → Wiener deconvolution with the estimated linear kernel, on the
  face's region only (the rest of the image is not touched), kept only when two
  physical checks agree that the blur is real (see :func:`_plausible_deblur`);
- **defocus** (an isotropic blur past its limit, not the trace of an upscaling) →
  Wiener deconvolution with a Gaussian of the measured σ on the face region, kept only
  when it does not ring (total variation grows by at most a half);
- **JPEG blocking** (block steps twice the in-block steps) → a σ = 1 px Gaussian on
  the face region;
- **sensor noise** (noise σ past its limit) → a Gaussian low-pass of one pixel of
  the embedder's input (σ = face width / 112) on the face region: the embedding
  models react to pixel-level noise that this removes, while the identity cues they
  use are coarser; **low light** (a dark face whose noise, once brightened to
  mid-grey, passes the noise limit) → brightened, then the same low-pass;
- **no face found** → detection is retried on a denoised copy (noisy images), a
  brightened copy (dark images) and, when brightening lifted the hidden noise, a
  brightened and denoised one, chosen by the same measures on the whole image; the
  face is then embedded from the original pixels.

Which of these pay, and on which degradations, is measured by
``faceprint eval robustness`` and written in ``docs/robustness.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from faceprint.core.defocus import gaussian_kernel
from faceprint.core.degradation import DegradationLimits, estimate_noise, motion_kernel
from faceprint.types import BBox, DegradationReport, ImageArray

__all__ = [
    "RestorationPolicy",
    "detection_retries",
    "restore_face",
    "wiener_deconvolve",
]


@dataclass(frozen=True, slots=True)
class RestorationPolicy:
    """Which restorations may run, and when.

    Attributes:
        deblur: deconvolve faces with measured linear motion blur.
        refocus: deconvolve faces with a measured defocus (isotropic) blur.
        retry_detection: when no face is found, retry on a brightened or denoised copy
            of a dark or noisy image.
        deblock: smooth faces with strong JPEG blocking (a Gaussian of σ = 1 px on
            the face region, which melts the 8×8 block edges).
        denoise: low-pass noisy faces (a Gaussian of σ = face width / 112, one
            pixel of the embedder's aligned input), and dark faces whose sensor
            noise brightening lifts past the noise limit (brightened, then
            low-passed).
        noise_to_signal: Wiener regularisation (noise-to-signal power ratio); larger
            is smoother and rings less.
        max_variation_gain: a motion deconvolution that multiplies the face region's
            total variation by more than this is taken as ringing from a wrong kernel
            and dropped.
        max_refocus_gain: the same for the defocus deconvolution, whose kernel has no
            direction to be wrong in: more than this is the deconvolution amplifying
            what is not blurred detail (an upscaled face's interpolation grid).
        limits: the degradation limits that gate each step.
    """

    deblur: bool = True
    refocus: bool = True
    retry_detection: bool = True
    deblock: bool = True
    denoise: bool = True
    noise_to_signal: float = 0.01
    max_variation_gain: float = 2.0
    max_refocus_gain: float = 1.5
    limits: DegradationLimits = field(default_factory=DegradationLimits)


def wiener_deconvolve(
    image: ImageArray, kernel: np.ndarray, *, noise_to_signal: float = 0.01
) -> ImageArray:
    """Wiener-deconvolve an RGB (or grey) uint8 image by a normalised blur ``kernel``.

    The image is reflect-padded by the kernel size so the borders do not ring.
    """
    pad = int(kernel.shape[0])
    padded = cv2.copyMakeBorder(
        np.ascontiguousarray(image), pad, pad, pad, pad, cv2.BORDER_REFLECT
    ).astype(np.float64)
    h, w = padded.shape[:2]
    ky, kx = kernel.shape
    psf = np.zeros((h, w), np.float64)
    psf[:ky, :kx] = kernel
    psf = np.roll(psf, (-(ky // 2), -(kx // 2)), axis=(0, 1))  # centre at the origin
    transfer = np.fft.rfft2(psf)
    gain = np.conj(transfer) / (np.abs(transfer) ** 2 + noise_to_signal)
    channels = padded[..., None] if padded.ndim == 2 else padded
    out = np.empty_like(channels)
    for c in range(channels.shape[2]):
        out[..., c] = np.fft.irfft2(np.fft.rfft2(channels[..., c]) * gain, s=(h, w))
    out = out[pad : pad + image.shape[0], pad : pad + image.shape[1]]
    restored = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(restored if image.ndim == 3 else restored[..., 0])


def _region(image: ImageArray, bbox: BBox, margin: float) -> tuple[int, int, int, int]:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = bbox
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    return (
        max(0, int(x1 - mx)),
        max(0, int(y1 - my)),
        min(width, int(np.ceil(x2 + mx))),
        min(height, int(np.ceil(y2 + my))),
    )


_RESTORED = frozenset({"motion_blur", "defocus", "compression", "noise", "low_light"})
# the width of the embedders' aligned face crops (SFace 112, reid-0095 128): the
# low-pass is one of their input pixels, so it scales with the face
_EMBEDDER_WIDTH = 112.0


def restore_face(
    image: ImageArray,
    bbox: BBox,
    report: DegradationReport,
    policy: RestorationPolicy,
) -> tuple[ImageArray, tuple[str, ...]]:
    """The image with this face's region restored as ``report`` and ``policy`` call
    for, and the steps applied (``()`` and the same array when none applies)."""
    detected = set(report.detected)
    if not detected & _RESTORED:
        return image, ()  # the common case: nothing to undo, nothing copied
    left, top, right, bottom = _region(image, bbox, 0.6)
    region = np.ascontiguousarray(image[top:bottom, left:right])
    steps: list[str] = []
    if policy.deblur and "motion_blur" in detected and report.motion_angle is not None:
        kernel = motion_kernel(report.motion_length, report.motion_angle)
        restored = wiener_deconvolve(region, kernel, noise_to_signal=policy.noise_to_signal)
        if _plausible_deblur(region, restored, report.motion_angle, policy):
            region = restored
            steps.append("deblur")
    if policy.refocus and "defocus" in detected and report.defocus > 0:
        kernel = gaussian_kernel(report.defocus)
        restored = wiener_deconvolve(region, kernel, noise_to_signal=policy.noise_to_signal)
        if _variation(_grey(restored)) <= policy.max_refocus_gain * _variation(_grey(region)):
            region = restored
            steps.append("refocus")
    if policy.deblock and "compression" in detected:
        region = np.ascontiguousarray(cv2.GaussianBlur(region, (0, 0), 1.0))
        steps.append("deblock")
    if policy.denoise and "noise" in detected:
        region = _low_pass(region, bbox)
        steps.append("denoise")
    elif policy.denoise and "low_light" in detected:
        # a dark face is restored only when brightening it lifts its sensor noise past
        # the noise limit (as for detection retries): then brighten, then low-pass;
        # a dark but clean photo, or a mildly dark one, is left alone
        brighter = _brighten(region)
        if estimate_noise(_centre_patch(brighter)) >= policy.limits.noise:
            region = _low_pass(brighter, bbox)
            steps += ["brighten", "denoise"]
    if not steps:
        return image, ()
    restored = np.array(image, copy=True)
    restored[top:bottom, left:right] = region
    return restored, tuple(steps)


def _low_pass(region: ImageArray, bbox: BBox) -> ImageArray:
    sigma = max(0.5, (bbox[2] - bbox[0]) / _EMBEDDER_WIDTH)
    return np.ascontiguousarray(cv2.GaussianBlur(region, (0, 0), sigma))


def _grey(image: ImageArray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _plausible_deblur(
    region: ImageArray, restored: ImageArray, angle: float, policy: RestorationPolicy
) -> bool:
    """Two physical checks that the estimated blur is real before it is undone:
    a linear motion blur leaves less gradient energy along its direction than across
    it, and undoing the right kernel restores edges without ringing, so the total
    variation grows by at most ``policy.max_variation_gain``. Streaks added on a sharp
    face (rain) or periodic texture pass the cepstral test but fail these."""
    grey = _grey(region)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    theta = np.radians(angle)
    c, s = float(np.cos(theta)), float(-np.sin(theta))  # image y points down
    along = float(((gx * c + gy * s) ** 2).mean())
    across = float(((-gx * s + gy * c) ** 2).mean())
    if along >= across:
        return False
    return _variation(_grey(restored)) <= policy.max_variation_gain * _variation(grey)


def _variation(grey: np.ndarray) -> float:
    """Mean total variation (absolute steps down and across) of a grey image."""
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


def _brighten(image: ImageArray, target: float = 0.45) -> ImageArray:
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    mean = max(float(grey.mean()) / 255.0, 1e-3)
    gamma = float(np.clip(np.log(target) / np.log(mean), 0.2, 1.0))
    table = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(cv2.LUT(np.ascontiguousarray(image), table))


def _denoise(image: ImageArray, sigma: float) -> ImageArray:
    # strong on purpose: this copy is only for finding the face (the face is embedded
    # from the original pixels), and a detector needs smooth shapes, not texture
    h = float(np.clip(1.5 * sigma, 3.0, 45.0))
    return np.ascontiguousarray(
        cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(image), None, h, h, 5, 15)
    )


def _centre_patch(image: ImageArray, half: int = 128) -> ImageArray:
    h, w = image.shape[:2]
    top, left = max(0, h // 2 - half), max(0, w // 2 - half)
    return np.ascontiguousarray(image[top : top + 2 * half, left : left + 2 * half])


def detection_retries(image: ImageArray, policy: RestorationPolicy) -> list[tuple[str, ImageArray]]:
    """Enhanced copies of an image in which no face was found, to detect again on:
    ``("denoise", …)`` when it is noisy, ``("brighten", …)`` when it is dark (after
    denoising when both) and ``("brighten+denoise", …)`` when brightening lifted
    the noise past its limit, in that order; empty when it is neither or retries are
    off.
    """
    if not policy.retry_detection:
        return []
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    noise = estimate_noise(_centre_patch(image))
    dark = float(grey.mean()) / 255.0 < policy.limits.low_light
    out: list[tuple[str, ImageArray]] = []
    current = image
    if noise >= policy.limits.noise:
        current = _denoise(current, noise)
        out.append(("denoise", current))
    if dark:
        brighter = _brighten(current)
        out.append(("brighten", brighter))
        # brightening lifts the sensor noise hidden in the dark with the signal
        lifted = estimate_noise(_centre_patch(brighter))
        if lifted >= policy.limits.noise:
            out.append(("brighten+denoise", _denoise(brighter, lifted)))
    return out
