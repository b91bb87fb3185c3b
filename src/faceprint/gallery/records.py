"""The gallery's record types: what goes in (:class:`FaceRecord`) and what listings return.

All are frozen, slotted dataclasses. Times are ISO-8601 strings in UTC
(``2024-05-01T12:00:00+00:00``); boxes are ``bbox_xyxy`` in pixels of the source image.
"""

from __future__ import annotations

from dataclasses import dataclass

from faceprint.types import BBox, Embedding


@dataclass(frozen=True, slots=True)
class FaceRecord:
    """A face to add to the gallery: its embedding and where it came from.

    ``embedding.vector`` must be a finite, unit-norm, 1-D vector (float32 after casting);
    ``source`` is free text (usually the image path), ``source_sha256`` the hex digest of
    the image bytes, ``bbox_xyxy`` and ``det_score`` the detection it was cut from.
    """

    embedding: Embedding
    source: str = ""
    source_sha256: str = ""
    bbox_xyxy: BBox | None = None
    det_score: float | None = None


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A collection, with how many persons and face templates it holds."""

    name: str
    persons: int
    faces: int
    created_at: str


@dataclass(frozen=True, slots=True)
class PersonInfo:
    """An enrolled person, with the number of face templates they have."""

    name: str
    collection: str
    faces: int
    created_at: str


@dataclass(frozen=True, slots=True)
class FaceInfo:
    """One enrolled face template (its vector is not returned)."""

    id: int
    person: str
    collection: str
    source: str
    source_sha256: str
    bbox_xyxy: BBox | None
    det_score: float | None
    enrolled_at: str
