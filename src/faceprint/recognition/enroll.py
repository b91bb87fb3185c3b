"""Enrollment: files into gallery entries, safely re-runnable.

Every input is reported, enrolled or skipped with a reason; nothing is lost. An image
(by the sha256 of its bytes) that is already enrolled for the person is skipped as
``already_enrolled``, so a re-run after Ctrl-C or ``kill -9`` finishes the job without
duplicates; an image already enrolled for *another* person is refused
(``enrolled_as_other_person``) unless shared images are allowed. Faces are committed a
batch at a time (one transaction per person per batch), so an interruption loses at
most the batch in flight.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from faceprint.batch import BATCH_SIZE, ImageResult, analyze_images
from faceprint.core.quality import QualityPolicy
from faceprint.gallery import FaceRecord, Gallery
from faceprint.media.sources import Decoded, DecodeLimits, Source, decode_sources
from faceprint.pipeline import FacePipeline
from faceprint.recognition.layout import EnrollPlan, plan_enrollment
from faceprint.recognition.results import EnrolledFace, EnrollReport, Skipped
from faceprint.types import Detection, Embedding, Liveness, Progress

__all__ = [
    "Analyzer",
    "Candidate",
    "ClaimScreen",
    "Claims",
    "PipelineAnalyzer",
    "collect_report",
    "enroll_images",
    "enroll_stream",
    "enroll_tree",
    "preview_enrollment",
    "run_enrollment",
]

log = logging.getLogger(__name__)

Outcome = EnrolledFace | Skipped


class Claims:
    """Which person each image (sha256) belongs to: the gallery's and this run's.

    Args:
        gallery: where enrolled images are looked up (``None``: only this run counts).
        collection: the collection being enrolled into.
        allow_shared: let one image be enrolled for several persons.
    """

    def __init__(
        self, gallery: Gallery | None, *, collection: str, allow_shared: bool = False
    ) -> None:
        self._gallery = gallery
        self._collection = collection
        self._allow_shared = allow_shared
        self._run: dict[str, str] = {}

    def check(self, items: Sequence[tuple[str, str, str]]) -> list[Skipped | None]:
        """For each ``(person, sha256, source)``: why it must be skipped, or ``None``.

        An image let through is claimed for its person for the rest of the run.
        """
        stored = (
            self._gallery.enrolled_images({sha for _, sha, _ in items}, collection=self._collection)
            if self._gallery is not None
            else {}
        )
        out: list[Skipped | None] = []
        for person, sha, source in items:
            holders = set(stored.get(sha, ()))
            if sha in self._run:
                holders.add(self._run[sha])
            if person in holders:
                out.append(
                    Skipped(
                        source,
                        "already_enrolled",
                        f"{source}: this image is already enrolled for {person!r}",
                        person,
                    )
                )
                continue
            if holders and not self._allow_shared:
                others = ", ".join(repr(h) for h in sorted(holders))
                out.append(
                    Skipped(
                        source,
                        "enrolled_as_other_person",
                        f"{source}: this image is already enrolled for {others}, not "
                        f"{person!r}; check the folder, or allow shared images "
                        "(--allow-shared-images) if it really shows both",
                        person,
                    )
                )
                continue
            self._run[sha] = person
            out.append(None)
        return out


ClaimScreen = Callable[[Sequence[tuple[int, str, str]]], list[str | None]]
"""Given ``(index, name, sha256)`` of images that were read, before any model runs on
them: for each, the reason to skip it (``already_enrolled`` …) or ``None`` to process it.
An :class:`Analyzer` calls it once per batch."""


@dataclass(frozen=True, slots=True, eq=False)
class Candidate:
    """What enrollment needs to know of one input once the models ran on it.

    Attributes:
        index: position of the input in the enrollment.
        source: its name (the path).
        sha256: hex digest of its bytes (``None``: it could not be read).
        faces_in_image: faces the detector found.
        detection, embedding: the primary face, when one was found and embedded.
        liveness: the primary face's presentation-attack check, when it was asked for.
        quality_reasons: why the primary face fails the quality policy (when one was
            asked for; empty when it passes).
        error_code, error_message: why the input could not be read or analyzed.
    """

    index: int
    source: str
    sha256: str | None
    faces_in_image: int = 0
    detection: Detection | None = None
    embedding: Embedding | None = None
    liveness: Liveness | None = None
    quality_reasons: tuple[str, ...] = ()
    error_code: str | None = None
    error_message: str = ""

    @classmethod
    def of(cls, result: ImageResult) -> Candidate:
        """The candidate for one :class:`~faceprint.batch.ImageResult`."""
        face = result.primary_face
        quality = face.quality if face is not None else None
        return cls(
            index=result.index,
            source=result.source,
            sha256=result.sha256,
            faces_in_image=len(result.detections),
            detection=face.detection if face is not None else None,
            embedding=face.embedding if face is not None else None,
            liveness=face.liveness if face is not None else None,
            quality_reasons=quality.reasons if quality is not None else (),
            error_code=result.error.code if result.error is not None else None,
            error_message=str(result.error) if result.error is not None else "",
        )


class Analyzer(Protocol):
    """The one step of an enrollment that differs between ways of running it: images in,
    one :class:`Candidate` per input out, in input order, with ``screen`` consulted for
    each batch of readable images before any model runs on it.

    :class:`PipelineAnalyzer` runs the models in this process;
    :class:`faceprint.recognition.distributed.RayAnalyzer` runs them in Ray actors.
    """

    def __call__(
        self,
        sources: Iterable[Source],
        screen: ClaimScreen,
        *,
        liveness: bool,
        quality: QualityPolicy | None,
    ) -> Generator[Candidate, None, None]: ...


@dataclass(frozen=True, slots=True)
class PipelineAnalyzer:
    """The models in this process: :func:`faceprint.batch.analyze_images` on the primary
    face, ``batch_size`` images per model batch, ``workers`` decoding threads."""

    pipeline: FacePipeline
    batch_size: int = BATCH_SIZE
    workers: int = 2
    limits: DecodeLimits | None = None

    def __call__(
        self,
        sources: Iterable[Source],
        screen: ClaimScreen,
        *,
        liveness: bool,
        quality: QualityPolicy | None,
    ) -> Generator[Candidate, None, None]:
        def decoded_screen(chunk: Sequence[Decoded]) -> list[str | None]:
            readable = [(d.index, d.name, d.image.sha256) for d in chunk if d.image is not None]
            reasons = dict(zip((i for i, _, _ in readable), screen(readable), strict=True))
            return [reasons.get(d.index) for d in chunk]

        results = analyze_images(
            self.pipeline,
            sources,
            embed="primary",
            liveness=liveness,
            quality=quality or False,
            screen=decoded_screen,
            batch_size=self.batch_size,
            workers=self.workers,
            limits=self.limits,
        )
        try:
            for result in results:
                yield Candidate.of(result)
        finally:
            results.close()


def enroll_stream(
    pipeline: FacePipeline,
    gallery: Gallery,
    items: Iterable[tuple[str, Source]],
    *,
    collection: str = "default",
    quality: QualityPolicy | None = None,
    allow_shared_images: bool = False,
    batch_size: int = BATCH_SIZE,
    workers: int = 2,
    limits: DecodeLimits | None = None,
) -> Generator[Outcome, None, None]:
    """Enroll the primary face of each ``(person, source)``; yield each input's outcome
    (in input order) once it is committed.

    With a ``quality`` policy, faces that fail it are skipped with their reasons; under a
    gallery's liveness policy, suspected spoofs are skipped (``spoof_suspected``).
    :func:`faceprint.recognition.distributed.enroll_stream_ray` is the same with the
    models in Ray actors.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
        faceprint.errors.GalleryError: the gallery refused a write (that batch was not
            committed; the ones before it were).
    """
    analyzer = PipelineAnalyzer(pipeline, batch_size=batch_size, workers=workers, limits=limits)
    return run_enrollment(
        analyzer,
        gallery,
        items,
        collection=collection,
        quality=quality,
        allow_shared_images=allow_shared_images,
        batch_size=batch_size,
    )


def run_enrollment(
    analyzer: Analyzer,
    gallery: Gallery,
    items: Iterable[tuple[str, Source]],
    *,
    collection: str = "default",
    quality: QualityPolicy | None = None,
    allow_shared_images: bool = False,
    batch_size: int = BATCH_SIZE,
) -> Generator[Outcome, None, None]:
    """The enrollment job, whatever runs the models: claims (already enrolled? another
    person's?) checked before any model runs, each candidate's verdict, commits of
    ``batch_size`` outcomes at a time (one transaction per person), outcomes yielded in
    input order once committed. ``analyzer`` turns the images into candidates.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
        faceprint.errors.GalleryError: the gallery refused a write (that batch was not
            committed; the ones before it were).
    """
    claims = Claims(gallery, collection=collection, allow_shared=allow_shared_images)
    persons: dict[int, str] = {}
    skipped: dict[int, Skipped] = {}

    def sources() -> Iterator[Source]:
        for index, (person, source) in enumerate(items):
            persons[index] = person
            yield source

    def screen(readable: Sequence[tuple[int, str, str]]) -> list[str | None]:
        verdicts = claims.check([(persons[i], sha, name) for i, name, sha in readable])
        for (index, _, _), verdict in zip(readable, verdicts, strict=True):
            if verdict is not None:
                skipped[index] = verdict
        return [None if v is None else v.reason for v in verdicts]

    candidates = analyzer(sources(), screen, liveness=gallery.require_liveness, quality=quality)
    batch: list[tuple[str, Candidate]] = []
    try:
        for candidate in candidates:
            batch.append((persons.pop(candidate.index), candidate))
            if len(batch) >= batch_size:
                yield from _commit(gallery, batch, skipped, collection, quality)
                batch = []
        yield from _commit(gallery, batch, skipped, collection, quality)
    finally:
        candidates.close()


def _verdict(candidate: Candidate, person: str, quality: QualityPolicy | None) -> Skipped | None:
    """Why a processed image cannot be enrolled, or ``None``."""
    source = candidate.source
    if candidate.error_code is not None:
        return Skipped(source, candidate.error_code, candidate.error_message, person)
    if candidate.detection is None or candidate.embedding is None:
        return Skipped(source, "no_face", f"{source}: no face found", person)
    live = candidate.liveness
    if live is not None and not live.is_live:
        return Skipped(
            source,
            "spoof_suspected",
            f"{source}: presentation attack suspected (bona fide score {live.score:.3f} < "
            f"{live.threshold}); the gallery requires liveness",
            person,
        )
    if quality is not None and candidate.quality_reasons:
        reasons = candidate.quality_reasons
        message = f"{source}: fails the quality policy: {', '.join(reasons)}"
        return Skipped(source, reasons[0], message, person)
    return None


def _commit(
    gallery: Gallery,
    batch: Sequence[tuple[str, Candidate]],
    skipped: dict[int, Skipped],
    collection: str,
    quality: QualityPolicy | None,
) -> list[Outcome]:
    """Write a batch's faces (one transaction per person) and return every outcome in
    input order."""
    outcomes: dict[int, Outcome] = {}
    by_person: dict[str, list[tuple[Candidate, Detection, Embedding]]] = {}
    for person, candidate in batch:
        verdict = skipped.pop(candidate.index, None) or _verdict(candidate, person, quality)
        if verdict is not None:
            outcomes[candidate.index] = verdict
            log.debug("skipping %s: %s", candidate.source, verdict.reason)
            continue
        detection, embedding = candidate.detection, candidate.embedding
        assert detection is not None and embedding is not None  # _verdict refuses others
        by_person.setdefault(person, []).append((candidate, detection, embedding))
    for person, rows in by_person.items():
        records = [
            FaceRecord(
                embedding=embedding,
                source=c.source,
                source_sha256=c.sha256 or "",
                bbox_xyxy=detection.bbox_xyxy,
                det_score=detection.score,
            )
            for c, detection, embedding in rows
        ]
        ids = gallery.add_faces(person, records, collection=collection)
        for face_id, (c, detection, _) in zip(ids, rows, strict=True):
            outcomes[c.index] = EnrolledFace(
                person=person,
                source=c.source,
                face_id=face_id,
                bbox_xyxy=detection.bbox_xyxy,
                score=detection.score,
                issues=detection.issues,
                faces_in_image=c.faces_in_image,
            )
    return [outcomes[i] for i in sorted(outcomes)]


def collect_report(
    outcomes: Iterable[Outcome], *, total: int, progress: Progress | None = None
) -> EnrollReport:
    """Run an enrollment's outcomes (:func:`enroll_stream`, :func:`run_enrollment`) to
    the end and collect them in one report; ``progress(done, total, source)`` is called
    after each."""
    enrolled: list[EnrolledFace] = []
    skipped: list[Skipped] = []
    try:
        for done, outcome in enumerate(outcomes, start=1):
            if isinstance(outcome, EnrolledFace):
                enrolled.append(outcome)
            else:
                skipped.append(outcome)
            if progress is not None:
                progress(done, total, outcome.source)
    finally:
        if isinstance(outcomes, Generator):
            outcomes.close()
    return EnrollReport(enrolled=tuple(enrolled), skipped=tuple(skipped))


def _report(
    pipeline: FacePipeline,
    gallery: Gallery,
    items: Sequence[tuple[str, Source]],
    progress: Progress | None,
    **options: Any,
) -> EnrollReport:
    """Run :func:`enroll_stream` to the end and collect its outcomes in one report."""
    outcomes = enroll_stream(pipeline, gallery, items, **options)
    return collect_report(outcomes, total=len(items), progress=progress)


def enroll_images(
    pipeline: FacePipeline,
    gallery: Gallery,
    person: str,
    sources: Sequence[Source],
    *,
    collection: str = "default",
    progress: Progress | None = None,
    quality: QualityPolicy | None = None,
    allow_shared_images: bool = False,
    workers: int = 2,
) -> EnrollReport:
    """Enroll the most prominent face of each image as ``person`` (see
    :func:`enroll_stream`); each input is reported under its name.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
    """
    items = [(person, source) for source in sources]
    options = {"collection": collection, "quality": quality, "workers": workers}
    return _report(
        pipeline, gallery, items, progress, allow_shared_images=allow_shared_images, **options
    )


def enroll_tree(
    pipeline: FacePipeline,
    gallery: Gallery,
    root: str | os.PathLike[str],
    *,
    collection: str = "default",
    progress: Progress | None = None,
    quality: QualityPolicy | None = None,
    allow_shared_images: bool = False,
) -> EnrollReport:
    """Enroll a folder tree ``root/<person>/<images>``: one person per sub-folder.

    Raises:
        faceprint.errors.ImageNotFoundError: ``root`` does not exist.
        faceprint.errors.LayoutError: ``root`` is not laid out as a tree.
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
    """
    plan = plan_enrollment([root], person=None)
    options = {"collection": collection, "quality": quality}
    return _report(
        pipeline, gallery, plan.items, progress, allow_shared_images=allow_shared_images, **options
    )


def preview_enrollment(
    plan: EnrollPlan,
    gallery: Gallery | None,
    *,
    collection: str = "default",
    allow_shared_images: bool = False,
    workers: int = 2,
) -> Iterator[tuple[str, Path, Skipped | None]]:
    """What :func:`enroll_stream` would do with ``plan``, without models: each
    ``(person, image, skip)``, where ``skip`` is why it would be skipped before any model
    runs (unreadable, already enrolled, another person's, a duplicate in the plan), else
    ``None``. Images are read by the same decoding pool as the real run."""
    claims = Claims(gallery, collection=collection, allow_shared=allow_shared_images)
    decoded = decode_sources((path for _, path in plan.items), workers=workers)
    try:
        while chunk := list(islice(decoded, 256)):
            persons = [plan.items[d.index][0] for d in chunk]
            readable = [
                (person, d.image.sha256, d.name)
                for person, d in zip(persons, chunk, strict=True)
                if d.image is not None
            ]
            verdicts = iter(claims.check(readable))
            for person, d in zip(persons, chunk, strict=True):
                path = plan.items[d.index][1]
                if d.error is not None:
                    yield person, path, Skipped(d.name, d.error.code, str(d.error), person)
                else:
                    yield person, path, next(verdicts)
    finally:
        decoded.close()
