"""Enrollment and identification: the pipeline and the gallery working together.

This layer turns files into gallery entries and images into open-set decisions. It
loses nothing: every input that could not be used is reported with a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from faceprint.core.quality import QualityPolicy
from faceprint.errors import ImageError, NoFaceError
from faceprint.gallery import FaceRecord, Gallery
from faceprint.media.images import DecodedImage, decode_image, find_images
from faceprint.pipeline import FacePipeline
from faceprint.types import Detection, Face, FaceIssue, Identification, ImageArray, Threshold

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
"""``progress(done, total, current_source)`` — called after each input."""


@dataclass(frozen=True, slots=True)
class ImageInput:
    """Encoded image bytes held in memory (an upload), with the name to report it by."""

    name: str
    data: bytes
    max_pixels: int | None = None

    def __str__(self) -> str:
        return self.name


Source = str | Path | ImageInput
"""An image to enroll: a file path, or encoded bytes with a name."""


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
    """One face found in a probe image and the gallery's answer for it.

    ``rejected`` names why the face was not identified despite its candidates (e.g.
    ``"spoof_suspected"`` under a gallery's liveness policy); ``None`` otherwise.
    """

    face: Face
    identification: Identification
    rejected: str | None = None


def enroll_images(
    pipeline: FacePipeline,
    gallery: Gallery,
    person: str,
    sources: Sequence[Source],
    *,
    collection: str = "default",
    progress: Progress | None = None,
    quality: QualityPolicy | None = None,
) -> EnrollReport:
    """Enroll the most prominent face of each image as ``person``.

    ``sources`` are file paths or :class:`ImageInput` (bytes in memory); each is
    reported (enrolled or skipped) under ``str(source)``.

    With a ``quality`` policy, faces that fail it are skipped with their reasons
    (e.g. ``face_too_small``, ``blurry``, ``extreme_pose``, ``too_dark``).

    Unreadable images and images without a face are skipped with a reason; all faces of
    the person are written in one transaction.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
    """
    return _enroll({person: list(sources)}, pipeline, gallery, collection, progress, quality)


def enroll_tree(
    pipeline: FacePipeline,
    gallery: Gallery,
    root: str | Path,
    *,
    collection: str = "default",
    progress: Progress | None = None,
    quality: QualityPolicy | None = None,
) -> EnrollReport:
    """Enroll a folder tree ``root/<person>/<images>``: one person per sub-folder.

    ``quality`` as in :func:`enroll_images`.

    Raises:
        faceprint.errors.ImageNotFoundError: ``root`` does not exist.
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
    """
    root_path = Path(root)
    people: dict[str, list[Source]] = {}
    for image in find_images(root_path):
        rel = image.relative_to(root_path)
        if len(rel.parts) < 2:
            log.warning("ignoring %s: images must be in a per-person sub-folder", image)
            continue
        people.setdefault(rel.parts[0], []).append(image)
    return _enroll(people, pipeline, gallery, collection, progress, quality)


CHUNK = 32
"""Images decoded (by a small thread pool) and embedded together during enrollment."""


def _decode_chunk(
    pool: ThreadPoolExecutor, sources: Sequence[Source], skipped: list[Skipped]
) -> list[tuple[int, DecodedImage]]:
    """Decode in parallel; returns (index into ``sources``, image) for the readable ones."""

    def load(source: Source) -> DecodedImage | ImageError:
        try:
            if isinstance(source, ImageInput):
                if source.max_pixels is None:
                    return decode_image(source.data)
                return decode_image(source.data, max_pixels=source.max_pixels)
            return decode_image(source)
        except ImageError as exc:
            if isinstance(source, ImageInput):  # name the upload, not "<bytes>"
                return type(exc)(str(exc).replace("<bytes>", source.name))
            return exc

    out = []
    for index, (source, result) in enumerate(zip(sources, pool.map(load, sources), strict=True)):
        if isinstance(result, ImageError):
            skipped.append(Skipped(str(source), result.code, str(result)))
            log.warning("skipping %s: %s", source, result)
        else:
            out.append((index, result))
    return out


def _enroll(
    people: dict[str, list[Source]],
    pipeline: FacePipeline,
    gallery: Gallery,
    collection: str,
    progress: Progress | None,
    quality: QualityPolicy | None = None,
    workers: int = 2,
) -> EnrollReport:
    items = [(person, source) for person, sources in sorted(people.items()) for source in sources]
    enrolled: list[EnrolledFace] = []
    skipped: list[Skipped] = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            batch: list[tuple[str, Source, DecodedImage, Detection, int]] = []
            for index, decoded in _decode_chunk(pool, [s for _, s in chunk], skipped):
                person, source = chunk[index]
                detections = pipeline.detect(decoded.pixels)
                if not detections:
                    exc = NoFaceError(f"{source}: no face found")
                    skipped.append(Skipped(str(source), exc.code, str(exc)))
                    continue
                primary = pipeline.primary_detection(decoded.pixels, detections=detections)
                if gallery.require_liveness:
                    (verdict,) = pipeline.liveness_detector.score(decoded.pixels, [primary])
                    if not verdict.is_live:
                        message = (
                            f"{source}: presentation attack suspected (bona fide score "
                            f"{verdict.score:.3f} < {verdict.threshold}); the gallery requires liveness"
                        )
                        skipped.append(Skipped(str(source), "spoof_suspected", message))
                        continue
                if quality is not None:
                    (assessed,) = pipeline.assess_quality(
                        [(decoded.pixels, [primary])], policy=quality
                    )
                    reasons = assessed[0].reasons
                    if reasons:
                        message = f"{source}: fails the quality policy: {', '.join(reasons)}"
                        skipped.append(Skipped(str(source), reasons[0], message))
                        continue
                batch.append((person, source, decoded, primary, len(detections)))
            faces = pipeline.embed_many([(d.pixels, det) for _, _, d, det, _ in batch])
            by_person: dict[str, list[tuple[Source, DecodedImage, Face, int]]] = {}
            for (person, source, decoded, _, count), face in zip(batch, faces, strict=True):
                by_person.setdefault(person, []).append((source, decoded, face, count))
            for person, rows in by_person.items():
                records = [
                    FaceRecord(
                        embedding=face.embedding,
                        source=str(source),
                        source_sha256=decoded.sha256,
                        bbox_xyxy=face.detection.bbox_xyxy,
                        det_score=face.detection.score,
                    )
                    for source, decoded, face, _ in rows
                ]
                ids = gallery.add_faces(person, records, collection=collection)
                enrolled.extend(
                    EnrolledFace(
                        person=person,
                        source=str(source),
                        face_id=face_id,
                        bbox_xyxy=face.detection.bbox_xyxy,
                        score=face.detection.score,
                        issues=face.detection.issues,
                        faces_in_image=count,
                    )
                    for face_id, (source, _, face, count) in zip(ids, rows, strict=True)
                )
            for k, (_, source) in enumerate(chunk):
                if progress is not None:
                    progress(start + k + 1, len(items), str(source))
    return EnrollReport(enrolled=tuple(enrolled), skipped=tuple(skipped))


def identify_faces(
    pipeline: FacePipeline,
    gallery: Gallery,
    image: ImageArray,
    *,
    k: int = 5,
    collection: str | None = None,
    threshold: float | Threshold | None = None,
    fmr: float | None = None,
    fpir: float | None = None,
) -> list[FaceIdentification]:
    """Identify every face in ``image`` against the gallery (open set).

    The threshold defaults to FPIR 1 % for the gallery's current size (number of
    templates searched); ``threshold`` (a similarity, or a :class:`Threshold` already
    chosen by the caller and used as is), ``fmr`` or ``fpir`` override it.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery holds another model's embeddings.
        faceprint.errors.CalibrationError: the requested error rate is outside the
            calibrated range.
    """
    faces = pipeline.analyze(image, liveness=gallery.require_liveness)
    if not faces:
        return []
    chosen = (
        threshold
        if isinstance(threshold, Threshold)
        else pipeline.identification_threshold(
            gallery_size=gallery.size(collection=collection),
            threshold=threshold,
            fmr=fmr,
            fpir=fpir,
        )
    )
    results = []
    for face in faces:
        found = gallery.identify(face.embedding, threshold=chosen, k=k, collection=collection)
        if face.liveness is not None and not face.liveness.is_live:
            found = replace(found, person=None)
            results.append(FaceIdentification(face, found, rejected="spoof_suspected"))
        else:
            results.append(FaceIdentification(face, found))
    return results


def iter_sources(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of image files.

    Raises:
        faceprint.errors.ImageNotFoundError: a path does not exist.
    """
    out: list[Path] = []
    for path in paths:
        out.extend(find_images(path))
    return out
