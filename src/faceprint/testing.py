"""Public fakes so code built on faceprint can be tested without model weights.

The fakes follow a simple visual convention: on a black background, every distinct
non-black colour is one "face" whose box is the extent of that colour. The fake
embedder maps a colour to a fixed random unit vector (plus optional noise), so images
that share a colour are "the same person".

    >>> from faceprint.testing import FakeDetector, FakeEmbedder, draw_face
    >>> pipeline = FacePipeline(detector=FakeDetector(), embedder=FakeEmbedder())
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from faceprint.core.calibration import CalibrationCurve
from faceprint.types import Detection, ImageArray, Landmarks5


def draw_face(
    image: ImageArray, colour: tuple[int, int, int], box: tuple[int, int, int, int]
) -> ImageArray:
    """Paint a fake face (a filled rectangle ``x1, y1, x2, y2``) in ``colour``; in place."""
    x1, y1, x2, y2 = box
    image[y1:y2, x1:x2] = colour
    return image


def fake_image(
    *faces: tuple[tuple[int, int, int], tuple[int, int, int, int]],
    size: tuple[int, int] = (120, 200),
) -> ImageArray:
    """A black ``height × width`` image with a fake face per ``(colour, box)``."""
    image = np.zeros((*size, 3), np.uint8)
    for colour, box in faces:
        draw_face(image, colour, box)
    return image


class FakeDetector:
    """Finds each distinct non-black colour as one face (box = its extent, score 0.99)."""

    name = "fake-detector"

    def __init__(self, *, max_faces: int = 32) -> None:
        self._max_faces = max_faces

    def detect(self, image: ImageArray) -> list[Detection]:
        flat = image.reshape(-1, 3)
        mask = flat.any(axis=1)
        if not mask.any():
            return []
        colours = np.unique(flat[mask], axis=0)[: self._max_faces]
        width = image.shape[1]
        out = []
        for colour in colours:
            hits = np.flatnonzero((flat == colour).all(axis=1))
            ys, xs = hits // width, hits % width
            x1, y1, x2, y2 = (
                float(xs.min()),
                float(ys.min()),
                float(xs.max() + 1),
                float(ys.max() + 1),
            )
            w, h = x2 - x1, y2 - y1
            landmarks: Landmarks5 = (
                (x1 + 0.3 * w, y1 + 0.4 * h),
                (x1 + 0.7 * w, y1 + 0.4 * h),
                (x1 + 0.5 * w, y1 + 0.6 * h),
                (x1 + 0.35 * w, y1 + 0.8 * h),
                (x1 + 0.65 * w, y1 + 0.8 * h),
            )
            out.append(Detection((x1, y1, x2, y2), 0.99, landmarks))
        return out


class FakeEmbedder:
    """Maps a face's colour (its centre pixel) to a fixed unit vector."""

    def __init__(self, *, dimension: int = 64, noise: float = 0.0, model_id: str = "fake") -> None:
        self.dimension = dimension
        self.model_id = model_id
        self._noise = noise
        self._rng = np.random.default_rng(0)

    def vector_for(self, colour: Sequence[int]) -> NDArray[np.float32]:
        """The identity vector of a colour (unit norm)."""
        seed = int.from_bytes(hashlib.sha256(bytes(int(c) for c in colour)).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(self.dimension).astype(np.float32)
        return (v / np.linalg.norm(v)).astype(np.float32)

    def embed(self, faces: Sequence[tuple[ImageArray, Detection]]) -> NDArray[np.float32]:
        out = np.zeros((len(faces), self.dimension), dtype=np.float32)
        for i, (image, det) in enumerate(faces):
            x1, y1, x2, y2 = det.bbox_xyxy
            cy = min(int((y1 + y2) / 2), image.shape[0] - 1)
            cx = min(int((x1 + x2) / 2), image.shape[1] - 1)
            v = self.vector_for(image[cy, cx])
            if self._noise:
                v = v + self._noise * self._rng.standard_normal(self.dimension).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def fake_calibration(*, dimension: int = 64) -> CalibrationCurve:
    """An analytic calibration for random unit vectors in ``dimension`` dimensions.

    Cosines of independent random unit vectors are ~N(0, 1/d); thresholds are the
    normal upper quantiles, which is exact enough for tests of threshold logic.
    """
    from statistics import NormalDist

    fmrs = tuple(float(f) for f in 10.0 ** np.linspace(-1, -6, 26))
    sigma = 1.0 / np.sqrt(dimension)
    sims = tuple(float(NormalDist(0.0, sigma).inv_cdf(1.0 - f)) for f in fmrs)
    return CalibrationCurve(
        fmr=fmrs, similarity=sims, dataset="analytic (random unit vectors)", impostor_pairs=10**8
    )
