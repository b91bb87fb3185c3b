"""Decode images into upright H×W×3 uint8 RGB arrays, refusing bad input with typed errors.

Decoding uses Pillow, which reads only the header on :func:`PIL.Image.open`: the byte
and pixel limits are enforced before any pixel data is decoded. Only the formats in
:data:`DECODED_FORMATS` are tried (Pillow is not allowed to hand, say, an EPS file to
Ghostscript). EXIF orientation is applied, so every box and landmark refers to the
upright image. Grayscale, 16-bit, float, palette, alpha and CMYK images are converted to
RGB; multi-frame files (GIF, TIFF) yield their first frame.

No Pillow global is changed: the decompression-bomb warning is silenced locally and
``ImageFile.LOAD_TRUNCATED_IMAGES`` is left as the caller set it (``False`` by default,
which is what makes a truncated file raise :class:`CorruptImageError`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import ExifTags, Image, ImageFile, ImageOps, UnidentifiedImageError

from faceprint.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    ImageTooSmallError,
    UnsupportedImageError,
)
from faceprint.types import ImageArray

__all__ = [
    "DECODED_FORMATS",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MIN_SIDE",
    "IMAGE_SUFFIXES",
    "DecodedImage",
    "decode_image",
    "find_images",
    "load_image",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000
"""Default pixel limit (width × height of the header), checked before decoding."""
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
"""Default limit on the encoded size in bytes, checked before reading a file."""
DEFAULT_MIN_SIDE = 16
"""Default minimum length in pixels of the shorter side."""

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"})
"""Lower-case suffixes :func:`find_images` picks up inside a folder."""

DECODED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF", "PPM", "AVIF")
"""Pillow format ids :func:`decode_image` tries (those this Pillow build lacks are skipped).

JPEG covers MPO (multi-picture JPEGs written by many phones); PPM covers PGM/PBM.
"""

_FORMAT_NAMES = "JPEG, PNG, BMP, WebP, TIFF, GIF, PPM/PGM or AVIF"

# Leading bytes of the formats above: input that starts like one of them but that Pillow
# cannot open is damaged (CorruptImageError), anything else is not an image we read.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
)

_ORIENTATION = int(ExifTags.Base.Orientation)

# What Pillow raises for damaged data, depending on the plugin and where the damage is.
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
)


@dataclass(frozen=True, slots=True, eq=False)
class DecodedImage:
    """An upright RGB image and where it came from.

    Attributes:
        pixels: H×W×3 uint8 RGB, C-contiguous, writable, EXIF orientation applied
            (H and W are those of the upright image).
        sha256: lower-case hex SHA-256 digest of the raw input bytes (the encoded file).
        name: the path as given (``os.fspath``), or ``"<bytes>"`` for in-memory input.
        format: the format Pillow recognised, e.g. ``"JPEG"``, ``"PNG"``, ``"MPO"``.
        exif_rotated: ``True`` when an EXIF orientation (2–8) was applied to the pixels.
    """

    pixels: ImageArray
    sha256: str
    name: str
    format: str
    exif_rotated: bool

    @property
    def height(self) -> int:
        """Height of the upright image in pixels."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Width of the upright image in pixels."""
        return int(self.pixels.shape[1])


def decode_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_side: int = DEFAULT_MIN_SIDE,
) -> DecodedImage:
    """Decode a file path or encoded bytes into an upright RGB image.

    Args:
        source: a path to an image file, or the encoded bytes of one.
        max_pixels: refuse images whose header claims more than this many pixels
            (width × height), before any pixel data is decoded. Pillow itself refuses
            anything over twice its own ``Image.MAX_IMAGE_PIXELS`` (about 179 million
            pixels by default), which is also reported as :class:`ImageTooLargeError`.
        max_bytes: refuse inputs of more than this many bytes (a file's size is checked
            with ``os.stat`` before it is read).
        min_side: refuse images whose shorter side is below this many pixels.

    Returns:
        A :class:`DecodedImage`; its ``pixels`` are H×W×3 uint8 RGB.

    Raises:
        ImageNotFoundError: the path does not exist, is a folder or cannot be read.
        EmptyImageError: the input has zero bytes.
        ImageTooLargeError: over ``max_bytes`` or ``max_pixels``.
        ImageTooSmallError: the shorter side is below ``min_side``.
        UnsupportedImageError: not an image in one of :data:`DECODED_FORMATS`.
        CorruptImageError: looks like an image but is truncated or damaged.
    """
    data, name = _read(source, max_bytes=max_bytes)
    digest = hashlib.sha256(data).hexdigest()
    with warnings.catch_warnings():
        # Our own max_pixels check replaces Pillow's warning; its hard error is still caught.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = _open(data, name)
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: {width}×{height} = {width * height:,} pixels, over the limit "
                    f"of {max_pixels:,}; downscale the image or raise max_pixels"
                )
            if min(width, height) < min_side:
                raise ImageTooSmallError(
                    f"{name}: {width}×{height} pixels is too small to hold a face; the "
                    f"shorter side must be at least {min_side} px (use a larger image)"
                )
            fmt = image.format or "unknown"
            _load(image, name)
            upright, rotated = _exif_upright(image, name)
            pixels = _to_rgb(upright, name)
    log.debug("decoded %s: %s %dx%d, exif_rotated=%s", name, fmt, width, height, rotated)
    return DecodedImage(pixels=pixels, sha256=digest, name=name, format=fmt, exif_rotated=rotated)


def load_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_side: int = DEFAULT_MIN_SIDE,
) -> ImageArray:
    """Decode ``source`` like :func:`decode_image` and return only its pixels.

    Returns:
        H×W×3 uint8 RGB, C-contiguous, EXIF-upright.

    Raises:
        The same errors as :func:`decode_image`.
    """
    return decode_image(
        source, max_pixels=max_pixels, max_bytes=max_bytes, min_side=min_side
    ).pixels


def find_images(path: str | os.PathLike[str]) -> list[Path]:
    """List the image files at ``path``.

    A file is returned as ``[file]`` whatever its suffix (decoding then says what it
    is). A folder is walked recursively and its files whose suffix is in
    :data:`IMAGE_SUFFIXES` (any case) are returned sorted; hidden files and folders
    (names starting with ``.``) below ``path`` are skipped, symlinked folders are not
    followed.

    Raises:
        ImageNotFoundError: ``path`` does not exist.
    """
    root = Path(path)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise ImageNotFoundError(f"{os.fspath(path)}: no such file or folder (check the path)")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found.extend(
            Path(dirpath) / filename
            for filename in filenames
            if not filename.startswith(".") and Path(filename).suffix.lower() in IMAGE_SUFFIXES
        )
    return sorted(found)


# --- steps -------------------------------------------------------------------------


def _read(source: str | os.PathLike[str] | bytes, *, max_bytes: int) -> tuple[bytes, str]:
    """Return the encoded bytes and a display name, enforcing ``max_bytes``."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = "<bytes>"
    else:
        name = os.fspath(source)
        try:
            info = os.stat(name)
        except FileNotFoundError as exc:
            raise ImageNotFoundError(f"{name}: no such file (check the path)") from exc
        except OSError as exc:
            raise ImageNotFoundError(f"{name}: cannot access the file ({exc})") from exc
        if stat.S_ISDIR(info.st_mode):
            raise ImageNotFoundError(
                f"{name}: is a folder, not an image file; pass a file, or list the folder "
                "with find_images()"
            )
        if not stat.S_ISREG(info.st_mode):
            raise ImageNotFoundError(f"{name}: not a regular file; pass an image file")
        if info.st_size > max_bytes:
            raise ImageTooLargeError(
                f"{name}: the file has {info.st_size:,} bytes, over the limit of "
                f"{max_bytes:,}; compress the image or raise max_bytes"
            )
        try:
            with open(name, "rb") as handle:
                data = handle.read(max_bytes + 1)  # bounded even if the file grew
        except OSError as exc:
            raise ImageNotFoundError(f"{name}: cannot read the file ({exc})") from exc
    if not data:
        raise EmptyImageError(f"{name}: the input is empty (0 bytes); pass a non-empty image")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"{name}: the input has more than {max_bytes:,} bytes; compress the image or "
            "raise max_bytes"
        )
    return data, name


@functools.cache
def _open_formats() -> tuple[str, ...]:
    """The :data:`DECODED_FORMATS` this Pillow build can open (registers its plugins once)."""
    Image.init()
    return tuple(fmt for fmt in DECODED_FORMATS if fmt in Image.OPEN)


def _sniff(data: bytes) -> str | None:
    """The format ``data`` claims to be by its leading bytes, or ``None``."""
    for signature, fmt in _SIGNATURES:
        if data.startswith(signature):
            return fmt
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _open(data: bytes, name: str) -> ImageFile.ImageFile:
    """Parse the header only; raise typed errors for non-images and damaged headers."""
    try:
        return Image.open(io.BytesIO(data), formats=_open_formats())
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"{name}: the header claims more pixels than Pillow decodes safely ({exc}); "
            "downscale the image"
        ) from exc
    except UnidentifiedImageError as exc:
        claimed = _sniff(data)
        if claimed is not None:
            raise CorruptImageError(
                f"{name}: starts like a {claimed} file but its header is damaged; "
                "re-export or re-download the image"
            ) from exc
        raise UnsupportedImageError(
            f"{name}: not an image faceprint reads (expected {_FORMAT_NAMES}); "
            "convert it to JPEG or PNG"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(
            f"{name}: cannot parse the image header ({exc}); re-export or re-download it"
        ) from exc


def _load(image: ImageFile.ImageFile, name: str) -> None:
    """Decode the first frame's pixel data; truncation or damage raises CorruptImageError."""
    try:
        image.seek(0)
        image.load()
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{name}: {exc}; downscale the image") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(
            f"{name}: the image data is truncated or damaged ({exc}); re-export or "
            "re-download the image"
        ) from exc


def _exif_upright(image: Image.Image, name: str) -> tuple[Image.Image, bool]:
    """Apply the EXIF orientation; an unreadable EXIF block is logged and ignored."""
    try:
        orientation = image.getexif().get(_ORIENTATION, 1)
    except Exception as exc:  # damaged EXIF must not lose an otherwise good image
        log.warning("%s: ignoring unreadable EXIF data (%s)", name, exc)
        return image, False
    if not isinstance(orientation, int) or not 2 <= orientation <= 8:
        return image, False
    try:
        upright = ImageOps.exif_transpose(image)
    except _DECODE_ERRORS as exc:
        raise CorruptImageError(
            f"{name}: cannot apply EXIF orientation {orientation} ({exc}); re-export the image"
        ) from exc
    return upright, True


def _grey_to_rgb(grey: NDArray[np.uint8]) -> ImageArray:
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def _to_rgb(image: Image.Image, name: str) -> ImageArray:
    """Convert any Pillow mode to a writable, C-contiguous H×W×3 uint8 RGB array.

    * ``I;16*`` (16-bit grey): ``value >> 8``.
    * ``I`` (32-bit int): by value range, ``≤ 255`` kept, ``≤ 65535`` shifted by 8,
      larger ranges scaled by ``255 / max``; negatives clipped to 0.
    * ``F`` (float): ``max ≤ 1`` scaled by 255, ``max ≤ 255`` kept, else scaled by
      ``255 / max``; negatives and NaN become 0.
    * alpha (``RGBA``, ``LA``, ``PA``) or a transparency key (``P``, ``L``, ``RGB`` with
      ``tRNS``): composited over white.
    * everything else (``L``, ``1``, ``P``, ``CMYK``, ``YCbCr`` …): Pillow's ``convert``.
    """
    mode = image.mode
    if mode.startswith("I;16"):
        raw = np.asarray(image).astype(np.uint16)
        return _grey_to_rgb((raw >> 8).astype(np.uint8))
    if mode == "I":
        ints = np.asarray(image).astype(np.int64)
        high = int(ints.max()) if ints.size else 0
        ints = np.clip(ints, 0, None)
        if high <= 255:
            grey = ints.astype(np.uint8)
        elif high <= 65535:
            grey = (ints >> 8).astype(np.uint8)
        else:
            grey = (ints * 255 // high).astype(np.uint8)
        return _grey_to_rgb(grey)
    if mode == "F":
        floats = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0)
        top = float(floats.max()) if floats.size else 0.0
        if top <= 1.0:
            floats = floats * 255.0
        elif top > 255.0:
            floats = floats * (255.0 / top)
        return _grey_to_rgb(np.clip(np.rint(floats), 0, 255).astype(np.uint8))
    try:
        if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            rgb = Image.alpha_composite(white, rgba).convert("RGB")
        else:
            rgb = image if mode == "RGB" else image.convert("RGB")
    except ValueError as exc:
        raise UnsupportedImageError(
            f"{name}: pixel mode {mode!r} cannot be converted to RGB ({exc}); "
            "convert the image to 8-bit RGB"
        ) from exc
    pixels = np.array(rgb, dtype=np.uint8, order="C", copy=True)
    if pixels.ndim != 3 or pixels.shape[2] != 3:  # pragma: no cover - Pillow guarantees RGB
        raise UnsupportedImageError(f"{name}: decoded to unexpected shape {pixels.shape}")
    return pixels
