"""Simulated presentation attacks, generated from bona fide photos to stress liveness.

These are *simulations* of re-capturing a face from a screen, a print or a photo held
in front of a camera — useful to see which artefacts a liveness model reacts to, not a
substitute for real attack presentations (ISO/IEC 30107-3 asks for real ones).
Deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from faceprint.types import ImageArray

Attack = Callable[[ImageArray, np.random.Generator], ImageArray]


def _jpeg(image: ImageArray, quality: int) -> ImageArray:
    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        return image
    decoded = np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), dtype=np.uint8)
    return np.ascontiguousarray(decoded[:, :, ::-1])


def screen_replay(image: ImageArray, rng: np.random.Generator) -> ImageArray:
    """A face shown on a screen and re-captured: moiré, glare, blue cast, softness."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0.05, 0.3)
    period = rng.uniform(2.5, 4.5)
    moire = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    moire *= np.sin(xx * 2 * np.pi / (period * 1.07))
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    glare = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * (0.25 * max(h, w)) ** 2)))
    out = image.astype(np.float32) * np.array([0.92, 0.97, 1.08], np.float32)
    out = out + 14.0 * moire[..., None] + 70.0 * glare[..., None]
    out = cv2.GaussianBlur(np.clip(out, 0, 255), (0, 0), 0.8)
    return _jpeg(np.clip(out, 0, 255).astype(np.uint8), 75)


def printed_photo(image: ImageArray, rng: np.random.Generator) -> ImageArray:
    """A face printed on paper and re-captured: lower contrast and saturation, warm
    cast, paper grain, slight blur."""
    out = image.astype(np.float32)
    grey = out.mean(axis=2, keepdims=True)
    out = grey + 0.6 * (out - grey)  # desaturate
    out = 128 + 0.75 * (out - 128)  # flatten contrast
    out *= np.array([1.06, 1.0, 0.88], np.float32)  # warm ink/paper cast
    grain = cv2.GaussianBlur(rng.normal(0, 1, image.shape[:2]).astype(np.float32), (0, 0), 1.2)
    out += 10.0 * grain[..., None]
    out = cv2.GaussianBlur(np.clip(out, 0, 255), (0, 0), 1.0)
    return _jpeg(np.clip(out, 0, 255).astype(np.uint8), 80)


def photo_of_photo(image: ImageArray, rng: np.random.Generator) -> ImageArray:
    """A hand-held photo re-captured at an angle in front of a background."""
    h, w = image.shape[:2]
    background = np.full_like(image, int(rng.integers(40, 200)))
    background = np.clip(
        background.astype(np.float32) + rng.normal(0, 12, image.shape), 0, 255
    ).astype(np.uint8)
    scale = rng.uniform(0.75, 0.9)
    jitter = rng.uniform(-0.06, 0.06, (4, 2)) * np.array([w, h])
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    centre = np.array([w, h]) / 2
    dst = (src - centre) * scale + centre + jitter
    matrix = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(image, matrix, (w, h), borderValue=0)
    mask = cv2.warpPerspective(np.ones((h, w), np.uint8), matrix, (w, h)) > 0
    composed = np.where(mask[..., None], warped, background).astype(np.float32)
    blurred = cv2.GaussianBlur(composed * rng.uniform(0.8, 0.95), (0, 0), 0.7)
    return _jpeg(np.clip(blurred, 0, 255).astype(np.uint8), 80)


ATTACKS: dict[str, Attack] = {
    "screen_replay": screen_replay,
    "printed_photo": printed_photo,
    "photo_of_photo": photo_of_photo,
}
