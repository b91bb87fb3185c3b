"""Byte format of the threshold-Paillier objects (no pickle).

``b"FPPL" | version (1 byte) | header length (4 bytes, big-endian) | JSON header (UTF-8,
with a "kind") | integers``, each integer as a 4-byte big-endian length followed by its
big-endian magnitude. Every reader checks the magic, version, kind and that nothing is
left over, and raises :class:`~faceprint.errors.UsageError` otherwise.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from faceprint.errors import UsageError

MAGIC = b"FPPL"
VERSION = 1


class Writer:
    """Accumulates one object's header and integers."""

    def __init__(self, kind: str, header: dict[str, Any]) -> None:
        head = json.dumps({"kind": kind, **header}, separators=(",", ":")).encode()
        self._parts = [MAGIC, bytes([VERSION]), struct.pack(">I", len(head)), head]

    def add_int(self, value: int) -> None:
        if value < 0:
            raise UsageError("the wire format stores non-negative integers only")
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        self._parts.append(struct.pack(">I", len(raw)))
        self._parts.append(raw)

    def finish(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Parses bytes written by :class:`Writer` for the expected ``kind``."""

    def __init__(self, data: bytes, kind: str) -> None:
        if len(data) < 9 or data[:4] != MAGIC:
            raise UsageError(f"not faceprint threshold-Paillier bytes (expected a {kind})")
        if data[4] != VERSION:
            raise UsageError(f"unsupported threshold-Paillier format version {data[4]}")
        (size,) = struct.unpack(">I", data[5:9])
        try:
            header = json.loads(data[9 : 9 + size].decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UsageError(f"damaged threshold-Paillier header (expected a {kind})") from exc
        if not isinstance(header, dict) or header.get("kind") != kind:
            got = header.get("kind") if isinstance(header, dict) else None
            raise UsageError(f"expected a serialized {kind}, got {got!r}")
        self.header: dict[str, Any] = header
        self._data = memoryview(data)
        self._pos = 9 + size

    def next_int(self) -> int:
        if self._pos + 4 > len(self._data):
            raise UsageError("threshold-Paillier bytes are truncated")
        (size,) = struct.unpack(">I", self._data[self._pos : self._pos + 4])
        start = self._pos + 4
        if start + size > len(self._data):
            raise UsageError("threshold-Paillier bytes are truncated")
        self._pos = start + size
        return int.from_bytes(self._data[start : self._pos], "big")

    def rest_ints(self) -> list[int]:
        out = []
        while self._pos < len(self._data):
            out.append(self.next_int())
        return out

    def end(self) -> None:
        if self._pos != len(self._data):
            raise UsageError("threshold-Paillier bytes have trailing data")
