"""Embedding models fed a face aligned onto their five-point template."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from faceprint.core.align import TEMPLATES, align, alignment_matrix
from faceprint.core.similarity import normalize_rows
from faceprint.errors import ModelRuntimeError
from faceprint.models.card import ModelCard
from faceprint.models.runtime import Session, TorchSession
from faceprint.models.torch_graph import embed_on_device
from faceprint.types import Detection, ImageArray


class AlignedEmbedder:
    """Align each face to the card's template, normalise as the card says, embed in
    batches of ``batch_size``, return unit-norm rows."""

    def __init__(self, session: Session, card: ModelCard, *, batch_size: int = 32) -> None:
        if card.alignment not in TEMPLATES:
            raise ModelRuntimeError(f"model {card.name}: unknown alignment {card.alignment!r}")
        self._session = session
        self._template = card.alignment
        self._bgr = card.input.colour == "BGR"
        self._mean = np.asarray(card.input.mean, dtype=np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(card.input.std, dtype=np.float32).reshape(1, 3, 1, 1)
        self._batch_size = max(1, batch_size)
        self.model_id = card.name
        self.dimension = card.embedding_dim

    def crops(self, faces: Sequence[tuple[ImageArray, Detection]]) -> list[ImageArray]:
        """The aligned RGB crops the model sees (S×S×3 uint8 each)."""
        return [
            align(image, det.landmarks_array(), template=self._template)[0] for image, det in faces
        ]

    def embed_crops(self, crops: Sequence[ImageArray]) -> NDArray[np.float32]:
        """Embed already-aligned RGB crops; returns N×D unit-norm float32 rows."""
        out = np.zeros((len(crops), self.dimension), dtype=np.float32)
        for start in range(0, len(crops), self._batch_size):
            chunk = np.stack(crops[start : start + self._batch_size])
            if self._bgr:
                chunk = chunk[..., ::-1]
            batch = chunk.transpose(0, 3, 1, 2).astype(np.float32)
            batch = (batch - self._mean) / self._std
            result = self._session.run(batch)[0].reshape(len(chunk), -1)
            if result.shape[1] != self.dimension:
                raise ModelRuntimeError(
                    f"{self.model_id}: expected {self.dimension}-d output, got {result.shape[1]}"
                )
            out[start : start + len(chunk)] = result
        return normalize_rows(out)

    def embed(self, faces: Sequence[tuple[ImageArray, Detection]]) -> NDArray[np.float32]:
        if not faces:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if isinstance(self._session, TorchSession):
            return self._embed_on_device(faces)
        return self.embed_crops(self.crops(faces))

    def _embed_on_device(
        self, faces: Sequence[tuple[ImageArray, Detection]]
    ) -> NDArray[np.float32]:
        """Torch path: each image is uploaded once, faces are warped on the device with
        ``grid_sample`` (no CPU crops), normalised and embedded there."""
        _, size = TEMPLATES[self._template]
        groups: dict[int, list[int]] = {}
        for i, (image, _) in enumerate(faces):
            groups.setdefault(id(image), []).append(i)
        jobs = []
        for members in groups.values():
            image = faces[members[0]][0]
            matrices = np.stack(
                [alignment_matrix(faces[i][1].landmarks_array(), self._template) for i in members]
            )
            jobs.append((image[:, :, ::-1] if self._bgr else image, matrices))
        results = embed_on_device(
            self._session.graph,  # type: ignore[attr-defined]
            jobs,
            size=size,
            mean=self._mean,
            std=self._std,
            batch_size=self._batch_size,
        )
        out = np.zeros((len(faces), self.dimension), dtype=np.float32)
        for members, rows in zip(groups.values(), results, strict=True):
            out[members] = rows.reshape(len(members), -1)
        return normalize_rows(out)
