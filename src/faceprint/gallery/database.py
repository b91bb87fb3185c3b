"""The gallery file's connection: opening, validation, migration, transactions, meta, pin.

Connections run with ``foreign_keys=ON``, ``journal_mode=WAL`` (files only) and a busy
timeout. Every write runs in one ``BEGIN IMMEDIATE`` transaction: it either happens
completely or not at all. The tables are described in :mod:`faceprint.gallery.schema`.

:class:`GalleryDatabase` owns the connection and the SQL of the ``meta`` table and of
id lookups; the reads and writes of collections, persons and faces live in
:mod:`faceprint.gallery.storage` (:class:`~faceprint.gallery.storage.GalleryStore`) and,
for archives, in :mod:`faceprint.gallery.transfer`.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Self

from faceprint.errors import FaceprintError, GalleryCorruptError, GalleryError, NotFoundError
from faceprint.gallery.schema import (
    ADDED_CHANGE_LOG,
    ADDED_INDEXES,
    FORMAT,
    SCHEMA,
    SCHEMA_VERSION,
    SETTING_PREFIX,
    TABLES,
    Pin,
    now_iso,
)
from faceprint.gallery.sealing import ENCRYPTED_SCHEMA_VERSION, RowCipher, too_new, unlock

if TYPE_CHECKING:
    from faceprint.keysource import SecretKey

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
"""How long a connection waits for another writer before giving up (milliseconds)."""

MMAP_BYTES = 1 << 34
"""Reads map the file (SQLite caps this at its build's limit, 2 GiB in CPython's):
a search's re-scoring reads ~10 random rows, which cost 0.5–0.7 ms through read calls
against 0.08 ms mapped, at 1M faces."""

MEMORY = ":memory:"


class GalleryDatabase:
    """One SQLite connection to a gallery file: lifecycle, transactions, meta and pin.

    Not thread-safe by itself: :class:`~faceprint.gallery.Gallery` serialises calls.
    """

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._writes = 0
        self._cipher: RowCipher | None = None  # an encrypted gallery's, once unlocked
        self._sealed_model: str | None = None  # the pinned model (rows' associated data)

    # --- lifecycle ---------------------------------------------------------------------

    @classmethod
    def open(
        cls, path: str, *, create: bool, key: SecretKey | None = None, unlock: bool = True
    ) -> Self:
        """Open a gallery file, creating and initialising it if allowed.

        An encrypted gallery needs its ``key``; a key makes a plaintext gallery without
        faces (a new one) encrypted (:func:`~faceprint.gallery.sealing.unlock`).

        A writable file of schema 1 that lacks an index added since is given it here
        (one transaction); a read-only one is read without it.

        Args:
            path: file path, or ``":memory:"`` for a private in-memory gallery.
            create: create a missing file (and its parent folders).
            key: the gallery key. unlock: apply it (``False``: rows stay sealed).

        Raises:
            NotFoundError: ``create`` is False and there is no file at ``path``.
            GalleryCorruptError: the file is not a faceprint gallery (not SQLite, SQLite
                without the faceprint marker, missing tables, damaged).
            GalleryError: the file cannot be opened, or was written by a newer faceprint
                (upgrade faceprint).
            KeyUnavailableError: no key for an encrypted gallery. WrongKeyError: not its key.
            ConfigError: a key was given for a plaintext gallery that holds faces.
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
                    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES:d}")
                store._initialise_or_validate(create=create or memory)
                store._add_missing_indexes()
                if unlock:
                    store._unlock(key)
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

    def _schema_names(self, kind: str) -> set[str]:
        rows = self._db.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
        return {str(r[0]) for r in rows}

    def _initialise_or_validate(self, *, create: bool) -> None:
        if not self._schema_names("table"):
            if not create:
                raise GalleryCorruptError(
                    f"{self._path} is an empty SQLite database, not a faceprint gallery; "
                    "open it with create=True to initialise it"
                )
            with self._write() as conn:
                if not self._schema_names("table"):  # another process may have won the race
                    for statement in SCHEMA:
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
        tables = self._schema_names("table")
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
        if too_new(version, meta):
            raise GalleryError(
                f"gallery {self._path} uses schema version {version}, but this faceprint "
                f"reads up to version {ENCRYPTED_SCHEMA_VERSION}: upgrade faceprint to open it"
            )
        missing = [t for t in TABLES if t not in tables]
        if missing:
            raise GalleryCorruptError(
                f"gallery {self._path} lacks table(s) {', '.join(missing)}; the file is damaged"
            )

    def _unlock(self, key: SecretKey | None) -> None:
        with self._read() as conn:  # a read-only encrypted file opens too
            self._cipher = unlock(conn, self._path, key, write=False)
        if self._cipher is None and key is not None:  # a plaintext gallery given a key
            with self._write() as conn:
                self._cipher = unlock(conn, self._path, key, write=True)

    @property
    def encrypted(self) -> bool:
        """Whether this gallery's templates are encrypted at rest."""
        return self._cipher is not None

    def _add_missing_indexes(self) -> None:
        """Create what :data:`ADDED_INDEXES` and :data:`ADDED_CHANGE_LOG` name and a file
        lacks, in one transaction.

        Checked first without a write lock, so opening an up-to-date file writes nothing.
        A file this process may not write (read-only, or locked past the busy timeout)
        keeps working without them; a warning says what is slower.
        """
        missing = [n for n in ADDED_INDEXES if n not in self._schema_names("index")]
        statements = [ADDED_INDEXES[n] for n in missing]
        for (kind, name), statement in ADDED_CHANGE_LOG.items():
            if name not in self._schema_names(kind):
                missing.append(name)
                statements.append(statement)
        if not missing:
            return
        try:
            with self._write() as conn:
                for statement in statements:
                    conn.execute(statement)
        except GalleryError as exc:
            log.warning(
                "could not add %s to gallery %s (%s); lookups by image digest scan the "
                "faces and searches reload the gallery after each write until the file is "
                "opened writable",
                ", ".join(missing),
                self._path,
                exc,
            )
            return
        log.info("added %s to gallery %s", ", ".join(missing), self._path)

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
        conn = self._abandon_open_transaction()
        with self._errors("writing to"):
            try:
                conn.execute("BEGIN IMMEDIATE")
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
        conn = self._abandon_open_transaction()
        with self._errors("reading"):
            try:
                conn.execute("BEGIN")
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    def _abandon_open_transaction(self) -> sqlite3.Connection:
        """The connection, with any transaction an interrupted call left open (Ctrl-C
        between two statements) rolled back, so the next call starts clean."""
        conn = self._db
        if conn.in_transaction:
            log.debug("rolling back a transaction left open in gallery %s", self._path)
            with self._errors("recovering"):
                conn.execute("ROLLBACK")
        return conn

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
        self._sealed_model = meta.get("model_id")  # a re-issue may change it: kept fresh
        try:
            return Pin(
                model_id=meta.get("model_id"), embedding_dim=None if dim is None else int(dim)
            )
        except ValueError as exc:
            raise GalleryCorruptError(
                f"gallery {self._path} has an invalid embedding_dim {dim!r}; the file is damaged"
            ) from exc

    def _pin_to(self, conn: sqlite3.Connection, model_id: str, dim: int | None) -> bool:
        """Inside a write: check ``model_id`` (and ``dim``) against the pin; pin what is unset.

        Returns whether anything was pinned.

        Raises:
            ModelMismatchError: the model (or the given dimension) differs from the pin.
        """
        current = self._read_pin(conn)
        if dim is None:
            current.check_model(model_id, gallery=self._path)
        else:
            current.check(model_id, dim, gallery=self._path)
        pinned = False
        if current.model_id is None:
            self._set_meta(conn, "model_id", model_id)
            pinned = True
        if dim is not None and current.embedding_dim is None:
            self._set_meta(conn, "embedding_dim", str(dim))
            pinned = True
        return pinned

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
            self._set_meta(conn, SETTING_PREFIX + key, value)

    def _read_settings(self, conn: sqlite3.Connection) -> dict[str, str]:
        """Every gallery setting as stored: ``{name: value}`` without the prefix."""
        rows = conn.execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key",
            (len(SETTING_PREFIX), SETTING_PREFIX),
        )
        return {str(k)[len(SETTING_PREFIX) :]: str(v) for k, v in rows}

    def pin_model(self, model_id: str) -> None:
        """Pin an unpinned gallery to ``model_id``; check a pinned one.

        Raises:
            ModelMismatchError: the gallery is pinned to another model.
        """
        current = self.pin()
        if current.model_id is not None:
            current.check_model(model_id, gallery=self._path)
            return
        with self._write() as conn:
            if self._pin_to(conn, model_id, None):
                log.info("pinned gallery %s to model %r", self._path, model_id)

    # --- rows (inside a transaction) ---------------------------------------------------

    def _aad_model(self) -> str:
        """The pinned model id (as last read with the pin; read now if it never was)."""
        return self._sealed_model or self._read_pin(self._db).model_id or ""

    def _check_blob(self, face_id: int, blob: object, dim: int) -> bytes:
        """A stored embedding (decrypted in an encrypted gallery), checked to be ``dim``
        little-endian float32 values.

        Raises:
            GalleryCorruptError: it is not ``dim`` × 4 bytes, or (encrypted) it does not
                authenticate as this face's template.
        """
        if self._cipher is not None:
            return self._cipher.open(face_id, self._aad_model(), dim, blob)
        if not isinstance(blob, bytes) or len(blob) != dim * 4:
            raise GalleryCorruptError(
                f"face {face_id} in gallery {self._path} is not a {dim}-d float32 "
                "embedding; the file is damaged (remove that face or restore a backup)"
            )
        return blob

    def _no_dim(self) -> GalleryCorruptError:
        """The error for a gallery that holds faces but has no pinned dimension."""
        return GalleryCorruptError(
            f"gallery {self._path} holds faces but no embedding_dim; the file is damaged"
        )

    def _collection_id(self, conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise self._no_collection(conn, name)
        return int(row[0])

    def _no_collection(self, conn: sqlite3.Connection, name: str) -> NotFoundError:
        """The error for a missing collection; it lists (up to ten of) the existing ones."""
        known = [str(r[0]) for r in conn.execute("SELECT name FROM collections ORDER BY name")]
        listed = ", ".join(repr(k) for k in known[:10]) or "none"
        return NotFoundError(
            f"no collection {name!r} in gallery {self._path} (collections: {listed})"
        )

    def _no_person(self, collection: str, person: str) -> NotFoundError:
        """The error for a person missing from an existing collection."""
        return NotFoundError(
            f"no person {person!r} in collection {collection!r} of gallery {self._path}"
        )

    @staticmethod
    def _ensure_collection(
        conn: sqlite3.Connection, name: str, created_at: str
    ) -> tuple[int, bool]:
        """The id of collection ``name``, created (with ``created_at``) if missing.

        Returns ``(id, created)``.
        """
        cursor = conn.execute(
            "INSERT INTO collections(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
            (name, created_at),
        )
        (collection_id,) = conn.execute(
            "SELECT id FROM collections WHERE name = ?", (name,)
        ).fetchone()
        return int(collection_id), cursor.rowcount == 1

    @staticmethod
    def _ensure_person(
        conn: sqlite3.Connection, collection_id: int, name: str, created_at: str
    ) -> tuple[int, bool]:
        """The id of person ``name`` of a collection, created if missing: ``(id, created)``."""
        cursor = conn.execute(
            "INSERT INTO persons(collection_id, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT(collection_id, name) DO NOTHING",
            (collection_id, name, created_at),
        )
        (person_id,) = conn.execute(
            "SELECT id FROM persons WHERE collection_id = ? AND name = ?",
            (collection_id, name),
        ).fetchone()
        return int(person_id), cursor.rowcount == 1

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
            raise self._no_person(collection, person)
        return int(row[0])
