"""Box geometry: overlap, flags for marginal faces, choosing the primary face."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from faceprint.types import BBox, Detection, FaceIssue


def iou(a: BBox, b: BBox) -> float:
    """Intersection over union of two ``xyxy`` boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def face_issues(
    bbox_xyxy: BBox,
    score: float,
    *,
    image_width: int,
    image_height: int,
    min_face_size: float,
    low_score: float,
    border_margin: float,
) -> tuple[FaceIssue, ...]:
    """Flags for a face that may be unreliable.

    * ``too_small``: the shorter box side is below ``min_face_size`` pixels;
    * ``near_border``: the box extends beyond the image by more than ``border_margin``
      times its width (horizontally) or height (vertically), i.e. the face is cut off;
    * ``low_score``: the detector score is below ``low_score``.
    """
    x1, y1, x2, y2 = bbox_xyxy
    w, h = x2 - x1, y2 - y1
    issues: list[FaceIssue] = []
    if min(w, h) < min_face_size:
        issues.append(FaceIssue.TOO_SMALL)
    out_x = max(0.0, -x1) + max(0.0, x2 - image_width)
    out_y = max(0.0, -y1) + max(0.0, y2 - image_height)
    if out_x > border_margin * w or out_y > border_margin * h:
        issues.append(FaceIssue.NEAR_BORDER)
    if score < low_score:
        issues.append(FaceIssue.LOW_SCORE)
    return tuple(issues)


def primary_face_index(
    detections: Sequence[Detection], *, image_width: int, image_height: int
) -> int:
    """Index of the face a single-subject photo is about.

    Each face is scored by its box area minus twice the squared distance (in pixels)
    of its centre from the image centre — the "main face" rule InsightFace's tools use
    — so a large face wins unless it is far off-centre, and the score is independent
    of the image scale. Ties keep the earlier detection.

    Raises:
        ValueError: ``detections`` is empty.
    """
    if not detections:
        raise ValueError("no detections to choose from")
    cx, cy = image_width / 2.0, image_height / 2.0
    best, best_value = 0, -np.inf
    for i, det in enumerate(detections):
        x1, y1, x2, y2 = det.bbox_xyxy
        area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
        offset = ((x1 + x2) / 2.0 - cx) ** 2 + ((y1 + y2) / 2.0 - cy) ** 2
        value = area - 2.0 * offset
        if value > best_value:
            best, best_value = i, value
    return best


def context_box(bbox_xyxy: BBox, *, scale: float, image_width: int, image_height: int) -> BBox:
    """The face box enlarged ``scale`` times about its centre, shifted (not clipped) to
    stay inside the image, as Silent-Face's MiniFASNet models were trained on.

    The scale is reduced if the enlarged box would not fit in the image at all.
    """
    x1, y1, x2, y2 = bbox_xyxy
    w, h = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
    scale = min((image_height - 1) / h, (image_width - 1) / w, scale)
    nw, nh = w * scale, h * scale
    cx, cy = x1 + w / 2.0, y1 + h / 2.0
    left, top, right, bottom = cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0
    if left < 0:
        right, left = right - left, 0.0
    if top < 0:
        bottom, top = bottom - top, 0.0
    if right > image_width - 1:
        left, right = left - (right - image_width + 1), image_width - 1.0
    if bottom > image_height - 1:
        top, bottom = top - (bottom - image_height + 1), image_height - 1.0
    return (left, top, right, bottom)


def iou_matrix(a: Sequence[BBox], b: Sequence[BBox]) -> NDArray[np.float64]:
    """Pairwise intersection over union of two lists of ``xyxy`` boxes."""
    if not a or not b:
        return np.zeros((len(a), len(b)))
    p = np.asarray(a, dtype=np.float64)[:, None, :]
    q = np.asarray(b, dtype=np.float64)[None, :, :]
    w = np.clip(np.minimum(p[..., 2], q[..., 2]) - np.maximum(p[..., 0], q[..., 0]), 0, None)
    h = np.clip(np.minimum(p[..., 3], q[..., 3]) - np.maximum(p[..., 1], q[..., 1]), 0, None)
    inter = w * h
    area_a = (p[..., 2] - p[..., 0]) * (p[..., 3] - p[..., 1])
    area_b = (q[..., 2] - q[..., 0]) * (q[..., 3] - q[..., 1])
    return np.asarray(inter / np.maximum(area_a + area_b - inter, 1e-9))
