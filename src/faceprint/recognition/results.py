"""What enrollment and identification report: frozen results, one per input or face."""

from __future__ import annotations

from dataclasses import dataclass

from faceprint.batch import ImageResult
from faceprint.types import BBox, Face, FaceIssue, Identification, Threshold

__all__ = [
    "EnrollReport",
    "EnrolledFace",
    "FaceIdentification",
    "IdentifiedImage",
    "Skipped",
]


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not used, and why.

    ``reason`` is a stable code: an image error code (``corrupt_image`` …), ``no_face``,
    ``already_enrolled`` (this image is enrolled for this person already),
    ``enrolled_as_other_person`` (the image belongs to another person),
    ``spoof_suspected`` or a quality reason (``face_too_small``, ``blurry`` …).
    """

    source: str
    reason: str
    message: str
    person: str | None = None


@dataclass(frozen=True, slots=True)
class EnrolledFace:
    """A face added to the gallery."""

    person: str
    source: str
    face_id: int
    bbox_xyxy: BBox
    score: float
    issues: tuple[FaceIssue, ...]
    faces_in_image: int


@dataclass(frozen=True, slots=True)
class EnrollReport:
    """What an enrollment did: faces added and inputs skipped, in input order."""

    enrolled: tuple[EnrolledFace, ...]
    skipped: tuple[Skipped, ...]

    @property
    def persons(self) -> list[str]:
        return sorted({e.person for e in self.enrolled})


@dataclass(frozen=True, slots=True)
class FaceIdentification:
    """One face found in a probe image and the gallery's answer for it.

    ``rejected`` names why the face was not identified despite its candidates (e.g.
    ``"spoof_suspected"`` under a gallery's liveness policy); ``None`` otherwise.
    """

    face: Face
    identification: Identification
    rejected: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class IdentifiedImage:
    """Every face of one probe image with the gallery's answer, at one threshold."""

    result: ImageResult
    faces: tuple[FaceIdentification, ...]
    threshold: Threshold
