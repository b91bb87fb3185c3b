"""YuNet face detector (OpenCV zoo), run by OpenCV's FaceDetectorYN."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from faceprint.config import PipelineConfig
from faceprint.core.boxes import face_issues
from faceprint.models.runtime import OpenCVFaceDetector, Session
from faceprint.types import BBox, Detection, ImageArray, Landmarks5


class YuNetDetector:
    """Boxes, scores and five landmarks at any image size.

    Images whose longer side exceeds ``max_side`` pixels are downscaled for detection
    (boxes and landmarks are mapped back to the full-resolution image).
    """

    def __init__(
        self,
        runner: OpenCVFaceDetector | TorchYuNetRunner,
        *,
        config: PipelineConfig,
        max_side: int = 1920,
        name: str = "yunet",
    ) -> None:
        self._runner = runner
        self._config = config
        self._max_side = max_side
        self.name = name

    def _prepare(self, image: ImageArray) -> tuple[NDArray[np.uint8], float]:
        import cv2

        height, width = image.shape[:2]
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        if max(height, width) <= self._max_side:
            return bgr, 1.0
        scale = self._max_side / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        return np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), np.uint8), scale

    def _detections(
        self, rows: NDArray[np.float32], scale: float, width: int, height: int
    ) -> list[Detection]:
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

    def detect(self, image: ImageArray) -> list[Detection]:
        """Faces in an H×W×3 RGB uint8 image, best score first."""
        bgr, scale = self._prepare(image)
        return self._detections(self._runner.detect(bgr), scale, image.shape[1], image.shape[0])

    def detect_batch(self, images: Sequence[ImageArray]) -> list[list[Detection]]:
        """:meth:`detect` for many images; one forward pass per input size on the torch path."""
        prepared = [self._prepare(image) for image in images]
        bgrs = [bgr for bgr, _ in prepared]
        if isinstance(self._runner, TorchYuNetRunner):
            rows = self._runner.detect_batch(bgrs)
        else:
            rows = [self._runner.detect(bgr) for bgr in bgrs]
        return [
            self._detections(r, scale, image.shape[1], image.shape[0])
            for r, (_, scale), image in zip(rows, prepared, images, strict=True)
        ]


STRIDES = (8, 16, 32)


def decode_yunet(
    outputs: list[NDArray[np.float32]],
    *,
    pad_width: int,
    pad_height: int,
    score_threshold: float,
) -> NDArray[np.float32]:
    """Decode YuNet's 12 head outputs for one image into N×15 rows (x, y, w, h, five
    landmark pairs, score), before NMS — the same arithmetic as OpenCV's FaceDetectorYN.

    ``outputs`` are cls_8, cls_16, cls_32, obj_*, bbox_*, kps_* for a single image
    (leading batch dimension removed).
    """
    rows = []
    for i, stride in enumerate(STRIDES):
        cols = pad_width // stride
        cls = np.clip(outputs[i].reshape(-1), 0.0, 1.0)
        obj = np.clip(outputs[i + 3].reshape(-1), 0.0, 1.0)
        bbox = outputs[i + 6].reshape(-1, 4)
        kps = outputs[i + 9].reshape(-1, 10)
        score = np.sqrt(cls * obj)
        keep = np.flatnonzero(score >= score_threshold)
        if keep.size == 0:
            continue
        r, c = np.divmod(keep, cols)
        cx = (c + bbox[keep, 0]) * stride
        cy = (r + bbox[keep, 1]) * stride
        w = np.exp(bbox[keep, 2]) * stride
        h = np.exp(bbox[keep, 3]) * stride
        pts = kps[keep].reshape(-1, 5, 2)
        px = (pts[:, :, 0] + c[:, None]) * stride
        py = (pts[:, :, 1] + r[:, None]) * stride
        lm = np.stack([px, py], axis=2).reshape(-1, 10)
        rows.append(
            np.column_stack([cx - w / 2, cy - h / 2, w, h, lm, score[keep]]).astype(np.float32)
        )
    return np.concatenate(rows) if rows else np.zeros((0, 15), np.float32)


class TorchYuNetRunner:
    """YuNet run as a graph (e.g. :class:`faceprint.models.runtime.TorchSession` on a GPU)
    with OpenCV's decoding and NMS; a drop-in for ``OpenCVFaceDetector``."""

    def __init__(
        self,
        session: Session,
        *,
        score_threshold: float,
        nms_threshold: float,
        top_k: int,
    ) -> None:
        self._session = session
        self._score = score_threshold
        self._nms = nms_threshold
        self._top_k = top_k
        self.name = session.name

    def detect(self, bgr: NDArray[np.uint8]) -> NDArray[np.float32]:
        """N×15 rows for a BGR uint8 image (after NMS), like ``cv2.FaceDetectorYN``."""
        return self.detect_batch([bgr])[0]

    def detect_batch(self, bgrs: Sequence[NDArray[np.uint8]]) -> list[NDArray[np.float32]]:
        """Rows for each image; images of the same padded size share one forward pass."""
        import cv2

        groups: dict[tuple[int, int], list[int]] = {}
        for i, bgr in enumerate(bgrs):
            height, width = bgr.shape[:2]
            key = (((height - 1) // 32 + 1) * 32, ((width - 1) // 32 + 1) * 32)
            groups.setdefault(key, []).append(i)
        results: list[NDArray[np.float32]] = [np.zeros((0, 15), np.float32)] * len(bgrs)
        for (pad_h, pad_w), members in groups.items():
            blob = np.zeros((len(members), 3, pad_h, pad_w), np.float32)
            for j, i in enumerate(members):
                height, width = bgrs[i].shape[:2]
                blob[j, :, :height, :width] = bgrs[i].transpose(2, 0, 1)
            outputs = self._session.run(blob)
            for j, i in enumerate(members):
                rows = decode_yunet(
                    [o[j] for o in outputs],
                    pad_width=pad_w,
                    pad_height=pad_h,
                    score_threshold=self._score,
                )
                if len(rows):
                    keep = cv2.dnn.NMSBoxes(
                        rows[:, :4].tolist(),
                        rows[:, 14].tolist(),
                        self._score,
                        self._nms,
                        top_k=self._top_k,
                    )
                    rows = rows[np.asarray(keep, dtype=np.int64).reshape(-1)]
                results[i] = rows
        return results
