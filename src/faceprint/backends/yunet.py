"""YuNet face detector (OpenCV zoo), run by OpenCV's FaceDetectorYN."""

from __future__ import annotations

import numpy as np

from faceprint.config import PipelineConfig
from faceprint.core.boxes import face_issues
from faceprint.models.runtime import OpenCVFaceDetector
from faceprint.types import BBox, Detection, ImageArray, Landmarks5


class YuNetDetector:
    """Boxes, scores and five landmarks at any image size.

    Images whose longer side exceeds ``max_side`` pixels are downscaled for detection
    (boxes and landmarks are mapped back to the full-resolution image).
    """

    def __init__(
        self,
        runner: OpenCVFaceDetector,
        *,
        config: PipelineConfig,
        max_side: int = 1920,
        name: str = "yunet",
    ) -> None:
        self._runner = runner
        self._config = config
        self._max_side = max_side
        self.name = name

    def detect(self, image: ImageArray) -> list[Detection]:
        """Faces in an H×W×3 RGB uint8 image, best score first."""
        import cv2

        height, width = image.shape[:2]
        scale = 1.0
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        if max(height, width) > self._max_side:
            scale = self._max_side / max(height, width)
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            bgr = np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        rows = self._runner.detect(bgr)
        detections = []
        for row in rows:
            score = float(row[14])
            if score < self._config.min_score:
                continue
            x, y, w, h = (float(v) / scale for v in row[:4])
            bbox: BBox = (x, y, x + w, y + h)
            pts = row[4:14].reshape(5, 2) / scale
            landmarks: Landmarks5 = tuple((float(px), float(py)) for px, py in pts)  # type: ignore[assignment]
            issues = face_issues(
                bbox,
                score,
                image_width=width,
                image_height=height,
                min_face_size=self._config.min_face_size,
                low_score=self._config.low_score,
                border_margin=self._config.border_margin,
            )
            detections.append(Detection(bbox, score, landmarks, issues))
        detections.sort(key=lambda d: -d.score)
        return detections
