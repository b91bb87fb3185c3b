"""How a face was degraded by its capture: motion blur, noise, low light, low resolution.

Each measure is computed from the face's own pixels, in the image's pixels (not the
aligned crop), by a classical estimator:

- **motion blur** — the power cepstrum of the face region. Uniform linear motion of
  length *L* multiplies the spectrum by a sinc with regularly spaced zeros, which shows
  as a strong negative cepstral peak at distance *L* along the motion direction
  (Rom 1975; Biemond et al. 1990). The peak's depth in standard deviations of the
  cepstrum around it is the evidence; its position gives length and direction.
- **noise** — Immerkær's fast noise-variance estimate (1996): the mean absolute
  response to a Laplacian-difference mask that cancels first- and second-order image
  structure, σ = √(π/2)·mean|I∗M|/6, taken over the flattest half of the region so
  edges and texture do not count as noise.
- **defocus** — the edge spread of the face region by the re-blur gradient ratio
  (:mod:`faceprint.core.defocus`): a blur alike in every direction (not a motion
  blur), beyond a sharp photo's own edges, on a face that does not carry the periodic
  traces of having been upscaled (an upscaled small face is ``low_resolution``).
- **low light** — mean luminance of the face region (0 black … 1 white).
- **low resolution** — the face's *effective* width in pixels: its box width divided by
  the largest factor by which the face region can be down-sampled and up-sampled back
  losing under 0.5 % of its contrast energy, so a small face upscaled to a large one,
  or a defocused one, is still reported as small. (Press photos such as LFW's, which
  are themselves soft, measure about half their box width.)

The thresholds that turn a measure into a named degradation (:class:`DegradationLimits`)
are round physical values, not fitted to any dataset: a blur of 5 % of the face width,
a defocus of σ = 1.5 px beyond a sharp photo's own edges, noise of σ = 8 grey levels,
a face darker than a quarter of full scale, fewer than 32 effective pixels across the
face.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from faceprint.core.defocus import (
    INTRINSIC_EDGE_SIGMA,
    estimate_defocus,
    resampling_periodicity,
)
from faceprint.types import BBox, DegradationReport, ImageArray

__all__ = [
    "DEGRADATIONS",
    "DegradationLimits",
    "MotionBlur",
    "assess_degradation",
    "blockiness",
    "estimate_motion_blur",
    "estimate_noise",
    "face_region",
    "motion_kernel",
    "resampling_factor",
]

DEGRADATIONS = (
    "motion_blur",
    "defocus",
    "noise",
    "low_light",
    "low_resolution",
    "compression",
)
"""The names a :class:`~faceprint.types.DegradationReport` can list in ``detected``."""

Grey = NDArray[np.float32]
Float = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class DegradationLimits:
    """Measures above (or for light and resolution, below) which a degradation is named.

    Attributes:
        motion_blur: blur length as a fraction of the face width.
        motion_evidence: cepstral peak depth (in standard deviations, measured with
            the face scaled to 64 px) needed to call the blur directional at all.
        defocus: blur σ (px) added on top of a sharp photo's own edge spread.
        defocus_anisotropy: largest over smallest per-orientation edge spread up to
            which a blur counts as alike in every direction.
        resampled: :func:`~faceprint.core.defocus.resampling_periodicity` from which
            a soft face is taken as upscaled (low resolution), not defocused.
        noise: noise σ in grey levels (of 255).
        low_light: mean luminance of the face region (0–1).
        low_resolution: effective face width in pixels.
        block_grid: :func:`blockiness` above which the JPEG block grid is discounted
            from the motion-blur search.
        compression: :func:`blockiness` above which the face is called
            ``compression`` (block steps twice the size of the steps inside blocks).
    """

    motion_blur: float = 0.05
    motion_evidence: float = 6.5
    defocus: float = 1.5
    defocus_anisotropy: float = 1.5
    resampled: float = 5.0
    noise: float = 8.0
    low_light: float = 0.25
    low_resolution: float = 32.0
    block_grid: float = 1.3
    compression: float = 2.0


@dataclass(frozen=True, slots=True)
class MotionBlur:
    """A linear motion-blur estimate: length (px), direction (degrees counter-clockwise
    from the x axis, in [0, 180)) and evidence (cepstral peak depth in std devs)."""

    length: float
    angle: float
    evidence: float


def _region_box(image: ImageArray, bbox: BBox, margin: float) -> tuple[int, int, int, int]:
    height, width = image.shape[:2]
    x1, y1, x2, y2 = bbox
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = max(0, int(x1 - mx)), max(0, int(y1 - my))
    right, bottom = min(width, int(np.ceil(x2 + mx))), min(height, int(np.ceil(y2 + my)))
    if right - left < 8 or bottom - top < 8:
        return 0, 0, width, height
    return left, top, right, bottom


def motion_kernel(length: float, angle: float) -> Float:
    """A normalised linear motion-blur kernel ``length`` px long at ``angle`` degrees
    (counter-clockwise from the x axis), drawn anti-aliased; odd square size."""
    size = int(np.ceil(length)) | 1
    scale = 8  # supersample, then area-downsample: sub-pixel accurate lines
    canvas = np.zeros((size * scale, size * scale), np.float32)
    centre = (size * scale - 1) / 2.0
    half = (length * scale - scale) / 2.0
    dx, dy = np.cos(np.radians(angle)) * half, -np.sin(np.radians(angle)) * half
    p1 = (round((centre - dx) * 16), round((centre - dy) * 16))
    p2 = (round((centre + dx) * 16), round((centre + dy) * 16))
    cv2.line(canvas, p1, p2, 1.0, thickness=scale, lineType=cv2.LINE_AA, shift=4)
    kernel = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return (kernel / max(float(kernel.sum()), 1e-12)).astype(np.float32)


def face_region(image: ImageArray, bbox: BBox, *, margin: float = 0.25) -> ImageArray:
    """The face box grown by ``margin`` of its size on each side, clipped to the image."""
    left, top, right, bottom = _region_box(image, bbox, margin)
    return np.ascontiguousarray(image[top:bottom, left:right])


def blockiness(grey: Grey, *, left: int = 0, top: int = 0) -> float:
    """JPEG block-grid strength: mean absolute step across the 8-px block boundaries of
    the image grid over the mean step elsewhere (≈ 1 without block artefacts).
    ``left``/``top`` place the region in the image, whose origin the grid starts at."""
    if min(grey.shape) < 32:  # fewer than four block boundaries per axis
        return 1.0
    ratios = []
    for axis, offset in ((1, left), (0, top)):
        steps = np.abs(np.diff(grey, axis=axis)).mean(axis=1 - axis)
        position = (np.arange(steps.size) + offset) % 8
        boundary = position == 7  # step from pixel 8k−1 to 8k
        ratios.append(steps[boundary].mean() / (steps[~boundary].mean() + 1e-6))
    return float(np.mean(ratios))


def _grey(image: ImageArray | Grey) -> Grey:
    if image.ndim == 2:
        return image.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


@lru_cache(maxsize=64)
def _window(h: int, w: int) -> Grey:
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    window.setflags(write=False)
    return window


@lru_cache(maxsize=64)
def _search_mask(h: int, w: int, limit: int, block_grid: bool) -> NDArray[np.bool_]:
    cy, cx = h // 2, w // 2
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.hypot(yy - cy, xx - cx)
    mask = (radius >= 3.0) & (radius <= limit)
    # JPEG's 8×8 block grid (nearly every photo has one) puts cepstral peaks on the
    # lattice of multiples of 8 px: not motion. With strong blocking they spread ± 1 px.
    dy, dx = np.abs(yy - cy) % 8, np.abs(xx - cx) % 8
    spread = 1 if block_grid else 0
    mask &= ~((np.minimum(dy, 8 - dy) <= spread) & (np.minimum(dx, 8 - dx) <= spread))
    mask.setflags(write=False)
    return np.asarray(mask, dtype=bool)


@lru_cache(maxsize=64)
def _outer_band(h: int, w: int) -> NDArray[np.intp]:
    """Flat indices of the frequencies above 0.35 cycles/px in an h×w spectrum."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    band = np.flatnonzero(np.hypot(fy, fx) > 0.35)
    band.setflags(write=False)
    return band


@lru_cache(maxsize=64)
def _search_indices(h: int, w: int, limit: int, block_grid: bool) -> NDArray[np.intp]:
    """Flat indices (ascending) of :func:`_search_mask`."""
    indices = np.flatnonzero(_search_mask(h, w, limit, block_grid))
    indices.setflags(write=False)
    return indices


def _cepstrum(grey: Grey) -> Grey:
    """The power cepstrum of a grey region, centred; zero-padded to an FFT-friendly
    size (OpenCV's DFT, float32), so it may be a few pixels larger than ``grey``."""
    h, w = grey.shape
    centred = (grey - grey.mean()).astype(np.float32) * _window(h, w)
    size_h, size_w = cv2.getOptimalDFTSize(h), cv2.getOptimalDFTSize(w)
    if (size_h, size_w) != (h, w):
        centred = cv2.copyMakeBorder(centred, 0, size_h - h, 0, size_w - w, cv2.BORDER_CONSTANT)
    spectrum = cv2.dft(centred, flags=cv2.DFT_COMPLEX_OUTPUT)
    magnitude = cv2.magnitude(spectrum[..., 0], spectrum[..., 1])
    # Floor the spectrum at its own high-frequency level (the noise and compression
    # floor): dips below it are not evidence, and random dips in noise do not count.
    outer = magnitude.ravel()[_outer_band(size_h, size_w)]
    floor = float(np.partition(outer, outer.size // 2)[outer.size // 2]) + 1e-9
    log_spectrum = np.log(magnitude + np.float32(floor))
    # a real, even spectrum: its forward transform is the inverse one, times its size
    cepstrum = cv2.dft(log_spectrum, flags=cv2.DFT_SCALE | cv2.DFT_COMPLEX_OUTPUT)[..., 0]
    return np.fft.fftshift(cepstrum)


def estimate_motion_blur(
    image: ImageArray | Grey, *, max_length: float | None = None, block_grid: bool = False
) -> MotionBlur:
    """Estimate uniform linear motion blur from an image region (RGB or grey).

    ``max_length`` bounds the search (default: 30 % of the region's shorter side);
    ``block_grid`` ignores the cepstral lattice of an 8×8 JPEG block grid (whose
    peaks are not motion) — see :func:`blockiness`.
    """
    grey = _grey(image)
    if min(grey.shape) < 16:
        return MotionBlur(0.0, 0.0, 0.0)
    limit = int(max_length if max_length is not None else 0.3 * min(grey.shape))
    cep = _cepstrum(grey)
    h, w = cep.shape
    cy, cx = h // 2, w // 2
    annulus = _search_mask(h, w, limit, block_grid)
    if not annulus.any():
        return MotionBlur(0.0, 0.0, 0.0)
    flat = _search_indices(h, w, limit, block_grid)
    values = cep.ravel()[flat]
    k = int(flat[int(np.argmin(values))])
    y, x = divmod(k, w)
    evidence = float((values.mean() - cep[y, x]) / (values.std() + 1e-12))
    dy, dx = y - cy, x - cx
    return MotionBlur(
        length=float(np.hypot(dx, dy)),
        angle=float(np.degrees(np.arctan2(-dy, dx)) % 180.0),
        evidence=evidence,
    )


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
_CHANNEL_MEAN = np.full((1, 3), 1.0 / 3.0, dtype=np.float32)


def estimate_noise(image: ImageArray) -> float:
    """Noise σ in grey levels (Immerkær 1996), over the flattest half of the region;
    for a colour region the mean of the per-channel estimates (sensor noise is
    independent per channel, and a grey conversion would average it away)."""
    pixels = np.asarray(image, dtype=np.float32)
    if min(pixels.shape[:2]) < 16:  # too few pixels to tell noise from detail
        return 0.0
    grey = cv2.transform(pixels, _CHANNEL_MEAN) if pixels.ndim == 3 else pixels
    structure = cv2.GaussianBlur(
        np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1)),
        (0, 0),
        2.0,
    )[2:-2, 2:-2]
    values = structure.ravel()
    middle = values.size // 2
    if values.size % 2:
        median = float(np.partition(values, middle)[middle])
    else:
        part = np.partition(values, (middle - 1, middle))
        median = float(part[middle - 1] + part[middle]) / 2.0
    flat = np.ascontiguousarray(structure <= median, dtype=np.uint8)
    # filter2D filters every channel at once; the mask cancels planes and ridges
    response = np.abs(cv2.filter2D(pixels, -1, _IMMERKAER, borderType=cv2.BORDER_REFLECT))
    response = np.ascontiguousarray(response[2:-2, 2:-2])
    channels = 1 if response.ndim == 2 else response.shape[2]
    mean = sum(cv2.mean(response, mask=flat)[:channels]) / channels  # same count per channel
    return float(np.sqrt(np.pi / 2.0) * mean / 6.0)


_LADDER = np.geomspace(1.0, 12.0, 13)


def resampling_factor(image: ImageArray, *, tolerance: float = 0.005) -> float:
    """The largest factor by which the region can be down-sampled (area) and up-sampled
    back (bicubic) losing less than ``tolerance`` of its contrast energy (variance):
    1 for a region with detail at every pixel, about *k* for one upscaled *k* times."""
    grey = _grey(image).astype(np.float32)
    h, w = grey.shape
    variance = float(grey.var())
    if variance < 1e-6 or min(h, w) < 8:
        return 1.0
    losses = []
    for k in _LADDER:
        size = (max(2, round(w / k)), max(2, round(h / k)))
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        back = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        losses.append(float(((grey - back) ** 2).mean()) / variance)
    loss = np.maximum.accumulate(np.asarray(losses))
    if loss[-1] < tolerance:
        return float(_LADDER[-1])
    j = int(np.argmax(loss >= tolerance))
    if j == 0:
        return 1.0
    # interpolate on log k between the last factor under and the first over
    t = (tolerance - loss[j - 1]) / max(loss[j] - loss[j - 1], 1e-12)
    return float(np.exp(np.log(_LADDER[j - 1]) + t * (np.log(_LADDER[j]) - np.log(_LADDER[j - 1]))))


_MOTION_WIDTH = 128.0
_NO_BLUR = MotionBlur(0.0, 0.0, 0.0)
_COARSE_WIDTH = 64.0


def _motion_at(wide: Grey, scale: float, *, block_grid: bool) -> MotionBlur:
    """:func:`estimate_motion_blur` on ``wide`` resampled by ``scale`` (at most 1),
    with the length given back in the original pixels."""
    scale = min(1.0, scale)
    if scale >= 1.0:
        return estimate_motion_blur(wide, block_grid=block_grid)
    size = (max(16, round(wide.shape[1] * scale)), max(16, round(wide.shape[0] * scale)))
    small = np.asarray(cv2.resize(wide, size, interpolation=cv2.INTER_AREA), np.float32)
    found = estimate_motion_blur(small, block_grid=block_grid and scale > 0.9)
    return MotionBlur(found.length / scale, found.angle, found.evidence)


_PATCH = 128


def _defocus(region: Grey, limits: DegradationLimits) -> float:
    """The defocus σ the capture added to the (grey) face region (px), or 0 when its blur is
    too small, not alike in every direction, or the periodic trace of an upscaling."""
    screen = float(np.hypot(limits.defocus, INTRINSIC_EDGE_SIGMA))
    edges = estimate_defocus(region, screen=screen)
    if edges.added < limits.defocus or edges.anisotropy > limits.defocus_anisotropy:
        return 0.0
    if resampling_periodicity(region) >= limits.resampled:
        return 0.0
    return edges.added


def _centre(image: ImageArray, size: int) -> ImageArray:
    h, w = image.shape[:2]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return np.ascontiguousarray(image[top : top + size, left : left + size])


def assess_degradation(
    image: ImageArray,
    bbox: BBox,
    *,
    limits: DegradationLimits | None = None,
    resolution: bool = True,
    noise: bool = True,
    defocus: bool = True,
) -> DegradationReport:
    """Measure how one face (``bbox`` in ``image``, RGB uint8) was degraded.

    ``resolution=False`` skips the effective-resolution measure (the face's box width
    is reported instead), ``noise=False`` the noise estimate and ``defocus=False`` the
    defocus one (reported as 0), for callers that gate only on the others (restoration
    needs what its enabled steps undo; the full report is made when quality is asked
    for).
    """
    limits = limits or DegradationLimits()
    left, top, right, bottom = _region_box(image, bbox, 0.25)
    region = np.ascontiguousarray(image[top:bottom, left:right])
    face_width = max(1.0, float(bbox[2] - bbox[0]))
    # The blur is searched in a wider region (twice the face's width: more pixels, a
    # stronger cepstral peak, still the face's own motion), first at a coarse face
    # scale (cheap; down-sampling also melts the JPEG grid) and, only where that finds
    # evidence, again at a finer scale for the length and direction.
    mleft, mtop, mright, mbottom = _region_box(image, bbox, 0.5)
    wide = _grey(np.ascontiguousarray(image[mtop:mbottom, mleft:mright]))
    inside = mleft <= left and mtop <= top and right <= mright and bottom <= mbottom
    grey = (
        wide[top - mtop : bottom - mtop, left - mleft : right - mleft] if inside else _grey(region)
    )
    blocks = blockiness(grey, left=left, top=top)
    blocky = blocks > limits.block_grid
    blur = _motion_at(wide, _COARSE_WIDTH / face_width, block_grid=False)
    if blur.evidence >= limits.motion_evidence:
        fine = _motion_at(wide, _MOTION_WIDTH / face_width, block_grid=blocky)
        agree = abs(fine.length - blur.length) <= max(2.0, 0.15 * blur.length) and (
            min(abs(fine.angle - blur.angle), 180.0 - abs(fine.angle - blur.angle)) <= 10.0
        )
        # the fine scale must confirm the coarse one; a peak seen at one scale only
        # (defocus, texture, compression) is not a directional blur
        blur = MotionBlur(fine.length, fine.angle, blur.evidence) if agree else _NO_BLUR
    patch = _centre(region, _PATCH)
    sigma = estimate_noise(patch) if noise else 0.0
    light = float(grey.mean() / 255.0)
    effective = face_width / resampling_factor(patch) if resolution else face_width
    directional = blur.evidence >= limits.motion_evidence
    motion = blur.length / face_width if directional else 0.0
    spread = _defocus(grey, limits) if defocus and motion < limits.motion_blur else 0.0
    named = []
    if motion >= limits.motion_blur:
        named.append("motion_blur")
    if spread > 0.0:
        named.append("defocus")
    if sigma >= limits.noise:
        named.append("noise")
    if light < limits.low_light:
        named.append("low_light")
    if resolution and effective < limits.low_resolution:
        named.append("low_resolution")
    if blocks > limits.compression:
        named.append("compression")
    return DegradationReport(
        motion_blur=motion,
        motion_length=blur.length if directional else 0.0,
        motion_angle=blur.angle if directional else None,
        motion_evidence=blur.evidence,
        defocus=spread,
        noise=sigma,
        brightness=light,
        effective_resolution=effective,
        blockiness=blocks,
        detected=tuple(named),
    )
