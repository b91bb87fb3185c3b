"""Age, gender, expression and head pose with Intel OMZ models (retail-0013, -0003,
adas-0001), each fed the face box made square and enlarged 1.2× (the OMZ interactive
face demo's default ROI), BGR 0..255."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from faceprint.core.align import box_crop_matrix, warp_to
from faceprint.errors import ModelRuntimeError
from faceprint.models.card import ModelCard
from faceprint.types import Attributes, Detection, ImageArray

EXPRESSIONS = ("neutral", "happy", "sad", "surprise", "anger")
ROI_SCALE = 1.2


def _crops(
    image: ImageArray, detections: Sequence[Detection], size: tuple[int, int]
) -> NDArray[np.float32]:
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    width, height = size
    crops = [
        warp_to(
            bgr,
            box_crop_matrix(d.bbox_xyxy, width=width, height=height, scale=ROI_SCALE, square=True),
            width=width,
            height=height,
            replicate=True,
        )
        for d in detections
    ]
    return np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32)


def _outputs(session: object, batch: NDArray[np.float32]) -> dict[str, NDArray[np.float32]]:
    names = getattr(session, "output_names", None)
    if names is None:
        raise ModelRuntimeError("attribute models need a runtime that names its outputs")
    values = session.run(batch)  # type: ignore[attr-defined]
    return {n: v.reshape(len(batch), -1) for n, v in zip(names, values, strict=True)}


class OMZAttributes:
    """Runs the three attribute models on every detected face."""

    def __init__(self, models: dict[str, tuple[object, ModelCard]]) -> None:
        missing = {"age_gender", "emotions", "head_pose"} - set(models)
        if missing:
            raise ModelRuntimeError(f"attribute models missing: {sorted(missing)}")
        self._models = models
        self.name = "+".join(card.name for _, card in models.values())

    def estimate(self, image: ImageArray, detections: Sequence[Detection]) -> list[Attributes]:
        """One :class:`Attributes` per detection, same order."""
        return self.estimate_batch([(image, detections)])[0]

    def estimate_batch(
        self, items: Sequence[tuple[ImageArray, Sequence[Detection]]]
    ) -> list[list[Attributes]]:
        """:meth:`estimate` for the faces of many images in one pass per model."""
        owners = [i for i, (_, dets) in enumerate(items) for _ in dets]
        results: list[list[Attributes]] = [[] for _ in items]
        if not owners:
            return results
        out: dict[str, dict[str, NDArray[np.float32]]] = {}
        for key, (session, card) in self._models.items():
            size = (card.input.width, card.input.height)
            batch = np.concatenate(
                [_crops(image, dets, size) for image, dets in items if dets], axis=0
            )
            out[key] = _outputs(session, batch)
        ag, em, hp = out["age_gender"], out["emotions"], out["head_pose"]
        for i, owner in enumerate(owners):
            female, male = (float(v) for v in ag["prob"][i][:2])
            probs = em["prob_emotion"][i]
            best = int(np.argmax(probs))
            results[owner].append(
                Attributes(
                    age=float(ag["age_conv3"][i][0]) * 100.0,
                    gender="male" if male >= female else "female",
                    gender_score=max(male, female),
                    expression=EXPRESSIONS[best],
                    expressions=tuple(
                        (name, float(p)) for name, p in zip(EXPRESSIONS, probs, strict=True)
                    ),
                    yaw=float(hp["angle_y_fc"][i][0]),
                    pitch=float(hp["angle_p_fc"][i][0]),
                    roll=float(hp["angle_r_fc"][i][0]),
                )
            )
        return results
