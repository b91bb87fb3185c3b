"""Passive presentation-attack detection with Silent-Face MiniFASNet (V2 + V1SE)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceprint.core.align import box_crop_matrix, warp_to
from faceprint.core.boxes import context_box
from faceprint.models.card import ModelCard
from faceprint.models.runtime import Session
from faceprint.types import Detection, ImageArray, Liveness


class MiniFASNetLiveness:
    """Average the softmax of each model over its own context crop; class 1 is bona fide.

    Each model sees the face box enlarged by its card's ``crop_scale`` (2.7 for V2, 4.0
    for V1SE), resized to 80×80, BGR 0..255, as in Silent-Face's reference code.
    """

    def __init__(
        self, models: Sequence[tuple[Session, ModelCard]], *, threshold: float = 0.5
    ) -> None:
        self._models = [(s, c.option("crop_scale", 2.7), c.input.width or 80) for s, c in models]
        self.threshold = threshold
        self.name = "+".join(c.name for _, c in models)

    def score(self, image: ImageArray, detections: Sequence[Detection]) -> list[Liveness]:
        """Liveness of each detected face (same order)."""
        return self.score_batch([(image, detections)])[0]

    def score_batch(
        self, items: Sequence[tuple[ImageArray, Sequence[Detection]]]
    ) -> list[list[Liveness]]:
        """:meth:`score` for the faces of many images in one pass per model."""
        owners = [i for i, (_, dets) in enumerate(items) for _ in dets]
        if not owners:
            return [[] for _ in items]
        probs = np.zeros((len(owners), 3), dtype=np.float64)
        for session, scale, size in self._models:
            crops = []
            for image, detections in items:
                height, width = image.shape[:2]
                bgr = np.ascontiguousarray(image[:, :, ::-1])
                for det in detections:
                    box = context_box(
                        det.bbox_xyxy, scale=scale, image_width=width, image_height=height
                    )
                    m = box_crop_matrix(box, width=size, height=size)
                    crops.append(warp_to(bgr, m, width=size, height=size, replicate=True))
            batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
            logits = session.run(batch)[0].reshape(len(crops), -1).astype(np.float64)
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs += e / e.sum(axis=1, keepdims=True)
        probs /= len(self._models)
        out: list[list[Liveness]] = [[] for _ in items]
        for owner, p in zip(owners, probs, strict=True):
            out[owner].append(
                Liveness(
                    score=float(p[1]),
                    is_live=bool(p[1] >= self.threshold),
                    threshold=self.threshold,
                )
            )
        return out
