"""What the pipeline needs from each kind of backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from faceprint.types import Detection, ImageArray, Liveness


@runtime_checkable
class Detector(Protocol):
    """Finds faces: RGB image → detections with boxes, scores and five landmarks."""

    name: str

    def detect(self, image: ImageArray) -> list[Detection]:
        """Faces in an H×W×3 RGB uint8 image, best score first."""
        ...


@runtime_checkable
class LandmarkRefiner(Protocol):
    """Replaces each detection's landmarks with more precise ones."""

    name: str

    def refine(self, image: ImageArray, detections: Sequence[Detection]) -> list[Detection]:
        """Same detections (same order, boxes and scores), refined ``landmarks_5``."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Maps faces to unit-norm embeddings.

    ``model_id`` names the embedding space; embeddings from different ids are never
    comparable.
    """

    model_id: str
    dimension: int

    def embed(self, faces: Sequence[tuple[ImageArray, Detection]]) -> NDArray[np.float32]:
        """Embed faces given as (RGB image, detection) pairs.

        Returns:
            An N×D float32 array of unit-norm rows, one per input face, same order.
        """
        ...


@runtime_checkable
class LivenessDetector(Protocol):
    """Judges whether each detected face is a live person or a presentation attack."""

    name: str
    threshold: float

    def score(self, image: ImageArray, detections: Sequence[Detection]) -> list[Liveness]:
        """One :class:`Liveness` per detection, same order."""
        ...

    def score_batch(
        self, items: Sequence[tuple[ImageArray, Sequence[Detection]]]
    ) -> list[list[Liveness]]:
        """:meth:`score` for many images at once."""
        ...
