"""The byte format of everything the encrypted-search parties exchange or store.

One frame: ``b"FPHE"``, a format version byte, a JSON header (its length as 4 bytes
big-endian) and a list of binary blobs (a count, then each blob's length as 8 bytes
and its bytes). The header's ``kind`` says what the frame is (a key set, a probe, a
result, an encrypted gallery); the blobs are Microsoft SEAL's own serialisations of
keys and ciphertexts. No pickle: a frame from an untrusted peer is parsed by length
checks and JSON, and SEAL validates every object it loads against the parameters.

SEAL's Python binding saves and loads objects only through file paths, so
:class:`SealFiles` moves them through a private scratch directory (in ``/dev/shm``
when it is writable: memory, not disk).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceprint.errors import UsageError

__all__ = ["MAGIC", "Frame", "SealFiles", "pack", "unpack"]

MAGIC = b"FPHE"
VERSION = 1
_MAX_HEADER = 1 << 24
_MAX_BLOBS = 1 << 20


@dataclass(frozen=True, slots=True)
class Frame:
    """A parsed frame: its header and blobs."""

    header: dict[str, Any]
    blobs: tuple[bytes, ...]

    @property
    def kind(self) -> str:
        return str(self.header.get("kind", ""))

    def expect(self, kind: str) -> Frame:
        """This frame, checked to be of ``kind``.

        Raises:
            UsageError: it is another kind of frame (names both).
        """
        if self.kind != kind:
            raise UsageError(f"expected a faceprint {kind}, got a {self.kind or 'unknown'} frame")
        return self


def pack(header: dict[str, Any], blobs: Sequence[bytes] = ()) -> bytes:
    """One frame's bytes."""
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    parts = [MAGIC, bytes([VERSION]), struct.pack(">I", len(head)), head]
    parts.append(struct.pack(">I", len(blobs)))
    for blob in blobs:
        parts.append(struct.pack(">Q", len(blob)))
        parts.append(blob)
    return b"".join(parts)


def unpack(data: bytes, *, what: str = "input") -> Frame:
    """Parse a frame.

    Raises:
        UsageError: not a faceprint frame, another format version, or truncated /
            inconsistent lengths (names ``what``).
    """
    view = memoryview(data)
    if len(view) < 9 or bytes(view[:4]) != MAGIC:
        raise UsageError(f"{what} is not a faceprint encrypted-search file (no FPHE header)")
    if view[4] != VERSION:
        raise UsageError(f"{what} has format version {view[4]}; this faceprint reads {VERSION}")
    (head_len,) = struct.unpack(">I", view[5:9])
    if head_len > _MAX_HEADER or 9 + head_len + 4 > len(view):
        raise UsageError(f"{what} is truncated (header)")
    try:
        header = json.loads(bytes(view[9 : 9 + head_len]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UsageError(f"{what} has a damaged header") from None
    if not isinstance(header, dict):
        raise UsageError(f"{what} has a damaged header")
    pos = 9 + head_len
    (count,) = struct.unpack(">I", view[pos : pos + 4])
    pos += 4
    if count > _MAX_BLOBS:
        raise UsageError(f"{what} claims {count} parts; it is damaged")
    blobs: list[bytes] = []
    for _ in range(count):
        if pos + 8 > len(view):
            raise UsageError(f"{what} is truncated (part {len(blobs)})")
        (size,) = struct.unpack(">Q", view[pos : pos + 8])
        pos += 8
        if pos + size > len(view):
            raise UsageError(f"{what} is truncated (part {len(blobs)})")
        blobs.append(bytes(view[pos : pos + size]))
        pos += size
    if pos != len(view):
        raise UsageError(f"{what} has {len(view) - pos} trailing bytes; it is damaged")
    return Frame(header=header, blobs=tuple(blobs))


class SealFiles:
    """Save SEAL objects to bytes and load them back, through a private scratch dir."""

    def __init__(self) -> None:
        shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp inside it, mode 0700
        base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
        self._dir = Path(tempfile.mkdtemp(prefix="faceprint-he-", dir=base))
        self._lock = threading.Lock()
        self._n = 0

    def _path(self) -> Path:
        with self._lock:
            self._n += 1
            return self._dir / f"{threading.get_ident()}-{self._n}"

    def dump(self, obj: Any) -> bytes:
        """The bytes of ``obj.save(path)``."""
        path = self._path()
        try:
            obj.save(str(path))
            return path.read_bytes()
        finally:
            path.unlink(missing_ok=True)

    def load(self, obj: Any, context: Any, data: bytes, *, what: str) -> Any:
        """``obj.load(context, path)`` from ``data``; returns ``obj``.

        Raises:
            UsageError: SEAL refuses the bytes (damaged, or made for other parameters).
        """
        path = self._path()
        try:
            path.write_bytes(data)
            try:
                obj.load(context, str(path))
            except (ValueError, RuntimeError) as exc:
                raise UsageError(
                    f"{what} cannot be read with these keys' parameters ({exc}); it is "
                    "damaged or was made with other keys"
                ) from None
            return obj
        finally:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __del__(self) -> None:  # best effort: scratch files are removed as they are used
        scratch = getattr(self, "_dir", None)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
