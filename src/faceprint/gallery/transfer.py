"""Bulk reads and writes of a whole gallery: the SQL behind archive export and import.

:meth:`GalleryTransfer.dump` gives a consistent, streaming view of a gallery (or one
collection) inside one read transaction; :meth:`GalleryTransfer.load` writes collections,
persons and faces given by name (not id) in one write transaction, skipping faces the
gallery already holds. The file format itself lives in :mod:`faceprint.gallery.archive`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from faceprint.gallery.database import GalleryDatabase
from faceprint.gallery.schema import INSERT_FACE, SETTING_PREFIX, Pin, bbox_from_columns
from faceprint.gallery.sealing import check_current
from faceprint.types import BBox


@dataclass(frozen=True, slots=True)
class CollectionRow:
    """A collection as it travels between galleries: its name and creation time."""

    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class PersonRow:
    """A person as it travels between galleries (named by collection, not id)."""

    collection: str
    name: str
    created_at: str


@dataclass(frozen=True, slots=True)
class FaceRow:
    """A face's metadata as it travels between galleries (its vector travels apart)."""

    collection: str
    person: str
    source: str
    source_sha256: str
    bbox_xyxy: BBox | None
    det_score: float | None
    enrolled_at: str


@dataclass(frozen=True, slots=True)
class LoadCounts:
    """What :meth:`GalleryTransfer.load` changed."""

    collections_added: int
    persons_added: int
    faces_added: int
    faces_skipped: int
    pinned: bool
    settings_applied: bool


@dataclass(frozen=True, slots=True, eq=False)
class GalleryDump:
    """A consistent view of a gallery (or one collection), valid inside ``dump()``.

    ``collections``, ``persons`` and ``faces`` are counts; the ``iter_*`` methods stream
    rows from the database (in name order for collections and persons, in face-id order
    for faces and embeddings, so the n-th embedding belongs to the n-th face).
    """

    pin: Pin
    settings: dict[str, str]
    collections: int
    persons: int
    faces: int
    _store: GalleryTransfer
    _conn: sqlite3.Connection
    _filter: int | None

    def iter_collections(self) -> Iterator[CollectionRow]:
        for name, created_at in self._conn.execute(
            "SELECT name, created_at FROM collections WHERE ?1 IS NULL OR id = ?1 ORDER BY name",
            (self._filter,),
        ):
            yield CollectionRow(name=str(name), created_at=str(created_at))

    def iter_persons(self) -> Iterator[PersonRow]:
        for collection, name, created_at in self._conn.execute(
            "SELECT c.name, p.name, p.created_at FROM persons p "
            "JOIN collections c ON c.id = p.collection_id "
            "WHERE ?1 IS NULL OR c.id = ?1 ORDER BY c.name, p.name",
            (self._filter,),
        ):
            yield PersonRow(collection=str(collection), name=str(name), created_at=str(created_at))

    def iter_faces(self) -> Iterator[FaceRow]:
        for row in self._conn.execute(
            "SELECT c.name, p.name, f.source, f.source_sha256, "
            "f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, f.det_score, f.enrolled_at "
            "FROM faces f JOIN persons p ON p.id = f.person_id "
            "JOIN collections c ON c.id = p.collection_id "
            "WHERE ?1 IS NULL OR c.id = ?1 ORDER BY f.id",
            (self._filter,),
        ):
            yield FaceRow(
                collection=str(row[0]),
                person=str(row[1]),
                source=str(row[2]),
                source_sha256=str(row[3]),
                bbox_xyxy=bbox_from_columns(*row[4:8]),
                det_score=None if row[8] is None else float(row[8]),
                enrolled_at=str(row[9]),
            )

    def iter_embeddings(self) -> Iterator[bytes]:
        """Each face's embedding as ``embedding_dim`` little-endian float32 bytes.

        Raises:
            GalleryCorruptError: a stored embedding has the wrong length.
        """
        dim = self.pin.embedding_dim or 0
        for face_id, blob in self._conn.execute(
            "SELECT f.id, f.embedding FROM faces f JOIN persons p ON p.id = f.person_id "
            "WHERE ?1 IS NULL OR p.collection_id = ?1 ORDER BY f.id",
            (self._filter,),
        ):
            yield self._store._check_blob(int(face_id), blob, dim)


class GalleryTransfer(GalleryDatabase):
    """Bulk export and import of collections, persons and faces by name."""

    @contextmanager
    def dump(self, collection: str | None) -> Iterator[GalleryDump]:
        """A consistent view of the whole gallery, or of one collection, for export.

        The view is one read transaction: writers in other connections go on (WAL) but
        the view does not see them. Use it only inside the ``with`` block.

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
            GalleryCorruptError: the gallery holds faces but no pinned dimension.
        """
        with self._read() as conn:
            selected = self._collection_filter(conn, collection)
            (collections, persons, faces) = conn.execute(
                "SELECT (SELECT COUNT(*) FROM collections WHERE ?1 IS NULL OR id = ?1), "
                "(SELECT COUNT(*) FROM persons WHERE ?1 IS NULL OR collection_id = ?1), "
                "(SELECT COUNT(*) FROM faces f JOIN persons p ON p.id = f.person_id "
                " WHERE ?1 IS NULL OR p.collection_id = ?1)",
                (selected,),
            ).fetchone()
            pin = self._read_pin(conn)
            if faces and pin.embedding_dim is None:
                raise self._no_dim()
            yield GalleryDump(
                pin=pin,
                settings=self._read_settings(conn),
                collections=int(collections),
                persons=int(persons),
                faces=int(faces),
                _store=self,
                _conn=conn,
                _filter=selected,
            )

    def load(
        self,
        *,
        model_id: str | None,
        dim: int | None,
        settings: Mapping[str, str],
        collections: Iterable[CollectionRow],
        persons: Iterable[PersonRow],
        faces: Iterable[tuple[FaceRow, bytes]],
    ) -> LoadCounts:
        """Write collections, persons and faces (with embedding bytes) in ONE transaction.

        The iterables are consumed inside the transaction, in that order; an exception
        from any of them rolls everything back. Existing collections and persons are
        reused. A face is skipped when the gallery held, before this call, a face of the
        same (collection, person) with the same ``source_sha256`` — or, when that is
        empty, the same embedding bytes (compared decrypted in an encrypted gallery, whose
        rows are sealed like :meth:`insert_faces`'); so loading the same rows twice adds
        nothing.
        ``model_id``/``dim`` are checked against the pin and pin what is unset;
        ``settings`` are written only into a gallery that had no collection yet.
        Embedding bytes must already be validated (``dim`` × 4, finite, unit-norm).

        Raises:
            ModelMismatchError: ``model_id`` or ``dim`` differs from the pin.
            GalleryError: the database refused the write (nothing was changed).
        """
        added_faces = skipped = 0
        with self._write() as conn:
            check_current(conn, self._cipher, self._path)
            empty = conn.execute("SELECT 1 FROM collections LIMIT 1").fetchone() is None
            (last_id,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM faces").fetchone()
            pinned = model_id is not None and self._pin_to(conn, model_id, dim)
            if empty:
                for key, value in settings.items():
                    self._set_meta(conn, SETTING_PREFIX + key, value)
            ids = _Ids(self, conn)
            pin = self._read_pin(conn)
            sealed_model, sealed_dim = pin.model_id or "", pin.embedding_dim or 0
            clear_of: dict[int, set[bytes]] = {}  # encrypted: a person's earlier templates
            for c in collections:
                ids.collection(c.name, c.created_at)
            for p in persons:
                ids.person(p.collection, p.name, p.created_at)
            for face, blob in faces:
                owner = ids.person(face.collection, face.person, face.enrolled_at)
                if face.source_sha256:
                    same = conn.execute(
                        "SELECT 1 FROM faces WHERE person_id = ? AND source_sha256 = ? "
                        "AND id <= ? LIMIT 1",
                        (owner, face.source_sha256, last_id),
                    ).fetchone()
                elif self._cipher is not None:
                    if owner not in clear_of:
                        clear_of[owner] = {
                            self._check_blob(int(i), b, sealed_dim)
                            for i, b in conn.execute(
                                "SELECT id, embedding FROM faces WHERE person_id = ? AND id <= ?",
                                (owner, last_id),
                            )
                        }
                    same = True if blob in clear_of[owner] else None
                else:
                    same = conn.execute(
                        "SELECT 1 FROM faces WHERE person_id = ? AND embedding = ? "
                        "AND id <= ? LIMIT 1",
                        (owner, blob, last_id),
                    ).fetchone()
                if same is not None:
                    skipped += 1
                    continue
                box = face.bbox_xyxy if face.bbox_xyxy is not None else (None, None, None, None)
                columns = (face.source, face.source_sha256, *box, face.det_score, face.enrolled_at)
                if self._cipher is None:
                    conn.execute(INSERT_FACE, (owner, blob, *columns))
                else:
                    face_id = conn.execute(INSERT_FACE, (owner, b"", *columns)).lastrowid
                    sealed = self._cipher.seal(int(face_id or 0), sealed_model, sealed_dim, blob)
                    conn.execute("UPDATE faces SET embedding = ? WHERE id = ?", (sealed, face_id))
                added_faces += 1
        return LoadCounts(
            collections_added=ids.collections_added,
            persons_added=ids.persons_added,
            faces_added=added_faces,
            faces_skipped=skipped,
            pinned=pinned,
            settings_applied=empty and bool(settings),
        )


class _Ids:
    """Ids of collections and persons by name during one :meth:`GalleryTransfer.load`.

    Each is looked up (or created, with the given time) once and then cached; the
    counters say how many were created.
    """

    def __init__(self, store: GalleryTransfer, conn: sqlite3.Connection) -> None:
        self._store = store
        self._conn = conn
        self._collections: dict[str, int] = {}
        self._persons: dict[tuple[str, str], int] = {}
        self.collections_added = 0
        self.persons_added = 0

    def collection(self, name: str, created_at: str) -> int:
        known = self._collections.get(name)
        if known is None:
            known, created = self._store._ensure_collection(self._conn, name, created_at)
            self._collections[name] = known
            self.collections_added += created
        return known

    def person(self, collection: str, name: str, created_at: str) -> int:
        known = self._persons.get((collection, name))
        if known is None:
            collection_id = self.collection(collection, created_at)
            known, created = self._store._ensure_person(self._conn, collection_id, name, created_at)
            self._persons[(collection, name)] = known
            self.persons_added += created
        return known
