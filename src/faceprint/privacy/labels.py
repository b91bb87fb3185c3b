"""Who each row of an encrypted-search gallery is: face ids and persons, in clear.

A search result carries its gallery's labels so the client can name the persons whose
templates passed; the templates themselves never leave the server in clear. Id arrays
travel as base64 little-endian integers in the frame header.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceprint.errors import UsageError

__all__ = ["Labels"]


@dataclass(frozen=True, slots=True)
class Labels:
    """Who each gallery row is: its face id and person (an index into ``names``)."""

    face_ids: tuple[int, ...]
    person_of: tuple[int, ...]
    names: tuple[str, ...]
    collection: str | None = None

    @classmethod
    def of_persons(
        cls,
        persons: Sequence[str],
        *,
        face_ids: Sequence[int] | None = None,
        collection: str | None = None,
    ) -> Labels:
        """Labels from one person name per row (face ids ``0 … n−1`` unless given)."""
        names = sorted(set(persons))
        where = {n: i for i, n in enumerate(names)}
        ids = (
            tuple(int(f) for f in face_ids) if face_ids is not None else tuple(range(len(persons)))
        )
        return cls(ids, tuple(where[p] for p in persons), tuple(names), collection)

    def header(self) -> dict[str, Any]:
        """The labels as frame header fields (id arrays as base64 little-endian int32, or int64 when an id needs it)."""
        return {
            "face_ids": _b64(self.face_ids),
            "person_of": _b64(self.person_of),
            "names": list(self.names),
            "collection": self.collection,
        }

    @classmethod
    def from_header(cls, head: dict[str, Any]) -> Labels:
        """Labels from :meth:`header` fields.

        Raises:
            UsageError: missing or inconsistent fields.
        """
        try:
            faces = _unb64(head["face_ids"])
            person_of = _unb64(head["person_of"])
            names = tuple(str(n) for n in head["names"])
        except (KeyError, TypeError, ValueError):
            raise UsageError("the labels of this file are damaged") from None
        inside = person_of.size == 0 or (person_of.min() >= 0 and person_of.max() < len(names))
        if faces.shape != person_of.shape or not inside:
            raise UsageError("the labels of this file are damaged")
        return cls(tuple(faces.tolist()), tuple(person_of.tolist()), names, head.get("collection"))

    def persons(self) -> tuple[str, ...]:
        """The person of each row."""
        if not self.person_of:
            return ()
        return tuple(np.asarray(self.names, dtype=object)[np.asarray(self.person_of)].tolist())


def _b64(values: Sequence[int]) -> str:
    """``i4:`` or ``i8:`` (the narrowest that holds them) and base64 little-endian ints."""
    array = np.asarray(values, dtype=np.int64)
    narrow = array.size == 0 or (array.min() >= -(2**31) and array.max() < 2**31)
    kind = "i4" if narrow else "i8"
    return f"{kind}:" + base64.b64encode(array.astype(f"<{kind}").tobytes()).decode()


def _unb64(text: str) -> np.ndarray:
    kind, sep, body = text.partition(":")
    if not sep or kind not in ("i4", "i8"):
        raise ValueError("not an id array")
    return np.frombuffer(base64.b64decode(body, validate=True), dtype=f"<{kind}").astype(np.int64)
