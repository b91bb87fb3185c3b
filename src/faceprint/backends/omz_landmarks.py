"""Five-point landmark refinement with Intel OMZ landmarks-regression-retail-0009."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from faceprint.core.align import box_crop_matrix, invert_affine, transform_points, warp_to
from faceprint.models.card import ModelCard
from faceprint.models.runtime import Session
from faceprint.types import Detection, ImageArray, Landmarks5


class OMZLandmarkRefiner:
    """Crops each detector box (as detected, no enlargement) to the model's input and
    regresses five landmarks normalised to the crop; maps them back to the image."""

    def __init__(self, session: Session, card: ModelCard) -> None:
        self._session = session
        self._width = card.input.width or 48
        self._height = card.input.height or 48
        self._bgr = card.input.colour == "BGR"
        self.name = card.name

    def refine(self, image: ImageArray, detections: Sequence[Detection]) -> list[Detection]:
        return self.refine_batch([(image, detections)])[0]

    def refine_batch(
        self, items: Sequence[tuple[ImageArray, Sequence[Detection]]]
    ) -> list[list[Detection]]:
        """:meth:`refine` for many images in one model call."""
        crops, matrices, owners = [], [], []
        for index, (image, detections) in enumerate(items):
            src = image[:, :, ::-1] if self._bgr else image
            for det in detections:
                m = box_crop_matrix(det.bbox_xyxy, width=self._width, height=self._height)
                crops.append(
                    warp_to(src, m, width=self._width, height=self._height, replicate=True)
                )
                matrices.append(m)
                owners.append(index)
        refined: list[list[Detection]] = [[] for _ in items]
        if not crops:
            return refined
        batch = np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)
        out = self._session.run(batch)[0].reshape(len(crops), 5, 2)
        flat = [det for _, detections in items for det in detections]
        scale = np.array([self._width, self._height], dtype=np.float32)
        for det, m, points, owner in zip(flat, matrices, out, owners, strict=True):
            image_points = transform_points(points * scale, invert_affine(m))
            landmarks: Landmarks5 = tuple(  # type: ignore[assignment]
                (float(x), float(y)) for x, y in image_points
            )
            refined[owner].append(replace(det, landmarks_5=landmarks))
        return refined
