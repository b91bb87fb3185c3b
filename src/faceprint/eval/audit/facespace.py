"""An eigenface space built from other people's photos, and images rendered from it.

The score-only model-inversion attack (:mod:`faceprint.eval.audit.inversion`) searches
for a face in a low-dimensional space an attacker can build without any access to the
target: principal components of aligned face crops of *other* people. Every crop is
aligned the way the embedders align faces (the five-point ``arcface_112`` template,
:mod:`faceprint.core.align`), but shrunk to ``face_scale`` of a ``crop_size`` square so
that hair, chin and background around the face are part of the crop — the detector of
the attacked service needs that context to find a face in a rendered image.

The space is plain numpy (mean, orthonormal components, per-component standard
deviations, the crop layout) and is saved as ``.npz`` without pickle, so a run can be
repeated against a service without any model loaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from faceprint.core.align import TEMPLATES, similarity_transform, warp_to
from faceprint.errors import NoFaceError
from faceprint.media.images import load_image
from faceprint.pipeline import FacePipeline
from faceprint.types import ImageArray, Progress

__all__ = ["FaceSpace", "aligned_crop", "build_face_space", "fit_face_space", "render"]

TEMPLATE: Final = "arcface_112"
"""The alignment template the crops share (SFace's; reid-0095's differs by a few pixels)."""
_BATCH: Final = 32


@dataclass(frozen=True, eq=False)
class FaceSpace:
    """PCA of aligned face crops: ``crop = mean + (z * scales) @ components``.

    Attributes:
        mean: the mean crop, flattened (``crop_size² · 3`` float32, pixel units 0–255).
        components: K×D orthonormal rows (principal directions), float32.
        scales: K standard deviations of the training crops along the components
            (descending), so whitened coefficients ``z`` of a typical face are ~N(0, 1).
        crop_size: side of the square crop in pixels.
        face_scale: fraction of ``crop_size`` the 112-pixel alignment template spans.
        render_size: side of the images :func:`render` returns (the crop upscaled).
        samples: number of crops the PCA was fitted on (mirrored copies included).
    """

    mean: NDArray[np.float32]
    components: NDArray[np.float32]
    scales: NDArray[np.float32]
    crop_size: int
    face_scale: float
    render_size: int
    samples: int

    @property
    def dimension(self) -> int:
        """Number of components K (the dimension of the search space)."""
        return int(self.components.shape[0])

    @property
    def pixel_spread(self) -> float:
        """Root-mean-square standard deviation of a pixel channel over the space's faces
        (grey levels): how much one whitened unit moves the pixels on average."""
        total = float(np.square(self.scales.astype(np.float64)).sum())
        return math.sqrt(total / self.mean.shape[0])

    def crop(self, coeffs: NDArray[np.floating]) -> NDArray[np.float32]:
        """The crop (S×S×3 float32, unclipped) at whitened coefficients ``coeffs``."""
        z = np.asarray(coeffs, dtype=np.float32).reshape(self.dimension)
        flat = self.mean + (z * self.scales) @ self.components
        return np.asarray(flat, np.float32).reshape(self.crop_size, self.crop_size, 3)

    def project(self, crop: NDArray[np.generic]) -> NDArray[np.float64]:
        """Whitened coefficients of an aligned crop (its closest point in the space)."""
        flat = np.asarray(crop, dtype=np.float32).reshape(-1) - self.mean
        return (self.components @ flat).astype(np.float64) / self.scales.astype(np.float64)

    def save(self, path: str | Path) -> Path:
        """Write the space as an ``.npz`` (plain arrays, no pickle); returns the path."""
        target = Path(path)
        with target.open("wb") as fh:
            np.savez(
                fh,
                mean=self.mean,
                components=self.components,
                scales=self.scales,
                layout=np.array([self.crop_size, self.render_size, self.samples], np.int64),
                face_scale=np.array([self.face_scale], np.float64),
            )
        return target

    @classmethod
    def load(cls, path: str | Path) -> FaceSpace:
        """Read a space written by :meth:`save` (pickled objects are refused).

        Raises:
            ValueError: the file is not a face space or its arrays disagree.
        """
        with np.load(Path(path), allow_pickle=False) as data:
            try:
                mean = np.asarray(data["mean"], np.float32)
                components = np.asarray(data["components"], np.float32)
                scales = np.asarray(data["scales"], np.float32)
                crop_size, render_size, samples = (int(v) for v in data["layout"])
                face_scale = float(data["face_scale"][0])
            except KeyError as exc:
                raise ValueError(f"{path}: not a face space ({exc} missing)") from exc
        if (
            mean.shape != (crop_size * crop_size * 3,)
            or components.ndim != 2
            or components.shape[1] != mean.shape[0]
            or scales.shape != (components.shape[0],)
        ):
            raise ValueError(f"{path}: face space arrays have inconsistent shapes")
        return cls(mean, components, scales, crop_size, face_scale, render_size, samples)


def layout_points(crop_size: int, face_scale: float) -> NDArray[np.float64]:
    """Where the five landmarks go in a crop: the 112-pixel template, scaled by
    ``face_scale · crop_size / 112`` about the crop's centre."""
    points, side = TEMPLATES[TEMPLATE]
    return (points - side / 2.0) * (face_scale * crop_size / side) + crop_size / 2.0


def aligned_crop(
    image: ImageArray, landmarks_5: NDArray[np.floating], *, crop_size: int, face_scale: float
) -> ImageArray:
    """The face at ``landmarks_5`` aligned into the space's crop layout (S×S×3 uint8).

    Pixels beyond the photo repeat its edge, so a face near the border does not bring a
    black band into the PCA.
    """
    matrix = similarity_transform(
        np.asarray(landmarks_5, np.float64).reshape(5, 2), layout_points(crop_size, face_scale)
    )
    return warp_to(image, matrix, width=crop_size, height=crop_size, replicate=True)


def _mirrored(crop: ImageArray) -> ImageArray:
    """The crop flipped left–right: the layout is symmetric, so this is another aligned
    face (eyes and mouth corners swap places, as in a mirror)."""
    return np.ascontiguousarray(crop[:, ::-1])


def build_face_space(
    pipeline: FacePipeline,
    images: Sequence[Path | str | ImageArray],
    *,
    components: int = 128,
    crop_size: int = 96,
    face_scale: float = 0.7,
    render_size: int = 192,
    mirror: bool = True,
    progress: Progress | None = None,
) -> FaceSpace:
    """Fit a PCA face space to the primary face of each image (images without a face
    are skipped).

    Faces are found with ``pipeline``'s detector and refined landmarks, aligned as
    :func:`aligned_crop`, and (with ``mirror``) also used flipped, which doubles the
    data and makes the space left–right symmetric. PCA is an SVD of the centred crops;
    at most ``samples - 1`` components carry variance, so fewer than ``components`` may
    be kept.

    Defaults: a 96-pixel crop with the face spanning 70 % of it (about 67 pixels across
    the template, half of what the embedders sample, which is all the detail a
    ~100-component PCA reproduces anyway) rendered at 192 pixels (faces well above the
    detector's 32-pixel minimum, images small enough to keep each query cheap).

    Raises:
        ValueError: fewer than two faces were found, or a layout parameter is invalid.
    """
    if not 0.2 <= face_scale <= 1.0 or crop_size < 16 or render_size < crop_size:
        raise ValueError("need 0.2 <= face_scale <= 1, crop_size >= 16, render_size >= crop")
    crops: list[ImageArray] = []
    total = len(images)
    for start in range(0, total, _BATCH):
        chunk = [
            item if isinstance(item, np.ndarray) else load_image(item)
            for item in images[start : start + _BATCH]
        ]
        for image, found in zip(chunk, pipeline.detect_batch(chunk), strict=True):
            try:
                det = pipeline.primary_detection(image, detections=found)
            except NoFaceError:
                continue
            crop = aligned_crop(
                image, det.landmarks_array(), crop_size=crop_size, face_scale=face_scale
            )
            crops.append(crop)
            if mirror:
                crops.append(_mirrored(crop))
        if progress is not None:
            progress(min(start + _BATCH, total), total, "face space")
    if len(crops) < 2:
        raise ValueError(f"need at least two faces for a face space, found {len(crops)}")
    return fit_face_space(
        np.stack(crops), components=components, face_scale=face_scale, render_size=render_size
    )


def fit_face_space(
    crops: NDArray[np.uint8], *, components: int, face_scale: float, render_size: int
) -> FaceSpace:
    """PCA (by SVD of the centred data) of N aligned S×S×3 crops."""
    n, size = crops.shape[0], crops.shape[1]
    data = crops.reshape(n, -1).astype(np.float32)
    mean = data.mean(axis=0)
    _, singular, vt = np.linalg.svd(data - mean, full_matrices=False)
    scales = singular / np.sqrt(max(n - 1, 1))
    keep = min(components, n - 1, int((scales > 1e-3 * scales[0]).sum()))
    return FaceSpace(
        mean=mean.astype(np.float32),
        components=np.ascontiguousarray(vt[:keep], dtype=np.float32),
        scales=scales[:keep].astype(np.float32),
        crop_size=int(size),
        face_scale=float(face_scale),
        render_size=int(render_size),
        samples=int(n),
    )


def render(space: FaceSpace, coeffs: NDArray[np.floating]) -> ImageArray:
    """The RGB image (``render_size``² × 3 uint8) of the face at whitened ``coeffs``.

    The crop is clipped to pixel range and upscaled bicubically; its margin (hair,
    background averaged over the training photos) surrounds the face, so the service's
    detector sees a whole head, not a bare face patch.
    """
    crop = np.clip(space.crop(coeffs), 0.0, 255.0)
    big = cv2.resize(crop, (space.render_size, space.render_size), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(np.clip(np.rint(big), 0, 255).astype(np.uint8))
