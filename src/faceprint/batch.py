"""Many images through the pipeline: the one batched, streaming path of every job.

:func:`analyze_images` takes any number of sources (paths, bytes, in-memory uploads,
RGB arrays) and yields one :class:`ImageResult` per source, in input order, as soon as
its batch is done. Decoding runs in a thread pool ahead of inference
(:func:`faceprint.media.sources.decode_sources`); detection, landmarks, embedding,
liveness, attributes and quality each run once per batch across images. Memory is
bounded by the batch size, not by the number of inputs, so 100,000 images stream
through in constant memory. ``identify``, ``detect``, ``analyze``, ``enroll``, the
evaluations and the service all go through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Literal

from faceprint.core.boxes import primary_face_index
from faceprint.core.quality import QualityPolicy
from faceprint.errors import ImageError
from faceprint.media.images import DecodedImage
from faceprint.media.sources import Decoded, DecodeLimits, Source, Transform, decode_sources
from faceprint.pipeline import FacePipeline
from faceprint.types import Detection, Face

__all__ = ["BATCH_SIZE", "EmbedMode", "ImageResult", "Screen", "analyze_images"]

log = logging.getLogger(__name__)

BATCH_SIZE = 32
"""Images whose faces go through each model together (measured: 32 and 64 run at the
same speed on 2 cores; 32 halves the latency to the first result)."""

EmbedMode = Literal["all", "primary", "none"]
"""Which faces are embedded: every face, only the image's primary face (the large,
central one the photo is about), or none (detection only)."""

Screen = Callable[[Sequence[Decoded]], Sequence[str | None]]
"""Called once per batch, before any model runs, with the decoded images; returns for
each a reason to skip it (e.g. ``"already_enrolled"``) or ``None`` to process it."""


@dataclass(frozen=True, slots=True, eq=False)
class ImageResult:
    """What happened to one source.

    Attributes:
        index: position of the source in the input.
        source: its name (path, upload name, or ``<bytes #i>``/``<array #i>``).
        sha256: hex digest of the encoded bytes (of the pixels for arrays); ``None``
            when the source could not be read.
        width, height: of the upright image (0 when unreadable).
        detections: every face found, best score first.
        primary: index into ``detections`` of the primary face (``None``: no face).
        faces: the embedded faces — all of ``detections`` in order, or the primary one
            only, or none, as asked — with liveness/attributes/quality when asked.
        error: why the source could not be read (then nothing else is set).
        skipped: the reason a :data:`Screen` gave to skip it (no model ran).
        image: the decoded image, only when ``keep_images`` was asked for.
    """

    index: int
    source: str
    sha256: str | None
    width: int
    height: int
    detections: tuple[Detection, ...] = ()
    primary: int | None = None
    faces: tuple[Face, ...] = ()
    error: ImageError | None = None
    skipped: str | None = None
    image: DecodedImage | None = None

    @property
    def ok(self) -> bool:
        """The source was read and processed (not unreadable, not skipped)."""
        return self.error is None and self.skipped is None

    @property
    def primary_face(self) -> Face | None:
        """The embedded primary face, when one was found and embedded."""
        if self.primary is None or not self.faces:
            return None
        if len(self.faces) == len(self.detections):
            return self.faces[self.primary]
        return self.faces[0]


def analyze_images(
    pipeline: FacePipeline,
    sources: Iterable[Source],
    *,
    embed: EmbedMode = "all",
    liveness: bool = False,
    attributes: bool = False,
    quality: bool | QualityPolicy = False,
    screen: Screen | None = None,
    given: Sequence[Detection | None] | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 2,
    limits: DecodeLimits | None = None,
    keep_images: bool = False,
    transform: Transform | None = None,
) -> Generator[ImageResult, None, None]:
    """Decode, detect and embed many images in batches; yield results in input order.

    Args:
        pipeline: the models.
        sources: paths, :class:`~faceprint.media.sources.ImageInput`, bytes or RGB
            arrays; consumed lazily.
        embed: ``"all"`` faces, the ``"primary"`` face, or ``"none"`` (detect only).
        liveness, attributes, quality: also check the embedded faces (batched).
        screen: skip sources before any model runs (see :data:`Screen`).
        given: one primary detection per source (``None`` where there is none), e.g.
            from an earlier run with another embedder: detection is not run again.
        batch_size: images per model batch.
        workers: decoding threads (``0``: decode in the calling thread).
        limits: pixel and byte limits checked before decoding.
        keep_images: keep each decoded image on its result (costs memory).
        transform: applied to each decoded image in the decode workers, before any
            model (e.g. a synthetic degradation; see
            :data:`~faceprint.media.sources.Transform`).

    Yields:
        One :class:`ImageResult` per source, in order. Unreadable sources carry their
        error; images without a face have empty ``detections``.

    Raises:
        faceprint.errors.ModelError: a model failed to run.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    decoded = decode_sources(
        sources, workers=workers, ahead=2 * batch_size, limits=limits, transform=transform
    )
    try:
        while chunk := list(islice(decoded, batch_size)):
            yield from _process(
                pipeline,
                chunk,
                embed=embed,
                liveness=liveness,
                attributes=attributes,
                quality=quality,
                screen=screen,
                given=given,
                keep_images=keep_images,
            )
    finally:
        decoded.close()


def _process(
    pipeline: FacePipeline,
    chunk: list[Decoded],
    *,
    embed: EmbedMode,
    liveness: bool,
    attributes: bool,
    quality: bool | QualityPolicy,
    screen: Screen | None,
    given: Sequence[Detection | None] | None,
    keep_images: bool,
) -> list[ImageResult]:
    reasons = list(screen(chunk)) if screen is not None else [None] * len(chunk)
    if len(reasons) != len(chunk):
        raise ValueError("a screen must return one reason (or None) per image")
    todo = [d for d, reason in zip(chunk, reasons, strict=True) if d.image and reason is None]
    pixels = [d.image.pixels for d in todo if d.image is not None]
    detections: list[tuple[Detection, ...]]
    if given is not None:
        detections = [tuple(d for d in (given[item.index],) if d is not None) for item in todo]
    else:
        detections = [tuple(d) for d in pipeline.detect_batch(pixels)] if pixels else []
    primaries = [
        primary_face_index(dets, image_width=px.shape[1], image_height=px.shape[0])
        if dets
        else None
        for px, dets in zip(pixels, detections, strict=True)
    ]
    chosen: list[Sequence[Detection]] = [
        dets if embed == "all" else ((dets[p],) if p is not None and embed == "primary" else ())
        for dets, p in zip(detections, primaries, strict=True)
    ]
    faces = (
        pipeline.analyze_detected(
            pixels, chosen, liveness=liveness, attributes=attributes, quality=quality
        )
        if embed != "none" and any(chosen)
        else [[] for _ in todo]
    )
    done = {
        d.index: (dets, p, tuple(fs))
        for d, dets, p, fs in zip(todo, detections, primaries, faces, strict=True)
    }
    out = []
    for item, reason in zip(chunk, reasons, strict=True):
        image = item.image
        if image is None:
            out.append(ImageResult(item.index, item.name, None, 0, 0, error=item.error))
            continue
        dets, primary, embedded = done.get(item.index, ((), None, ()))
        out.append(
            ImageResult(
                item.index,
                item.name,
                image.sha256,
                image.width,
                image.height,
                detections=dets,
                primary=primary,
                faces=embedded,
                skipped=reason,
                image=image if keep_images else None,
            )
        )
    return out
