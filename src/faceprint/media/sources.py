"""Many images in, decoded images out, in order: the decoding half of every batch job.

A *source* is a file path, an :class:`ImageInput` (encoded bytes held in memory, e.g.
an upload, with the name to report it by), raw encoded ``bytes``, or an already
decoded H×W×3 uint8 RGB array. :func:`decode_sources` decodes them in a small thread
pool (Pillow and OpenCV release the GIL), keeping a bounded window of work ahead of the
consumer, so decoding overlaps inference and memory stays constant however many
sources there are. A source that cannot be decoded comes back with its typed error
instead of an image: nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from faceprint.errors import ImageError, UnsupportedImageError
from faceprint.media.images import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_PIXELS,
    DecodedImage,
    decode_image,
    find_images,
)
from faceprint.types import ImageArray

__all__ = [
    "DecodeLimits",
    "Decoded",
    "ImageInput",
    "Source",
    "Transform",
    "decode_sources",
    "expand_paths",
    "source_name",
]


@dataclass(frozen=True, slots=True)
class ImageInput:
    """Encoded image bytes held in memory (an upload), with the name to report it by.

    ``max_pixels`` overrides the decoder's pixel limit for this input.
    """

    name: str
    data: bytes
    max_pixels: int | None = None

    def __str__(self) -> str:
        return self.name


Source = str | os.PathLike[str] | ImageInput | bytes | np.ndarray
"""An image to process: a path, encoded bytes (named or not), or RGB pixels."""

Transform = Callable[[str, ImageArray], ImageArray]
"""Applied to each decoded image in the decode workers: ``(name, pixels) → pixels``
(same H×W×3 uint8 layout), e.g. a synthetic degradation for a robustness evaluation.
The image keeps its name and the digest of its source bytes."""


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Limits checked before any pixel is decoded (see :func:`~faceprint.media.images.decode_image`)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True, eq=False)
class Decoded:
    """One source after decoding: its position, name and image, or the error.

    Exactly one of ``image`` and ``error`` is set.
    """

    index: int
    name: str
    image: DecodedImage | None
    error: ImageError | None


def source_name(source: Source, index: int = 0) -> str:
    """How a source is named in reports: its path, its given name, or a placeholder."""
    if isinstance(source, ImageInput):
        return source.name
    if isinstance(source, bytes):
        return f"<bytes #{index}>"
    if isinstance(source, np.ndarray):
        return f"<array #{index}>"
    return os.fspath(source)


def expand_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given and folders walked recursively (sorted image files), in order.

    Raises:
        faceprint.errors.ImageNotFoundError: a path does not exist.
    """
    out: list[Path] = []
    for path in paths:
        out.extend(find_images(path))
    return out


def _decode_one(
    source: Source, index: int, limits: DecodeLimits, transform: Transform | None = None
) -> Decoded:
    decoded = _decode_raw(source, index, limits)
    if transform is None or decoded.image is None:
        return decoded
    image = decoded.image
    pixels = transform(decoded.name, image.pixels)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(
            f"a transform must return H×W×3 uint8 pixels, got {pixels.dtype} {pixels.shape}"
        )
    return Decoded(index, decoded.name, replace(image, pixels=np.ascontiguousarray(pixels)), None)


def _decode_raw(source: Source, index: int, limits: DecodeLimits) -> Decoded:
    name = source_name(source, index)
    try:
        if isinstance(source, np.ndarray):
            return Decoded(index, name, _from_array(source, name), None)
        data: str | os.PathLike[str] | bytes = (
            source.data if isinstance(source, ImageInput) else source
        )
        max_pixels = limits.max_pixels
        if isinstance(source, ImageInput) and source.max_pixels is not None:
            max_pixels = source.max_pixels
        image = decode_image(data, max_pixels=max_pixels, max_bytes=limits.max_bytes)
        return Decoded(index, name, image, None)
    except ImageError as exc:
        if isinstance(source, ImageInput | bytes):  # name the input, not "<bytes>"
            exc = type(exc)(str(exc).replace("<bytes>", name))
        return Decoded(index, name, None, exc)


def _from_array(pixels: np.ndarray, name: str) -> DecodedImage:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise UnsupportedImageError(
            f"{name}: expected an H×W×3 uint8 RGB array, got {pixels.dtype} {pixels.shape}"
        )
    pixels = np.ascontiguousarray(pixels)
    digest = hashlib.sha256(pixels.tobytes()).hexdigest()
    return DecodedImage(pixels=pixels, sha256=digest, name=name, format="array", exif_rotated=False)


def decode_sources(
    sources: Iterable[Source],
    *,
    workers: int = 2,
    ahead: int = 64,
    limits: DecodeLimits | None = None,
    transform: Transform | None = None,
) -> Generator[Decoded, None, None]:
    """Decode ``sources`` in order, ``workers`` threads at a time, at most ``ahead``
    decoded images waiting for the consumer.

    ``workers=0`` decodes in the calling thread (for callers that already run in a
    worker, like the service). Closing the iterator early (or an exception in the
    consumer, Ctrl-C included) cancels the decodes not yet started. ``transform`` runs
    on each decoded image in the same worker (see :data:`Transform`).

    Yields:
        A :class:`Decoded` per source, in input order; unreadable sources carry their
        :class:`~faceprint.errors.ImageError` (``image`` is ``None``).
    """
    limits = limits or DecodeLimits()
    if workers <= 0:
        for index, source in enumerate(sources):
            yield _decode_one(source, index, limits, transform)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="faceprint-decode")
    pending: deque[Future[Decoded]] = deque()
    try:
        for index, source in enumerate(sources):
            pending.append(pool.submit(_decode_one, source, index, limits, transform))
            if len(pending) >= max(1, ahead):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
