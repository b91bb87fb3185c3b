"""SQLite storage for galleries: the reads and writes of collections, persons and faces.

:class:`GalleryStore` is the one object the :class:`~faceprint.gallery.Gallery` facade
talks to. Its layers, one module each:

* :mod:`faceprint.gallery.schema` — the tables (documented there), marker and version;
* :mod:`faceprint.gallery.database` — the connection: opening, validation, migration,
  transactions, the ``meta`` table and the model pin;
* :mod:`faceprint.gallery.transfer` — bulk reads and writes for archives;
* :mod:`faceprint.gallery.feed` — what vector indexes read: bulk rows and the change log;
* this module — everyday SQL: adding, renaming and removing collections, persons and
  faces, single-item getters, listings, counts, image-digest lookups and the embedding
  matrix for search.

No pickle: embeddings are little-endian float32 blobs. :mod:`faceprint.gallery.gallery`
validates inputs, caches the embedding matrix and searches it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import AlreadyExistsError, GalleryError, NotFoundError
from faceprint.gallery.database import BUSY_TIMEOUT_MS, MEMORY
from faceprint.gallery.feed import IndexFeed
from faceprint.gallery.records import CollectionInfo, FaceInfo, FaceRecord, PersonInfo
from faceprint.gallery.schema import (
    FORMAT,
    INSERT_FACE,
    SCHEMA_VERSION,
    Pin,
    bbox_from_columns,
    now_iso,
)
from faceprint.gallery.sealing import check_current
from faceprint.gallery.transfer import GalleryTransfer

__all__ = [
    "BUSY_TIMEOUT_MS",
    "FORMAT",
    "MEMORY",
    "SCHEMA_VERSION",
    "GalleryStore",
    "Pin",
    "StoredEmbeddings",
    "now_iso",
]

DIGESTS_PER_QUERY = 500
"""Image digests per ``IN (…)`` list: under SQLite's variable limit (999 before 3.32)."""

_COLLECTIONS = (
    "SELECT c.name, c.created_at, "
    "(SELECT COUNT(*) FROM persons p WHERE p.collection_id = c.id), "
    "(SELECT COUNT(*) FROM faces f JOIN persons p ON p.id = f.person_id "
    " WHERE p.collection_id = c.id) "
    "FROM collections c"
)
_PERSONS = (
    "SELECT p.name, c.name, p.created_at, "
    "(SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id) "
    "FROM persons p JOIN collections c ON c.id = p.collection_id"
)
_FACES = (
    "SELECT f.id, p.name, c.name, f.source, f.source_sha256, "
    "f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, f.det_score, f.enrolled_at "
    "FROM faces f JOIN persons p ON p.id = f.person_id "
    "JOIN collections c ON c.id = p.collection_id"
)


@dataclass(frozen=True, slots=True, eq=False)
class StoredEmbeddings:
    """Every face template of a collection filter, in face-id order, read consistently.

    ``version`` is :meth:`GalleryStore.version` when the read began and ``pin`` the model
    pin it saw; ``matrix`` is N×D float32 (rows unit-norm, D the pinned dimension, 0 if
    unpinned), ``face_ids`` and ``person_ids`` are N int64; ``persons`` maps a person id
    to ``(person name, collection name)``.
    """

    version: tuple[int, int]
    pin: Pin
    matrix: NDArray[np.float32]
    face_ids: NDArray[np.int64]
    person_ids: NDArray[np.int64]
    persons: dict[int, tuple[str, str]]


class GalleryStore(GalleryTransfer, IndexFeed):
    """One SQLite connection to a gallery file; every SQL statement lives in its modules.

    Not thread-safe by itself: :class:`~faceprint.gallery.Gallery` serialises calls.
    """

    # --- writes ------------------------------------------------------------------------

    def insert_faces(
        self,
        collection: str,
        person: str,
        faces: Sequence[FaceRecord],
        *,
        model_id: str,
        dim: int,
    ) -> list[int]:
        """Insert faces of one person in one transaction; returns their ids in input order.

        Creates the collection and person if missing and pins an unpinned gallery to
        ``model_id``/``dim``. Vectors must already be validated (finite, unit-norm,
        ``dim`` long); they are stored as little-endian float32, encrypted in an
        encrypted gallery (inserted, then sealed with the id the insert gave).

        Raises:
            ModelMismatchError: the gallery is pinned to another model or dimension.
            GalleryError: the database refused the write (nothing was changed).
        """
        now = now_iso()
        rows = []
        for face in faces:
            box = face.bbox_xyxy if face.bbox_xyxy is not None else (None, None, None, None)
            blob = np.ascontiguousarray(face.embedding.vector, dtype="<f4").tobytes()
            rows.append((blob, face.source, face.source_sha256, *box, face.det_score, now))
        ids: list[int] = []
        with self._write() as conn:
            check_current(conn, self._cipher, self._path)
            self._pin_to(conn, model_id, dim)
            collection_id, _ = self._ensure_collection(conn, collection, now)
            person_id, _ = self._ensure_person(conn, collection_id, person, now)
            for blob, *columns in rows:
                stored = b"" if self._cipher is not None else blob
                cursor = conn.execute(INSERT_FACE, (person_id, stored, *columns))
                if cursor.lastrowid is None:  # pragma: no cover - sqlite always sets it
                    raise GalleryError(f"gallery {self._path} did not return a face id")
                face_id = int(cursor.lastrowid)
                if self._cipher is not None:  # the row's id is its associated data
                    sealed = self._cipher.seal(face_id, model_id, dim, blob)
                    conn.execute("UPDATE faces SET embedding = ? WHERE id = ?", (sealed, face_id))
                ids.append(face_id)
        return ids

    def create_collection(self, name: str) -> None:
        """Create an empty collection.

        Raises:
            AlreadyExistsError: a collection of that name exists.
        """
        with self._write() as conn:
            _, created = self._ensure_collection(conn, name, now_iso())
            if not created:
                raise AlreadyExistsError(
                    f"collection {name!r} already exists in gallery {self._path}"
                )

    def create_person(self, collection: str, person: str) -> None:
        """Create a person without faces in an existing collection.

        Raises:
            NotFoundError: no such collection.
            AlreadyExistsError: the person exists in that collection.
        """
        with self._write() as conn:
            collection_id = self._collection_id(conn, collection)
            _, created = self._ensure_person(conn, collection_id, person, now_iso())
            if not created:
                raise AlreadyExistsError(
                    f"person {person!r} already exists in collection {collection!r}"
                )

    def delete_person(self, collection: str, person: str) -> int:
        """Delete a person and (by cascade) their faces; returns the faces deleted.

        Raises:
            NotFoundError: no such person in that collection.
        """
        with self._write() as conn:
            person_id = self._person_id(conn, collection, person)
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM faces WHERE person_id = ?", (person_id,)
            ).fetchone()
            conn.execute("DELETE FROM persons WHERE id = ?", (person_id,))
        return int(count)

    def delete_face(self, face_id: int) -> None:
        """Delete one face; a person left without faces is deleted too.

        Raises:
            NotFoundError: no face with that id.
        """
        with self._write() as conn:
            row = conn.execute("SELECT person_id FROM faces WHERE id = ?", (face_id,)).fetchone()
            if row is None:
                raise self._no_face(face_id)
            conn.execute("DELETE FROM faces WHERE id = ?", (face_id,))
            conn.execute(
                "DELETE FROM persons WHERE id = ? "
                "AND NOT EXISTS (SELECT 1 FROM faces WHERE person_id = ?)",
                (row[0], row[0]),
            )

    def delete_collection(self, name: str) -> int:
        """Delete a collection with its persons and faces; returns the faces deleted.

        Raises:
            NotFoundError: no such collection.
        """
        with self._write() as conn:
            collection_id = self._collection_id(conn, name)
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM faces f JOIN persons p ON p.id = f.person_id "
                "WHERE p.collection_id = ?",
                (collection_id,),
            ).fetchone()
            conn.execute("DELETE FROM collections WHERE id = ?", (collection_id,))
        return int(count)

    def rename_person(self, collection: str, person: str, new_name: str) -> None:
        """Rename a person within their collection.

        Raises:
            NotFoundError: no such person. AlreadyExistsError: ``new_name`` is taken.
        """
        with self._write() as conn:
            person_id = self._person_id(conn, collection, person)
            taken = conn.execute(
                "SELECT 1 FROM persons WHERE name = ? AND collection_id = "
                "(SELECT collection_id FROM persons WHERE id = ?)",
                (new_name, person_id),
            ).fetchone()
            if taken is not None:
                raise AlreadyExistsError(
                    f"a person {new_name!r} already exists in collection {collection!r}; "
                    "choose another name or remove that person first"
                )
            conn.execute("UPDATE persons SET name = ? WHERE id = ?", (new_name, person_id))

    def rename_collection(self, name: str, new_name: str) -> None:
        """Rename a collection; its persons and faces keep their ids.

        Raises:
            NotFoundError: no such collection. AlreadyExistsError: ``new_name`` is taken.
        """
        with self._write() as conn:
            collection_id = self._collection_id(conn, name)
            taken = conn.execute("SELECT 1 FROM collections WHERE name = ?", (new_name,)).fetchone()
            if taken is not None:
                raise AlreadyExistsError(
                    f"a collection {new_name!r} already exists in gallery {self._path}; "
                    "choose another name or remove that collection first"
                )
            conn.execute("UPDATE collections SET name = ? WHERE id = ?", (new_name, collection_id))

    # --- single items ------------------------------------------------------------------

    def _no_face(self, face_id: int) -> NotFoundError:
        return NotFoundError(f"no face with id {face_id} in gallery {self._path}")

    def has_collection(self, name: str) -> bool:
        """Whether a collection exists (one indexed lookup, no counting)."""
        with self._errors("reading"):
            row = self._db.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone()
        return row is not None

    def collection(self, name: str) -> CollectionInfo:
        """One collection with its counts (a unique-index lookup; counts by person index).

        Raises:
            NotFoundError: no such collection.
        """
        with self._read() as conn:
            row = conn.execute(f"{_COLLECTIONS} WHERE c.name = ?", (name,)).fetchone()
            if row is None:
                raise self._no_collection(conn, name)
        return _collection_info(row)

    def person(self, collection: str, person: str) -> PersonInfo:
        """One person with their face count (unique-index lookups).

        Raises:
            NotFoundError: no such collection, or no such person in it.
        """
        with self._read() as conn:
            collection_id = self._collection_id(conn, collection)
            row = conn.execute(
                f"{_PERSONS} WHERE p.collection_id = ? AND p.name = ?", (collection_id, person)
            ).fetchone()
        if row is None:
            raise self._no_person(collection, person)
        return _person_info(row)

    def face(self, face_id: int) -> FaceInfo:
        """One face's metadata by id (a primary-key lookup).

        Raises:
            NotFoundError: no face with that id.
        """
        with self._errors("reading"):
            row = self._db.execute(f"{_FACES} WHERE f.id = ?", (face_id,)).fetchone()
        if row is None:
            raise self._no_face(face_id)
        return _face_info(row)

    def enrolled_images(
        self, sha256s: Iterable[str], collection: str
    ) -> dict[str, tuple[str, ...]]:
        """For each digest enrolled in ``collection``: the sorted names of its persons.

        Uses the ``faces_source_sha256`` index, :data:`DIGESTS_PER_QUERY` digests per
        query, all in one read transaction. Digests not enrolled are absent; empty strings
        never match (faces without a digest are not "enrolled images"); a missing
        collection gives ``{}``.
        """
        digests = sorted({d for d in sha256s if d})
        found: dict[str, set[str]] = {}
        with self._read() as conn:
            row = conn.execute(
                "SELECT id FROM collections WHERE name = ?", (collection,)
            ).fetchone()
            if row is None or not digests:
                return {}
            for start in range(0, len(digests), DIGESTS_PER_QUERY):
                chunk = digests[start : start + DIGESTS_PER_QUERY]
                marks = ", ".join("?" * len(chunk))
                # CROSS JOIN keeps faces as the outer loop, so SQLite looks the digests up
                # in faces_source_sha256 instead of walking every person of the collection.
                query = (  # only "?" placeholders are formatted in
                    "SELECT DISTINCT f.source_sha256, p.name FROM faces f "  # noqa: S608
                    "CROSS JOIN persons p ON p.id = f.person_id "
                    f"WHERE f.source_sha256 IN ({marks}) AND p.collection_id = ?"
                )
                for digest, name in conn.execute(query, (*chunk, row[0])):
                    found.setdefault(str(digest), set()).add(str(name))
        return {digest: tuple(sorted(names)) for digest, names in sorted(found.items())}

    # --- listings and counts -----------------------------------------------------------

    def collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name."""
        with self._errors("reading"):
            rows = self._db.execute(f"{_COLLECTIONS} ORDER BY c.name").fetchall()
        return [_collection_info(r) for r in rows]

    def persons(self, collection: str | None) -> list[PersonInfo]:
        """Persons of one collection (or all), sorted by collection then name.

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._read() as conn:
            rows = conn.execute(
                f"{_PERSONS} WHERE ?1 IS NULL OR c.id = ?1 ORDER BY c.name, p.name",
                (self._collection_filter(conn, collection),),
            ).fetchall()
        return [_person_info(r) for r in rows]

    def faces(self, collection: str, person: str) -> list[FaceInfo]:
        """Faces of one person, in id (enrolment) order.

        Raises:
            NotFoundError: no such collection or person.
        """
        with self._read() as conn:
            person_id = self._person_id(conn, collection, person)
            rows = conn.execute(f"{_FACES} WHERE p.id = ? ORDER BY f.id", (person_id,)).fetchall()
        return [_face_info(r) for r in rows]

    def count_faces(self, collection: str | None) -> int:
        """Number of face templates in one collection (or all).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._read() as conn:
            if collection is None:
                row = conn.execute("SELECT COUNT(*) FROM faces").fetchone()
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM faces f JOIN persons p ON p.id = f.person_id "
                    "WHERE p.collection_id = ?",
                    (self._collection_id(conn, collection),),
                ).fetchone()
        return int(row[0])

    def count_persons(self, collection: str | None) -> int:
        """Number of persons in one collection (or all).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._read() as conn:
            if collection is None:
                row = conn.execute("SELECT COUNT(*) FROM persons").fetchone()
            else:
                row = conn.execute(
                    "SELECT COUNT(*) FROM persons WHERE collection_id = ?",
                    (self._collection_id(conn, collection),),
                ).fetchone()
        return int(row[0])

    def load_embeddings(self, collection: str | None) -> StoredEmbeddings:
        """Every face template of one collection (or all), with the pin, in one read.

        The pin, version and rows come from one read transaction, so a concurrent first
        enrolment cannot yield faces without a pinned dimension.

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
            GalleryCorruptError: a stored embedding is not ``embedding_dim`` × 4 bytes.
        """
        with self._read() as conn:
            version = self.version()
            pin = self._read_pin(conn)
            args = (self._collection_filter(conn, collection),)
            rows = conn.execute(
                "SELECT f.id, f.person_id, f.embedding FROM faces f "
                "JOIN persons p ON p.id = f.person_id "
                "WHERE ?1 IS NULL OR p.collection_id = ?1 ORDER BY f.id",
                args,
            ).fetchall()
            names = conn.execute(
                "SELECT p.id, p.name, c.name FROM persons p "
                "JOIN collections c ON c.id = p.collection_id "
                "WHERE ?1 IS NULL OR c.id = ?1",
                args,
            ).fetchall()
        dim = pin.embedding_dim
        width = dim or 0
        if rows and dim is None:
            raise self._no_dim()
        blobs = [self._check_blob(face_id, blob, width) for face_id, _, blob in rows]
        matrix = np.frombuffer(b"".join(blobs), dtype="<f4")
        return StoredEmbeddings(
            version=version,
            pin=pin,
            matrix=matrix.astype(np.float32, copy=False).reshape(len(rows), width),
            face_ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            person_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
            persons={int(r[0]): (str(r[1]), str(r[2])) for r in names},
        )


def _collection_info(row: sqlite3.Row | tuple[Any, ...]) -> CollectionInfo:
    """A :class:`CollectionInfo` from a row of ``_COLLECTIONS``."""
    return CollectionInfo(
        name=str(row[0]), created_at=str(row[1]), persons=int(row[2]), faces=int(row[3])
    )


def _person_info(row: sqlite3.Row | tuple[Any, ...]) -> PersonInfo:
    """A :class:`PersonInfo` from a row of ``_PERSONS``."""
    return PersonInfo(
        name=str(row[0]), collection=str(row[1]), created_at=str(row[2]), faces=int(row[3])
    )


def _face_info(row: sqlite3.Row | tuple[Any, ...]) -> FaceInfo:
    """A :class:`FaceInfo` from a row of ``_FACES``."""
    return FaceInfo(
        id=int(row[0]),
        person=str(row[1]),
        collection=str(row[2]),
        source=str(row[3]),
        source_sha256=str(row[4]),
        bbox_xyxy=bbox_from_columns(*row[5:9]),
        det_score=None if row[9] is None else float(row[9]),
        enrolled_at=str(row[10]),
    )
