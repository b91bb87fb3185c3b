"""SQLite storage for galleries: collections → persons → faces. No pickle.

Schema (version :data:`SCHEMA_VERSION`)::

    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)
        format = "faceprint.gallery", schema_version, created_at,
        model_id and embedding_dim (the pin; absent until pinned)
    collections(id INTEGER PRIMARY KEY, name TEXT UNIQUE, created_at TEXT)
    persons(id INTEGER PRIMARY KEY, collection_id → collections ON DELETE CASCADE,
            name TEXT, created_at TEXT, UNIQUE(collection_id, name))
    faces(id INTEGER PRIMARY KEY AUTOINCREMENT (never reused), person_id → persons ON DELETE CASCADE,
          embedding BLOB (float32 little-endian, embedding_dim × 4 bytes),
          source TEXT, source_sha256 TEXT, bbox_x1, bbox_y1, bbox_x2, bbox_y2 REAL,
          det_score REAL, enrolled_at TEXT)

Times are ISO-8601 UTC. Connections run with ``foreign_keys=ON``, ``journal_mode=WAL``
(files only) and a busy timeout. Every write runs in one ``BEGIN IMMEDIATE``
transaction: it either happens completely or not at all.

This module owns all SQL; :mod:`faceprint.gallery.gallery` validates inputs, caches the
embedding matrix and searches it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import (
    AlreadyExistsError,
    FaceprintError,
    GalleryCorruptError,
    GalleryError,
    ModelMismatchError,
    NotFoundError,
)
from faceprint.gallery.records import CollectionInfo, FaceInfo, FaceRecord, PersonInfo

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""The schema this code writes; files with a higher version are refused."""

FORMAT = "faceprint.gallery"
"""Value of ``meta.format`` that marks an SQLite file as a faceprint gallery."""

BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another writer before giving up (milliseconds)."""

MEMORY = ":memory:"

_TABLES = ("meta", "collections", "persons", "faces")

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (collection_id, name)
    )""",
    """CREATE TABLE faces (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        embedding BLOB NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        source_sha256 TEXT NOT NULL DEFAULT '',
        bbox_x1 REAL, bbox_y1 REAL, bbox_x2 REAL, bbox_y2 REAL,
        det_score REAL,
        enrolled_at TEXT NOT NULL
    )""",
    "CREATE INDEX faces_person ON faces(person_id)",
)


def now_iso() -> str:
    """The current UTC time as ISO-8601 with seconds, e.g. ``2024-05-01T12:00:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Pin:
    """The embedding model and dimension a gallery is pinned to (``None`` = not yet)."""

    model_id: str | None
    embedding_dim: int | None

    def check(self, model_id: str, dim: int, *, gallery: str) -> None:
        """Refuse an embedding of another model or dimension.

        Raises:
            ModelMismatchError: ``model_id`` or ``dim`` differs from the pin; the
                message names both models.
        """
        if self.model_id is not None and model_id != self.model_id:
            raise ModelMismatchError(
                f"gallery {gallery} holds embeddings of model {self.model_id!r}, "
                f"got one of model {model_id!r}; use the {self.model_id!r} embedder "
                "or another gallery"
            )
        if self.embedding_dim is not None and dim != self.embedding_dim:
            raise ModelMismatchError(
                f"gallery {gallery} holds {self.embedding_dim}-d embeddings of model "
                f"{self.model_id!r}, got a {dim}-d embedding of model {model_id!r}; "
                "use the embedder the gallery was filled with or another gallery"
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


class GalleryStore:
    """One SQLite connection to a gallery file; all SQL lives here.

    Not thread-safe by itself: :class:`~faceprint.gallery.Gallery` serialises calls.
    """

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._writes = 0

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    def open(cls, path: str, *, create: bool) -> GalleryStore:
        """Open a gallery file, creating and initialising it if allowed.

        Args:
            path: file path, or ``":memory:"`` for a private in-memory gallery.
            create: create a missing file (and its parent folders).

        Raises:
            NotFoundError: ``create`` is False and there is no file at ``path``.
            GalleryCorruptError: the file is not a faceprint gallery (not SQLite, SQLite
                without the faceprint marker, missing tables, damaged).
            GalleryError: the file cannot be opened, or was written by a newer faceprint
                (upgrade faceprint).
        """
        memory = path == MEMORY
        if not memory:
            file = Path(path)
            if not file.exists():
                if not create:
                    raise NotFoundError(
                        f"no gallery at {path}; enroll faces first to create one, or check the path"
                    )
                file.parent.mkdir(parents=True, exist_ok=True)
            elif not file.is_file():
                raise GalleryError(f"{path} is not a file; give the path of a gallery file")
        try:
            conn = sqlite3.connect(
                path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise GalleryError(f"cannot open gallery {path}: {exc}") from exc
        store = cls(conn, path)
        try:
            with store._errors("opening"):
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
                if not memory:
                    conn.execute("PRAGMA journal_mode = WAL")
                store._initialise_or_validate(create=create or memory)
        except BaseException:
            conn.close()
            raise
        return store

    def close(self) -> None:
        """Close the connection; idempotent."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def closed(self) -> bool:
        return self._conn is None

    @property
    def path(self) -> str:
        return self._path

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise GalleryError(f"gallery {self._path} is closed; open it again")
        return self._conn

    def _tables(self) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {str(r[0]) for r in rows}

    def _initialise_or_validate(self, *, create: bool) -> None:
        if not self._tables():
            if not create:
                raise GalleryCorruptError(
                    f"{self._path} is an empty SQLite database, not a faceprint gallery; "
                    "open it with create=True to initialise it"
                )
            with self._write() as conn:
                if not self._tables():  # another process may have won the race
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    conn.executemany(
                        "INSERT INTO meta(key, value) VALUES (?, ?)",
                        [
                            ("format", FORMAT),
                            ("schema_version", str(SCHEMA_VERSION)),
                            ("created_at", now_iso()),
                        ],
                    )
                    log.info("created gallery %s (schema %d)", self._path, SCHEMA_VERSION)
        self._validate()

    def _validate(self) -> None:
        not_gallery = f"{self._path} is an SQLite database but not a faceprint gallery"
        tables = self._tables()
        if "meta" not in tables:
            raise GalleryCorruptError(f"{not_gallery} (no meta table); check the path")
        meta = {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}
        if meta.get("format") != FORMAT:
            raise GalleryCorruptError(f"{not_gallery} (no faceprint marker); check the path")
        try:
            version = int(meta["schema_version"])
        except (KeyError, ValueError) as exc:
            raise GalleryCorruptError(
                f"gallery {self._path} has no valid schema_version; the file is damaged"
            ) from exc
        if version > SCHEMA_VERSION:
            raise GalleryError(
                f"gallery {self._path} uses schema version {version}, but this faceprint "
                f"reads up to version {SCHEMA_VERSION}: upgrade faceprint to open it"
            )
        missing = [t for t in _TABLES if t not in tables]
        if missing:
            raise GalleryCorruptError(
                f"gallery {self._path} lacks table(s) {', '.join(missing)}; the file is damaged"
            )

    # --- transactions and errors -------------------------------------------------------

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn sqlite3 errors into gallery errors (faceprint errors pass through)."""
        try:
            yield
        except FaceprintError:
            raise
        except sqlite3.OperationalError as exc:
            raise GalleryError(
                f"{action} gallery {self._path} failed: {exc}; "
                "check the file's permissions and that no other program holds it locked"
            ) from exc
        except sqlite3.IntegrityError as exc:
            raise GalleryError(
                f"{action} gallery {self._path} failed: {exc}; nothing was changed"
            ) from exc
        except sqlite3.DatabaseError as exc:
            raise GalleryCorruptError(
                f"{self._path} is not a faceprint gallery or is damaged ({exc}); "
                "check the path or restore a backup"
            ) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: commit on success, roll back on any error."""
        conn = self._db
        with self._errors("writing to"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        self._writes += 1

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: every query inside sees the same database state."""
        conn = self._db
        with self._errors("reading"):
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def version(self) -> tuple[int, int]:
        """A value that changes whenever this or another connection commits a write.

        ``(PRAGMA data_version, writes through this connection)``: SQLite bumps
        ``data_version`` only for other connections' commits, so our own are counted.
        """
        with self._errors("reading"):
            row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0]), self._writes

    # --- meta and pin ------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        """One ``meta`` value, or ``None`` if unset."""
        with self._errors("reading"):
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def pin(self) -> Pin:
        """The current model pin."""
        with self._errors("reading"):
            return self._read_pin(self._db)

    def _read_pin(self, conn: sqlite3.Connection) -> Pin:
        meta = {
            str(k): str(v)
            for k, v in conn.execute(
                "SELECT key, value FROM meta WHERE key IN ('model_id', 'embedding_dim')"
            )
        }
        dim = meta.get("embedding_dim")
        try:
            return Pin(
                model_id=meta.get("model_id"), embedding_dim=None if dim is None else int(dim)
            )
        except ValueError as exc:
            raise GalleryCorruptError(
                f"gallery {self._path} has an invalid embedding_dim {dim!r}; the file is damaged"
            ) from exc

    @staticmethod
    def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def set_setting(self, key: str, value: str) -> None:
        """Store a gallery setting (``meta`` key ``setting.<key>``) in one transaction."""
        with self._write() as conn:
            self._set_meta(conn, f"setting.{key}", value)

    def pin_model(self, model_id: str) -> None:
        """Pin an unpinned gallery to ``model_id``; check a pinned one.

        Raises:
            ModelMismatchError: the gallery is pinned to another model.
        """
        current = self.pin()
        if current.model_id is not None:
            _check_model(current, model_id, self._path)
            return
        with self._write() as conn:
            current = self._read_pin(conn)
            if current.model_id is None:
                self._set_meta(conn, "model_id", model_id)
                log.info("pinned gallery %s to model %r", self._path, model_id)
            else:
                _check_model(current, model_id, self._path)

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
        ``dim`` long); they are stored as little-endian float32.

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
            current = self._read_pin(conn)
            current.check(model_id, dim, gallery=self._path)
            if current.model_id is None:
                self._set_meta(conn, "model_id", model_id)
            if current.embedding_dim is None:
                self._set_meta(conn, "embedding_dim", str(dim))
            conn.execute(
                "INSERT INTO collections(name, created_at) VALUES (?, ?) "
                "ON CONFLICT(name) DO NOTHING",
                (collection, now),
            )
            (collection_id,) = conn.execute(
                "SELECT id FROM collections WHERE name = ?", (collection,)
            ).fetchone()
            conn.execute(
                "INSERT INTO persons(collection_id, name, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(collection_id, name) DO NOTHING",
                (collection_id, person, now),
            )
            (person_id,) = conn.execute(
                "SELECT id FROM persons WHERE collection_id = ? AND name = ?",
                (collection_id, person),
            ).fetchone()
            for row in rows:
                cursor = conn.execute(
                    "INSERT INTO faces(person_id, embedding, source, source_sha256, "
                    "bbox_x1, bbox_y1, bbox_x2, bbox_y2, det_score, enrolled_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (person_id, *row),
                )
                if cursor.lastrowid is None:  # pragma: no cover - sqlite always sets it
                    raise GalleryError(f"gallery {self._path} did not return a face id")
                ids.append(int(cursor.lastrowid))
        return ids

    def create_collection(self, name: str) -> None:
        """Create an empty collection.

        Raises:
            AlreadyExistsError: a collection of that name exists.
        """
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO collections(name, created_at) VALUES (?, ?) "
                "ON CONFLICT(name) DO NOTHING",
                (name, now_iso()),
            )
            if cursor.rowcount == 0:
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
            cursor = conn.execute(
                "INSERT INTO persons(collection_id, name, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT(collection_id, name) DO NOTHING",
                (collection_id, person, now_iso()),
            )
            if cursor.rowcount == 0:
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
                raise NotFoundError(f"no face with id {face_id} in gallery {self._path}")
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

    # --- reads -------------------------------------------------------------------------

    def _collection_id(self, conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row is None:
            known = [str(r[0]) for r in conn.execute("SELECT name FROM collections ORDER BY name")]
            listed = ", ".join(repr(k) for k in known[:10]) or "none"
            raise NotFoundError(
                f"no collection {name!r} in gallery {self._path} (collections: {listed})"
            )
        return int(row[0])

    def _collection_filter(self, conn: sqlite3.Connection, name: str | None) -> int | None:
        """``None`` for "all collections", else the id of ``name`` (NotFoundError if absent)."""
        return None if name is None else self._collection_id(conn, name)

    def _person_id(self, conn: sqlite3.Connection, collection: str, person: str) -> int:
        collection_id = self._collection_id(conn, collection)
        row = conn.execute(
            "SELECT id FROM persons WHERE collection_id = ? AND name = ?",
            (collection_id, person),
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"no person {person!r} in collection {collection!r} of gallery {self._path}"
            )
        return int(row[0])

    def has_collection(self, name: str) -> bool:
        """Whether a collection exists (one indexed lookup, no counting)."""
        with self._errors("reading"):
            row = self._db.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone()
        return row is not None

    def collections(self) -> list[CollectionInfo]:
        """All collections, sorted by name."""
        with self._errors("reading"):
            rows = self._db.execute(
                "SELECT c.name, c.created_at, "
                "(SELECT COUNT(*) FROM persons p WHERE p.collection_id = c.id), "
                "(SELECT COUNT(*) FROM faces f JOIN persons p ON p.id = f.person_id "
                " WHERE p.collection_id = c.id) "
                "FROM collections c ORDER BY c.name"
            ).fetchall()
        return [
            CollectionInfo(name=str(r[0]), created_at=str(r[1]), persons=int(r[2]), faces=int(r[3]))
            for r in rows
        ]

    def persons(self, collection: str | None) -> list[PersonInfo]:
        """Persons of one collection (or all), sorted by collection then name.

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._errors("reading"):
            conn = self._db
            rows = conn.execute(
                "SELECT p.name, c.name, p.created_at, "
                "(SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id) "
                "FROM persons p JOIN collections c ON c.id = p.collection_id "
                "WHERE ?1 IS NULL OR c.id = ?1 ORDER BY c.name, p.name",
                (self._collection_filter(conn, collection),),
            ).fetchall()
        return [
            PersonInfo(name=str(r[0]), collection=str(r[1]), created_at=str(r[2]), faces=int(r[3]))
            for r in rows
        ]

    def faces(self, collection: str, person: str) -> list[FaceInfo]:
        """Faces of one person, in id (enrolment) order.

        Raises:
            NotFoundError: no such collection or person.
        """
        with self._errors("reading"):
            conn = self._db
            person_id = self._person_id(conn, collection, person)
            rows = conn.execute(
                "SELECT f.id, p.name, c.name, f.source, f.source_sha256, "
                "f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, f.det_score, f.enrolled_at "
                "FROM faces f JOIN persons p ON p.id = f.person_id "
                "JOIN collections c ON c.id = p.collection_id WHERE p.id = ? ORDER BY f.id",
                (person_id,),
            ).fetchall()
        return [_face_info(r) for r in rows]

    def count_faces(self, collection: str | None) -> int:
        """Number of face templates in one collection (or all).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._errors("reading"):
            conn = self._db
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
        with self._errors("reading"):
            conn = self._db
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
            raise GalleryCorruptError(
                f"gallery {self._path} holds faces but no embedding_dim; the file is damaged"
            )
        for face_id, _, blob in rows:
            if not isinstance(blob, bytes) or len(blob) != width * 4:
                raise GalleryCorruptError(
                    f"face {face_id} in gallery {self._path} is not a {width}-d float32 "
                    "embedding; the file is damaged (remove that face or restore a backup)"
                )
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype="<f4")
        return StoredEmbeddings(
            version=version,
            pin=pin,
            matrix=matrix.astype(np.float32, copy=False).reshape(len(rows), width),
            face_ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            person_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
            persons={int(r[0]): (str(r[1]), str(r[2])) for r in names},
        )


def _check_model(pin: Pin, model_id: str, gallery: str) -> None:
    if pin.model_id is not None and pin.model_id != model_id:
        raise ModelMismatchError(
            f"gallery {gallery} is pinned to model {pin.model_id!r}, not {model_id!r}; "
            f"use the {pin.model_id!r} embedder or another gallery"
        )


def _face_info(row: tuple[Any, ...]) -> FaceInfo:
    """A :class:`FaceInfo` from a row selected in :meth:`GalleryStore.faces`."""
    x1, y1, x2, y2 = row[5:9]
    missing = x1 is None or y1 is None or x2 is None or y2 is None
    return FaceInfo(
        id=int(row[0]),
        person=str(row[1]),
        collection=str(row[2]),
        source=str(row[3]),
        source_sha256=str(row[4]),
        bbox_xyxy=None if missing else (float(x1), float(y1), float(x2), float(y2)),
        det_score=None if row[9] is None else float(row[9]),
        enrolled_at=str(row[10]),
    )
