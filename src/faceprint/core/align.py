"""Five-point face alignment: templates, similarity transforms and warping.

A face is aligned by the least-squares similarity transform (rotation, uniform scale,
translation; Umeyama 1991) that maps its five landmarks onto a model's canonical
template, then warped with bilinear interpolation. Pure numpy for the estimate; the
warp uses OpenCV's ``warpAffine`` (a pure function of its inputs).
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from faceprint.types import ImageArray

_ARCFACE_112: Final = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
# Intel OMZ face-reidentification-retail-0095 reference (normalised to a 96×112 crop
# in the OMZ face_recognition_demo), scaled to the model's 128×128 input.
_OMZ_0095_NORMALISED: Final = np.array(
    [
        [30.2946 / 96, 51.6963 / 112],
        [65.5318 / 96, 51.5014 / 112],
        [48.0252 / 96, 71.7366 / 112],
        [33.5493 / 96, 92.3655 / 112],
        [62.7299 / 96, 92.2041 / 112],
    ],
    dtype=np.float64,
)

TEMPLATES: Final[dict[str, tuple[NDArray[np.float64], int]]] = {
    "arcface_112": (_ARCFACE_112, 112),
    "omz_0095_128": (_OMZ_0095_NORMALISED * 128.0, 128),
}
"""Template name → (5×2 landmark positions in crop pixels, crop side in pixels)."""


def similarity_transform(
    src: NDArray[np.floating], dst: NDArray[np.floating]
) -> NDArray[np.float64]:
    """Least-squares similarity transform mapping ``src`` points onto ``dst`` points.

    Args:
        src: N×2 source points (N >= 2), e.g. detected landmarks in image pixels.
        dst: N×2 destination points, e.g. a template in crop pixels.

    Returns:
        The 2×3 float64 matrix ``M`` with ``dst ≈ M @ [x, y, 1]``.

    Raises:
        ValueError: shapes differ, fewer than two points, non-finite values, or all
            source points coincide.
    """
    s = np.asarray(src, dtype=np.float64)
    d = np.asarray(dst, dtype=np.float64)
    if s.shape != d.shape or s.ndim != 2 or s.shape[1] != 2 or s.shape[0] < 2:
        raise ValueError(f"need two N×2 arrays with N >= 2, got {s.shape} and {d.shape}")
    if not (np.isfinite(s).all() and np.isfinite(d).all()):
        raise ValueError("landmarks must be finite")
    s_mean, d_mean = s.mean(axis=0), d.mean(axis=0)
    s_c, d_c = s - s_mean, d - d_mean
    s_var = float((s_c**2).sum() / len(s))
    if s_var <= 1e-12:
        raise ValueError("source points coincide; cannot estimate a transform")
    cov = d_c.T @ s_c / len(s)
    u, sing, vt = np.linalg.svd(cov)
    reflect = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        reflect[1, 1] = -1.0
    rotation = u @ reflect @ vt
    scale = float(np.trace(np.diag(sing) @ reflect) / s_var)
    translation = d_mean - scale * rotation @ s_mean
    return np.hstack([scale * rotation, translation[:, None]])


def alignment_matrix(landmarks_5: NDArray[np.floating], template: str) -> NDArray[np.float64]:
    """The 2×3 matrix mapping image pixels onto the named template's crop.

    Raises:
        KeyError: unknown template name.
        ValueError: see :func:`similarity_transform`.
    """
    points, _ = TEMPLATES[template]
    return similarity_transform(np.asarray(landmarks_5).reshape(5, 2), points)


def warp_to(
    image: ImageArray,
    matrix: NDArray[np.float64],
    *,
    width: int,
    height: int,
    replicate: bool = False,
) -> ImageArray:
    """Warp ``image`` (H×W×C uint8) with a 2×3 ``matrix`` into a ``width``×``height`` crop.

    Bilinear interpolation. Pixels that fall outside the source are black, or copies of
    the nearest edge pixel with ``replicate``.
    """
    out = cv2.warpAffine(
        image,
        matrix.astype(np.float32),
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE if replicate else cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.ascontiguousarray(out, dtype=np.uint8)


def warp(image: ImageArray, matrix: NDArray[np.float64], size: int) -> ImageArray:
    """Warp ``image`` with a 2×3 ``matrix`` into a ``size``×``size`` crop (black border)."""
    return warp_to(image, matrix, width=size, height=size)


def align(
    image: ImageArray, landmarks_5: NDArray[np.floating], *, template: str
) -> tuple[ImageArray, NDArray[np.float64]]:
    """Align a face onto a template.

    Args:
        image: H×W×3 uint8 image the landmarks refer to.
        landmarks_5: 5×2 landmarks in image pixels (left eye, right eye, nose, left
            mouth, right mouth; left as seen in the image).
        template: a key of :data:`TEMPLATES`.

    Returns:
        ``(crop, matrix)``: the S×S×3 uint8 crop and the 2×3 image→crop matrix.
    """
    matrix = alignment_matrix(landmarks_5, template)
    return warp(image, matrix, TEMPLATES[template][1]), matrix


def box_crop_matrix(
    bbox_xyxy: tuple[float, float, float, float],
    *,
    width: int,
    height: int,
    scale: float = 1.0,
    square: bool = False,
) -> NDArray[np.float64]:
    """The 2×3 matrix that maps a (scaled) box onto a ``width``×``height`` crop.

    The box is scaled about its centre by ``scale``; with ``square`` its shorter side is
    first grown to the longer one. No rotation. Used to feed box-based models (landmark
    regressors, attribute and liveness models).
    """
    x1, y1, x2, y2 = bbox_xyxy
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    w, h = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
    if square:
        w = h = max(w, h)
    w, h = w * scale, h * scale
    left, top = cx - w / 2.0, cy - h / 2.0
    return np.array(
        [[width / w, 0.0, -left * width / w], [0.0, height / h, -top * height / h]],
        dtype=np.float64,
    )


def invert_affine(matrix: NDArray[np.float64]) -> NDArray[np.float64]:
    """Inverse of a 2×3 affine matrix (crop→image for an image→crop matrix)."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def transform_points(
    points: NDArray[np.floating], matrix: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Apply a 2×3 affine matrix to N×2 points."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return p @ matrix[:, :2].T + matrix[:, 2]
