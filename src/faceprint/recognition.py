"""Enrollment and identification: the pipeline and the gallery working together.

This layer turns files into gallery entries and images into open-set decisions. It
loses nothing: every input that could not be used is reported with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import ImageError, NoFaceError
from faceprint.gallery import FaceRecord, Gallery
from faceprint.media.images import DecodedImage, decode_image, find_images
from faceprint.pipeline import FacePipeline
from faceprint.types import Face, FaceIssue, Identification, ImageArray

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""``progress(done, total, current_source)`` — called after each input."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """An input that was not used, and why (``reason`` is an error code)."""

    source: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class EnrolledFace:
    """A face added to the gallery."""

    person: str
    source: str
    face_id: int
    bbox_xyxy: tuple[float, float, float, float]
    score: float
    issues: tuple[FaceIssue, ...]
    faces_in_image: int


@dataclass(frozen=True, slots=True)
class EnrollReport:
    """What an enrollment did: faces added and inputs skipped."""

    enrolled: tuple[EnrolledFace, ...]
    skipped: tuple[Skipped, ...]

    @property
    def persons(self) -> list[str]:
        return sorted({e.person for e in self.enrolled})


@dataclass(frozen=True, slots=True)
class FaceIdentification:
    """One face found in a probe image and the gallery's answer for it."""

    face: Face
    identification: Identification


def _decode(source: str | Path, skipped: list[Skipped]) -> DecodedImage | None:
    try:
        return decode_image(source)
    except ImageError as exc:
        skipped.append(Skipped(str(source), exc.code, str(exc)))
        log.warning("skipping %s: %s", source, exc)
        return None


def enroll_images(
    pipeline: FacePipeline,
    gallery: Gallery,
    person: str,
    sources: Sequence[str | Path],
    *,
    collection: str = "default",
    progress: Progress | None = None,
) -> EnrollReport:
    """Enroll the most prominent face of each image as ``person``.

    Unreadable images and images without a face are skipped with a reason; all faces of
    the person are written in one transaction.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
    """
    return _enroll({person: list(sources)}, pipeline, gallery, collection, progress)


def enroll_tree(
    pipeline: FacePipeline,
    gallery: Gallery,
    root: str | Path,
    *,
    collection: str = "default",
    progress: Progress | None = None,
) -> EnrollReport:
    """Enroll a folder tree ``root/<person>/<images>``: one person per sub-folder.

    Raises:
        faceprint.errors.ImageNotFoundError: ``root`` does not exist.
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
    """
    root_path = Path(root)
    people: dict[str, list[str | Path]] = {}
    for image in find_images(root_path):
        rel = image.relative_to(root_path)
        if len(rel.parts) < 2:
            log.warning("ignoring %s: images must be in a per-person sub-folder", image)
            continue
        people.setdefault(rel.parts[0], []).append(image)
    return _enroll(people, pipeline, gallery, collection, progress)


def _enroll(
    people: dict[str, list[str | Path]],
    pipeline: FacePipeline,
    gallery: Gallery,
    collection: str,
    progress: Progress | None,
) -> EnrollReport:
    total = sum(len(v) for v in people.values())
    done = 0
    enrolled: list[EnrolledFace] = []
    skipped: list[Skipped] = []
    for person, sources in sorted(people.items()):
        records: list[FaceRecord] = []
        meta: list[tuple[str, Face, int]] = []
        for source in sources:
            decoded = _decode(source, skipped)
            if decoded is not None:
                detections = pipeline.detect(decoded.pixels)
                if not detections:
                    exc = NoFaceError(f"{source}: no face found")
                    skipped.append(Skipped(str(source), exc.code, str(exc)))
                else:
                    primary = pipeline.primary_detection(decoded.pixels, detections=detections)
                    face = pipeline.embed(decoded.pixels, [primary])[0]
                    records.append(
                        FaceRecord(
                            embedding=face.embedding,
                            source=str(source),
                            source_sha256=decoded.sha256,
                            bbox_xyxy=face.detection.bbox_xyxy,
                            det_score=face.detection.score,
                        )
                    )
                    meta.append((str(source), face, len(detections)))
            done += 1
            if progress is not None:
                progress(done, total, str(source))
        if records:
            ids = gallery.add_faces(person, records, collection=collection)
            for face_id, (source_name, face, count) in zip(ids, meta, strict=True):
                enrolled.append(
                    EnrolledFace(
                        person=person,
                        source=source_name,
                        face_id=face_id,
                        bbox_xyxy=face.detection.bbox_xyxy,
                        score=face.detection.score,
                        issues=face.detection.issues,
                        faces_in_image=count,
                    )
                )
    return EnrollReport(enrolled=tuple(enrolled), skipped=tuple(skipped))


def identify_faces(
    pipeline: FacePipeline,
    gallery: Gallery,
    image: ImageArray,
    *,
    k: int = 5,
    collection: str | None = None,
    threshold: float | None = None,
    fmr: float | None = None,
    fpir: float | None = None,
) -> list[FaceIdentification]:
    """Identify every face in ``image`` against the gallery (open set).

    The threshold defaults to FPIR 1 % for the gallery's current size (number of
    templates searched); ``threshold``, ``fmr`` or ``fpir`` override it.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery holds another model's embeddings.
        faceprint.errors.CalibrationError: the requested error rate is outside the
            calibrated range.
    """
    faces = pipeline.analyze(image)
    if not faces:
        return []
    chosen = pipeline.identification_threshold(
        gallery_size=gallery.size(collection=collection),
        threshold=threshold,
        fmr=fmr,
        fpir=fpir,
    )
    return [
        FaceIdentification(
            face=face,
            identification=gallery.identify(
                face.embedding, threshold=chosen, k=k, collection=collection
            ),
        )
        for face in faces
    ]


def iter_sources(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of image files.

    Raises:
        faceprint.errors.ImageNotFoundError: a path does not exist.
    """
    out: list[Path] = []
    for path in paths:
        out.extend(find_images(path))
    return out
