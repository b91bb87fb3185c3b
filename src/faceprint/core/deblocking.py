"""JPEG deblocking by re-application: read the quality a face was compressed at from
its own DCT coefficients, then average re-compressions at that quality over shifts of
the block grid (Nosratinia 2001).

- :func:`jpeg_quality` — decoded JPEG luminance, cut into the encoder's 8×8 blocks,
  has DCT coefficients on the lattice of each frequency's quantisation step. The IJG
  quality (libjpeg's scaling of the standard tables of ITU-T T.81 Annex K, which
  libjpeg, libjpeg-turbo, Pillow and OpenCV use) whose steps put the low-frequency
  coefficients closest to their lattices is the estimate; a region that fits no
  table (never compressed on this grid, or by an encoder with other tables) has none.
- :func:`reapply_jpeg` — compressing a shifted copy at the same quality puts block
  edges elsewhere; the average of the shifts keeps what every grid agrees on (the
  picture) and melts the edges each grid adds.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from numpy.typing import NDArray

from faceprint.types import ImageArray

__all__ = ["jpeg_quality", "reapply_jpeg"]

# The IJG (Annex K) luminance quantisation table at quality 50.
_LUMINANCE = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    np.float64,
)
# Low frequencies: the most energy, so the clearest lattices.
_FREQUENCIES = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0), (1, 2), (2, 1), (2, 2))
_FIT = 0.9  # mean lattice fit (1 on the lattice, 0 for coefficients spread evenly)
_TIE = 0.02  # fits this close to the best are ties, resolved to the coarsest table


@lru_cache(maxsize=1)
def _steps() -> NDArray[np.float64]:
    """Quantisation steps at _FREQUENCIES for IJG qualities 1…100, shape (100, 8)."""
    out = np.empty((100, len(_FREQUENCIES)))
    for quality in range(1, 101):
        scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
        table = np.clip(np.floor((_LUMINANCE * scale + 50.0) / 100.0), 1, 255)
        out[quality - 1] = [table[u, v] for u, v in _FREQUENCIES]
    out.setflags(write=False)
    return out


def jpeg_quality(image: ImageArray) -> int | None:
    """The IJG quality an RGB region whose top-left pixel is on the 8×8 JPEG grid was
    compressed at, or ``None`` when no quality's quantisation fits it."""
    luma = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YCrCb)[..., 0]
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    if h < 16 or w < 16:
        return None
    blocks = (
        (luma[:h, :w].astype(np.float32) - 128.0)
        .reshape(h // 8, 8, w // 8, 8)
        .transpose(0, 2, 1, 3)
        .reshape(-1, 8, 8)
    )
    coefficients = np.stack([cv2.dct(block) for block in blocks])
    values = np.stack([coefficients[:, u, v] for u, v in _FREQUENCIES], axis=1)  # (n, 8)
    steps = _steps()
    # distance of each coefficient to its lattice, as a phase: cos 2π·r is 1 on it
    phase = values[None, :, :] / steps[:, None, :]
    fit = np.cos(2.0 * np.pi * (phase - np.rint(phase))).mean(axis=(1, 2))
    best = float(fit.max())
    if best < _FIT:
        return None
    # a lattice of step Q also fits Q/2, Q/3…: among the best fits, the coarsest steps
    return int(np.flatnonzero(fit >= best - _TIE)[0]) + 1


def _recompress(image: ImageArray, quality: int) -> ImageArray:
    ok, data = cv2.imencode(
        ".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("JPEG re-compression failed")
    return np.ascontiguousarray(decoded[:, :, ::-1])


def reapply_jpeg(image: ImageArray, quality: int, *, step: int = 2) -> ImageArray:
    """The mean of re-compressions of an RGB region at ``quality``, the block grid
    shifted by every ``step`` pixels (``step`` 2: 16 shifts)."""
    pad = 8
    padded: ImageArray = np.asarray(
        cv2.copyMakeBorder(np.ascontiguousarray(image), pad, pad, pad, pad, cv2.BORDER_REFLECT),
        np.uint8,
    )
    h, w = image.shape[:2]
    total = np.zeros(image.shape, np.float32)
    shifts = 0
    for dy in range(0, 8, step):
        for dx in range(0, 8, step):
            again = _recompress(padded[dy:, dx:], quality)
            total += again[pad - dy : pad - dy + h, pad - dx : pad - dx + w]
            shifts += 1
    return np.clip(np.rint(total / shifts), 0, 255).astype(np.uint8)
