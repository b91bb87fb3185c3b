"""The archive's manifest: format marker and version, member names, the model pin, counts.

:class:`Manifest` is written by :mod:`~faceprint.gallery.archive.writer` and parsed (and
checked field by field) by :meth:`Manifest.from_json`; the format is described in
:mod:`faceprint.gallery.archive`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from faceprint.errors import GalleryCorruptError, GalleryError
from faceprint.types import BBox

ARCHIVE_FORMAT = "faceprint.gallery-archive"
"""``manifest.format`` of a gallery archive."""

ARCHIVE_VERSION = 1
"""The format version this code writes, and the newest it reads."""

MANIFEST = "manifest.json"
COLLECTIONS = "collections.jsonl"
PERSONS = "persons.jsonl"
FACES = "faces.jsonl"
EMBEDDINGS = "embeddings.npy"
MEMBERS = (COLLECTIONS, PERSONS, FACES, EMBEDDINGS)
"""The members the manifest lists with their sha256 (every member but itself)."""

MAX_MANIFEST_BYTES = 1 << 20
"""A larger ``manifest.json`` is refused unread."""

PROGRESS_EVERY = 1000
"""Faces between two calls of a ``progress`` callback."""


def corrupt(source: Path, what: str) -> GalleryCorruptError:
    """The error for an archive that is not valid: ``what`` says which part and why."""
    return GalleryCorruptError(
        f"archive {source} is not a valid faceprint gallery archive: {what}; "
        "nothing was imported (export the gallery again or use another copy)"
    )


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member's sha256 (hex) and size in bytes, as the manifest records them."""

    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """The parsed ``manifest.json`` (see :mod:`faceprint.gallery.archive`)."""

    format_version: int
    faceprint_version: str
    created_at: str
    model_id: str | None
    embedding_dim: int | None
    collection: str | None
    settings: dict[str, str]
    collections: int
    persons: int
    faces: int
    members: dict[str, MemberRecord]

    def to_json(self) -> str:
        """The manifest as indented JSON text, keys in the documented order."""
        data = {
            "format": ARCHIVE_FORMAT,
            "format_version": self.format_version,
            "faceprint_version": self.faceprint_version,
            "created_at": self.created_at,
            "model_id": self.model_id,
            "embedding_dim": self.embedding_dim,
            "collection": self.collection,
            "settings": self.settings,
            "counts": {
                "collections": self.collections,
                "persons": self.persons,
                "faces": self.faces,
            },
            "members": {
                name: {"sha256": m.sha256, "size": m.size} for name, m in self.members.items()
            },
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str, *, source: Path) -> Manifest:
        """Parse and check ``manifest.json``.

        Raises:
            GalleryCorruptError: not JSON, no marker, or a field is missing or malformed.
            GalleryError: a newer ``format_version`` (upgrade faceprint).
        """
        fields = Fields.parse(text, source, f"{MANIFEST}: ")
        if fields.text_or_none("format") != ARCHIVE_FORMAT:
            raise corrupt(source, f"{MANIFEST} lacks the marker format={ARCHIVE_FORMAT!r}")
        version = fields.count("format_version", least=1)
        if version > ARCHIVE_VERSION:
            raise GalleryError(
                f"archive {source} has format version {version}, but this faceprint reads "
                f"up to version {ARCHIVE_VERSION}: upgrade faceprint to import it"
            )
        counts = fields.mapping("counts")
        members = fields.mapping("members")
        manifest = cls(
            format_version=version,
            faceprint_version=fields.text("faceprint_version"),
            created_at=fields.text("created_at"),
            model_id=fields.optional_name("model_id"),
            embedding_dim=fields.optional_count("embedding_dim", least=1),
            collection=fields.optional_name("collection"),
            settings=fields.mapping("settings").strings(),
            collections=counts.count("collections"),
            persons=counts.count("persons"),
            faces=counts.count("faces"),
            members={name: members.member(name) for name in MEMBERS},
        )
        if manifest.faces and (manifest.model_id is None or manifest.embedding_dim is None):
            raise corrupt(source, f"{MANIFEST} counts faces but has no model_id or embedding_dim")
        return manifest


class Fields:
    """Typed access to a JSON object's fields; a wrong one is a GalleryCorruptError.

    ``where`` prefixes the field's name in messages, e.g. ``"line 3 of faces.jsonl: "``.
    """

    def __init__(self, data: dict[str, Any], source: Path, where: str) -> None:
        self._data = data
        self._source = source
        self._where = where

    @classmethod
    def parse(cls, text: str, source: Path, where: str) -> Fields:
        """Parse one JSON object.

        Raises:
            GalleryCorruptError: ``text`` is not JSON, or not an object.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise corrupt(source, f"{where}not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise corrupt(source, f"{where}not a JSON object")
        return cls(data, source, where)

    def bad(self, key: str, expected: str) -> GalleryCorruptError:
        value = self._data.get(key)
        return corrupt(self._source, f"{self._where}{key} {value!r} is not {expected}")

    def mapping(self, key: str) -> Fields:
        value = self._data.get(key)
        if not isinstance(value, dict):
            raise self.bad(key, "a JSON object")
        return Fields(value, self._source, f"{self._where}{key}.")

    def text(self, key: str) -> str:
        value = self._data.get(key)
        if not isinstance(value, str):
            raise self.bad(key, "a string")
        return value

    def name(self, key: str) -> str:
        value = self.text(key)
        if not value.strip():
            raise self.bad(key, "a non-empty name")
        return value

    def text_or_none(self, key: str) -> str | None:
        """The field if it is a string, else ``None`` (for marker checks)."""
        value = self._data.get(key)
        return value if isinstance(value, str) else None

    def optional_name(self, key: str) -> str | None:
        return None if self._data.get(key) is None else self.name(key)

    def count(self, key: str, *, least: int = 0) -> int:
        value = self._data.get(key)
        if not is_integer(value) or value < least:
            raise self.bad(key, f"an integer ≥ {least}")
        return int(value)

    def optional_count(self, key: str, *, least: int) -> int | None:
        return None if self._data.get(key) is None else self.count(key, least=least)

    def optional_number(self, key: str) -> float | None:
        value = self._data.get(key)
        if value is not None and not is_number(value):
            raise self.bad(key, "a finite number or null")
        return None if value is None else float(value)

    def bbox(self, key: str) -> BBox | None:
        box = self._data.get(key)
        if box is None:
            return None
        if not isinstance(box, list) or len(box) != 4 or not all(is_number(v) for v in box):
            raise self.bad(key, "4 finite numbers or null")
        return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))

    def strings(self) -> dict[str, str]:
        """The whole object, which must map strings to strings."""
        for key, value in self._data.items():
            if not isinstance(value, str):
                raise self.bad(key, "a string")
        return dict(self._data)

    def member(self, name: str) -> MemberRecord:
        entry = self.mapping(name)
        digest = entry.text("sha256")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise entry.bad("sha256", "a lower-case hex sha256")
        return MemberRecord(sha256=digest, size=entry.count("size"))


def is_integer(value: object) -> TypeGuard[int]:
    """A JSON integer (not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (not a boolean)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False
