"""Checks of what callers hand the gallery: names, embedding vectors and face records.

Every check raises :class:`~faceprint.errors.ConfigError` (a ``ValueError``) with a
message that says what to fix. Vectors must be finite and unit-norm within
:data:`UNIT_NORM_TOLERANCE`; the same rule applies to whole matrices read from archives.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ConfigError
from faceprint.gallery.records import FaceRecord
from faceprint.types import Embedding

UNIT_NORM_TOLERANCE = 1e-3
"""Largest accepted ``|‖v‖ − 1|`` for an embedding vector."""

ROWS_PER_CHECK = 65_536
"""Rows of a matrix whose norms are computed at once (bounds the float64 copy)."""


def check_name(kind: str, value: str) -> None:
    """Refuse an empty (or blank) collection or person name.

    Raises:
        ConfigError: ``value`` is not a string with a non-blank character.
    """
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{kind} name must be a non-empty string, got {value!r}")


def checked_vector(embedding: Embedding, what: str) -> NDArray[np.float32]:
    """``embedding.vector`` as a contiguous float32 D-vector.

    Raises:
        ConfigError: not 1-D and non-empty, not finite, or not unit-norm.
    """
    try:
        vector = np.asarray(embedding.vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} is not a numeric vector: {exc}") from exc
    if vector.ndim != 1 or vector.shape[0] == 0:
        raise ConfigError(f"{what} must be a non-empty 1-D vector, got shape {vector.shape}")
    if not np.isfinite(vector).all():
        raise ConfigError(f"{what} contains NaN or infinity; check the embedder's input")
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
        raise ConfigError(
            f"{what} has norm {norm:.6g}, not 1; embeddings must be unit-norm "
            "(normalise it, e.g. with faceprint.core.similarity.normalize_rows)"
        )
    return np.ascontiguousarray(embedding.vector, dtype=np.float32)


def checked_record(face: FaceRecord, what: str) -> FaceRecord:
    """``face`` with its vector as float32 and box/score as floats.

    Raises:
        ConfigError: bad vector, box or score.
    """
    vector = checked_vector(face.embedding, f"the embedding of {what}")
    box = face.bbox_xyxy
    if box is not None:
        try:
            values = tuple(float(v) for v in box)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bbox_xyxy of {what} is not numeric: {box!r}") from exc
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise ConfigError(f"bbox_xyxy of {what} must be 4 finite numbers, got {box!r}")
        box = (values[0], values[1], values[2], values[3])
    score = face.det_score
    if score is not None:
        try:
            score = float(score)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"det_score of {what} is not a number: {score!r}") from exc
        if not math.isfinite(score):
            raise ConfigError(f"det_score of {what} must be finite, got {score!r}")
    return FaceRecord(
        embedding=Embedding(vector=vector, model_id=face.embedding.model_id),
        source=str(face.source),
        source_sha256=str(face.source_sha256),
        bbox_xyxy=box,
        det_score=score,
    )


def first_bad_row(matrix: NDArray[np.float32]) -> tuple[int, str] | None:
    """The first row of an N×D matrix that is not a finite unit vector, and why; else ``None``.

    Checked in blocks of :data:`ROWS_PER_CHECK` rows, in float64.
    """
    for start in range(0, matrix.shape[0], ROWS_PER_CHECK):
        block = np.asarray(matrix[start : start + ROWS_PER_CHECK], dtype=np.float64)
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            return start + int(np.argmin(finite)), "contains NaN or infinity"
        norms = np.linalg.norm(block, axis=1)
        off = np.abs(norms - 1.0) > UNIT_NORM_TOLERANCE
        if off.any():
            row = int(np.argmax(off))
            return start + row, f"has norm {float(norms[row]):.6g}, not 1"
    return None
