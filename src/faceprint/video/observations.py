"""Per-observation helpers of video recognition: a cheap quality, the crops kept for
gating, and which detections crowd (where IoU alone may hand a face to the wrong
track)."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from faceprint.core.boxes import iou_matrix
from faceprint.core.quality import crop_measures
from faceprint.types import BBox, Detection

__all__ = ["crop", "crowded", "observation_quality", "shifted", "window"]


def observation_quality(image: np.ndarray, detection: Detection) -> float:
    """A cheap quality in [0, 1]: detector score × size × sharpness × frontality."""
    x1, y1, x2, y2 = detection.bbox_xyxy
    h, w = image.shape[:2]
    side = min(x2 - x1, y2 - y1)
    size = min(1.0, max(0.0, side) / 112.0)
    ix1, iy1 = max(0, int(x1)), max(0, int(y1))
    ix2, iy2 = min(w, math.ceil(x2)), min(h, math.ceil(y2))
    if ix2 - ix1 < 4 or iy2 - iy1 < 4:
        return 0.0
    crop = np.asarray(
        cv2.resize(image[iy1:iy2, ix1:ix2], (64, 64), interpolation=cv2.INTER_AREA), np.uint8
    )
    sharpness = min(1.0, crop_measures(crop)[0] / 0.3)
    points = detection.landmarks_array()
    eye_mid = (points[0] + points[1]) / 2
    eye_dist = float(np.linalg.norm(points[1] - points[0])) + 1e-6
    offset = abs(float(points[2][0] - eye_mid[0])) / eye_dist  # 0 frontal, ~0.5 in profile
    frontal = max(0.0, 1.0 - 2.0 * offset)
    return float(detection.score * size * (0.3 + 0.7 * sharpness) * (0.3 + 0.7 * frontal))


def window(image: np.ndarray, box: BBox, margin: float) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = image.shape[:2]
    return max(0, int(x1 - mw)), max(0, int(y1 - mh)), min(w, int(x2 + mw)), min(h, int(y2 + mh))


def crop(image: np.ndarray, box: BBox, margin: float = 0.3) -> np.ndarray:
    ix1, iy1, ix2, iy2 = window(image, box, margin)
    return np.ascontiguousarray(image[iy1:iy2, ix1:ix2])


def shifted(det: Detection, dx: float, dy: float) -> Detection:
    x1, y1, x2, y2 = det.bbox_xyxy
    points = tuple((x - dx, y - dy) for x, y in det.landmarks_array().tolist())
    return replace(
        det,
        bbox_xyxy=(x1 - dx, y1 - dy, x2 - dx, y2 - dy),
        landmarks_5=points,  # type: ignore[arg-type]
    )


def crowded(predicted: dict[int, BBox], detections: list[Detection], min_iou: float) -> list[int]:
    """Indices of detections that could be matched (IoU above ``min_iou``) to more
    than one track, or to a track that could take more than one detection: where IoU
    alone may hand a face to the wrong track."""
    if len(detections) < 1 or len(predicted) < 1 or len(predicted) + len(detections) < 3:
        return []
    boxes = [d.bbox_xyxy for d in detections]
    touching = iou_matrix(list(predicted.values()), boxes) > min_iou
    crowded_rows = touching.sum(axis=1) >= 2
    crowded = (touching.sum(axis=0) >= 2) | touching[crowded_rows].any(axis=0)
    return [int(i) for i in np.flatnonzero(crowded)]
