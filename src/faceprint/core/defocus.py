"""Isotropic (defocus-like) blur of a face region, and the traces of resampling that
tell an upscaled small face from a defocused one.

- :func:`estimate_defocus` — the re-blur gradient ratio (Hu & de Haan 2006; Zhuo &
  Sim 2011): at an edge blurred by a Gaussian of σ, the gradient maximum falls by
  ``√(σ² + σ₀²) / σ`` when the region is blurred again by a known σ₀, so
  ``σ = σ₀ / √(R² − 1)``. Taken as the median over the region's edges (Canny, with
  thresholds from the region's own gradient distribution), and per edge orientation:
  a defocus blurs every orientation alike, a motion blur only those across it.
- :func:`resampling_periodicity` — an image upscaled from fewer pixels is an
  interpolation of a coarser grid, so its second differences are periodic with that
  grid (Popescu & Farid 2005): the peak of the spectrum of the mean absolute second
  difference along each axis, over its median (the JPEG 8-px lattice left out).
- :func:`gaussian_kernel` — the point-spread function to undo.

A sharp digital photo's own edges measure σ ≈ 1 px (lens, demosaicing, the Sobel
support); :data:`INTRINSIC_EDGE_SIGMA` is taken off in quadrature to get the blur added
by the capture.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from faceprint.types import ImageArray

__all__ = [
    "INTRINSIC_EDGE_SIGMA",
    "EdgeBlur",
    "estimate_defocus",
    "gaussian_kernel",
    "resampling_periodicity",
]

INTRINSIC_EDGE_SIGMA = 1.0
"""The edge spread (σ, px) of a sharp photo, taken off in quadrature."""

_REBLUR = 2.0  # σ₀ of the known second blur
_MIN_EDGES = 10  # edge pixels an orientation needs to count


@dataclass(frozen=True, slots=True)
class EdgeBlur:
    """Edge spread of a region: ``sigma`` (px, the median Gaussian σ over its edges),
    ``anisotropy`` (largest over smallest per-orientation median, 1 for a blur alike in
    every direction) and ``edges`` (edge pixels measured)."""

    sigma: float
    anisotropy: float
    edges: int

    @property
    def added(self) -> float:
        """The blur σ the capture added on top of a sharp photo's own edge spread."""
        return float(np.sqrt(max(self.sigma**2 - INTRINSIC_EDGE_SIGMA**2, 0.0)))


_NO_EDGES = EdgeBlur(0.0, 1.0, 0)

Region = ImageArray | NDArray[np.float32]
"""An RGB uint8 region, or its grey levels (0–255) as float32."""


def _grey(image: Region) -> NDArray[np.float32]:
    if image.ndim == 2:
        return image.astype(np.float32, copy=False)
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _sigmas(ratio: NDArray[np.floating]) -> NDArray[np.float64]:
    keep = ratio > 1.01  # a ratio of 1 is an infinitely wide edge: no estimate
    return _REBLUR / np.sqrt(ratio[keep].astype(np.float64) ** 2 - 1.0)


def estimate_defocus(image: Region, *, screen: float | None = None) -> EdgeBlur:
    """The edge spread of an RGB (or grey) region (see the module docstring).

    With ``screen``, the ratio is first read over the region's strongest gradients
    (no edge tracing): off an edge's centre the ratio is closer to 1, so that reading
    can only be wider than the one on the edges themselves, and a region it reads
    under ``screen`` is returned with it (an upper bound) without tracing its edges.
    """
    grey = _grey(image)
    if min(grey.shape) < 16:
        return _NO_EDGES
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    again = cv2.GaussianBlur(grey, (0, 0), _REBLUR)
    sharp = cv2.magnitude(gx, gy)
    soft = cv2.magnitude(cv2.Sobel(again, cv2.CV_32F, 1, 0), cv2.Sobel(again, cv2.CV_32F, 0, 1))
    sample = sharp[::2, ::2].ravel()  # the thresholds from every fourth pixel
    ranks = (int(0.75 * (sample.size - 1)), int(0.92 * (sample.size - 1)))
    low, high = (float(v) for v in np.partition(sample, ranks)[list(ranks)])
    if high <= 0:
        return _NO_EDGES
    if screen is not None:
        strong = (sharp >= high) & (soft > 1.0)
        upper = _sigmas(np.asarray(sharp[strong] / soft[strong], np.float32))
        if upper.size >= _MIN_EDGES and float(np.median(upper)) < screen:
            return EdgeBlur(float(np.median(upper)), 1.0, int(upper.size))
    edges = cv2.Canny(np.clip(grey, 0, 255).astype(np.uint8), low, high, L2gradient=True)
    mask = (edges > 0) & (soft > 1.0)
    ratio = np.asarray(sharp[mask] / soft[mask], np.float32)
    keep = ratio > 1.01
    if int(keep.sum()) < _MIN_EDGES:
        return _NO_EDGES
    sigma = _sigmas(ratio)
    orientation = np.mod(np.arctan2(gy[mask][keep], gx[mask][keep]), np.pi)
    bins = np.floor(orientation / (np.pi / 4) + 0.5).astype(int) % 4
    medians = [
        float(np.median(sigma[bins == k])) for k in range(4) if (bins == k).sum() >= _MIN_EDGES
    ]
    anisotropy = max(medians) / max(min(medians), 1e-6) if len(medians) >= 2 else 1.0
    return EdgeBlur(float(np.median(sigma)), float(anisotropy), int(keep.sum()))


_PROFILE = 128  # DFT length of the second-difference profiles


@lru_cache(maxsize=1)
def _periodicity_band() -> NDArray[np.bool_]:
    f = np.fft.rfftfreq(_PROFILE)
    jpeg = np.zeros(f.shape, bool)
    for k in range(1, 5):  # the JPEG 8-px lattice and its harmonics
        jpeg |= np.abs(f - k / 8) < 1.5 / _PROFILE
    band = (f >= 1 / 12) & ~jpeg  # periods of 2 to 12 px
    band.setflags(write=False)
    return band


def resampling_periodicity(image: Region) -> float:
    """How strongly the region's second differences repeat with a common period along
    both axes: the spectral peak over the median (about 2–4 for a photo taken at its
    own resolution, higher for one upscaled from a coarser grid)."""
    grey = _grey(image)
    if min(grey.shape) < 16:
        return 0.0
    spectra = []
    for rows in (grey, grey.T):
        second = np.abs(rows[:, :-2] - 2.0 * rows[:, 1:-1] + rows[:, 2:]).mean(axis=0)
        second = (second - second.mean()) * np.hanning(second.size)
        power = np.abs(np.fft.rfft(second, n=_PROFILE))
        spectra.append(power / (float(np.median(power[_PROFILE // 12 :])) + 1e-9))
    common = np.minimum(spectra[0], spectra[1])  # the same period on both axes
    return float(common[_periodicity_band()].max())


def gaussian_kernel(sigma: float) -> NDArray[np.float32]:
    """A normalised isotropic Gaussian point-spread function, ±3σ, odd square size."""
    size = int(np.ceil(6.0 * sigma)) | 1
    line = cv2.getGaussianKernel(size, sigma, cv2.CV_64F)
    return (line @ line.T).astype(np.float32)
