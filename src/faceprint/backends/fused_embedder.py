"""A fused template: several embedders' unit vectors, weighted and concatenated."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from faceprint.backends.protocols import Embedder
from faceprint.core.similarity import normalize_rows
from faceprint.errors import ConfigError
from faceprint.types import Detection, ImageArray


class FusedEmbedder:
    """Concatenate ``sqrt(w_i) * v_i`` for unit vectors ``v_i`` and renormalise.

    With weights summing to one the concatenation is already unit-norm, and the cosine
    of two fused templates equals ``sum_i w_i * cos_i``: score-level fusion by a weighted
    mean, stored as one vector so the gallery and search need nothing special.
    """

    def __init__(self, components: Sequence[Embedder], weights: Sequence[float], *, name: str):
        if len(components) != len(weights) or not components:
            raise ConfigError("a fused template needs one weight per component")
        if any(w <= 0 for w in weights):
            raise ConfigError("fusion weights must be positive")
        total = float(sum(weights))
        self._components = list(components)
        self._scales = [float(np.sqrt(w / total)) for w in weights]
        self.model_id = name
        self.dimension = sum(c.dimension for c in components)

    def embed(self, faces: Sequence[tuple[ImageArray, Detection]]) -> NDArray[np.float32]:
        if not faces:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = [
            scale * component.embed(faces)
            for component, scale in zip(self._components, self._scales, strict=True)
        ]
        return normalize_rows(np.hstack(parts).astype(np.float32))
