"""The clustering folder's database: images seen, faces embedded, clusters and edits.

One SQLite file (``people.db`` in the output folder), no pickle: embeddings are raw
float32 bytes, thumbnails JPEG bytes. Every write is one transaction, so a run killed
half-way keeps every finished batch and loses nothing else; a re-run skips the images
whose sha256 is already stored, which is what makes adding photos incremental.

Tables:

- ``meta``: the embedding model, the format version, settings;
- ``images``: one row per distinct image (by sha256) with its size and face count, or
  the reason it could not be read; ``paths`` maps every path seen to its image;
- ``faces``: box, detector score, quality score and reasons, embedding, thumbnail;
- ``clusters``: id, optional person name, ``reviewed`` (a person looked at it: its
  members are kept as they are when the photos are clustered again);
- ``members``: each face's cluster and how it got there (``auto``, ``joined`` an
  existing named cluster, ``attached`` as a low-quality face, ``pinned`` by a review);
- ``excluded``: faces a reviewer removed from a cluster (never put back there);
- ``enrolled``: faces already added to a gallery (so enrolling again adds only new ones).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import PeopleStoreError, UnknownClusterError

FORMAT = "faceprint-people"
VERSION = 1
DB_NAME = "people.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
  sha256 TEXT PRIMARY KEY, width INTEGER NOT NULL, height INTEGER NOT NULL,
  faces INTEGER NOT NULL, error TEXT, added REAL NOT NULL);
CREATE TABLE IF NOT EXISTS paths (path TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faces (
  id INTEGER PRIMARY KEY, sha256 TEXT NOT NULL, face_index INTEGER NOT NULL,
  x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
  score REAL NOT NULL, quality REAL, reasons TEXT NOT NULL, "primary" INTEGER NOT NULL,
  embedding BLOB NOT NULL, thumb BLOB, UNIQUE (sha256, face_index));
CREATE TABLE IF NOT EXISTS clusters (
  id INTEGER PRIMARY KEY, name TEXT, reviewed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS members (
  face_id INTEGER PRIMARY KEY REFERENCES faces(id),
  cluster_id INTEGER NOT NULL REFERENCES clusters(id), how TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS members_cluster ON members (cluster_id);
CREATE TABLE IF NOT EXISTS excluded (
  face_id INTEGER NOT NULL, cluster_id INTEGER NOT NULL, PRIMARY KEY (face_id, cluster_id));
CREATE TABLE IF NOT EXISTS enrolled (
  face_id INTEGER NOT NULL, gallery TEXT NOT NULL, person TEXT NOT NULL,
  PRIMARY KEY (face_id, gallery));
"""


@dataclass(frozen=True, slots=True)
class StoredFace:
    """A face row (without its embedding)."""

    id: int
    sha256: str
    face_index: int
    box: tuple[float, float, float, float]
    score: float
    quality: float | None
    reasons: tuple[str, ...]

    @property
    def usable(self) -> bool:
        """It passed the quality gate (no rejection reason)."""
        return not self.reasons


@dataclass(frozen=True, slots=True)
class NewFace:
    """A face to store."""

    face_index: int
    box: tuple[float, float, float, float]
    score: float
    quality: float | None
    reasons: tuple[str, ...]
    embedding: NDArray[np.float32]
    thumb: bytes | None
    primary: bool = False


@dataclass(frozen=True, slots=True)
class FaceMatrix:
    """Every stored face: ids, embeddings (N×D) and the quality gate's verdict."""

    ids: NDArray[np.int64]
    vectors: NDArray[np.float32]
    usable: NDArray[np.bool_]


class PeopleStore:
    """The database of one clustering folder."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, folder: str | Path, *, model_id: str | None = None, create: bool = True) -> Self:
        """Open (or create) ``folder/people.db``.

        Raises:
            PeopleStoreError: the file is not a faceprint clustering database, is from a
                newer version, or was made with a different model than ``model_id``;
                the folder has no database and ``create`` is false.
        """
        folder = Path(folder)
        path = folder / DB_NAME
        if not path.exists():
            if not create:
                raise PeopleStoreError(
                    f"{folder} has no clustering database ({DB_NAME}); "
                    "run `faceprint cluster PHOTOS… --out "
                    f"{folder}` first"
                )
            folder.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite3.connect(path, isolation_level=None, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise PeopleStoreError(f"{path} is not a faceprint clustering database: {exc}") from exc
        store = cls(db, path)
        fmt = store.meta("format")
        if fmt is None:
            with store.transaction():
                store.set_meta("format", FORMAT)
                store.set_meta("version", str(VERSION))
        elif fmt != FORMAT:
            db.close()
            raise PeopleStoreError(f"{path} is not a faceprint clustering database")
        elif int(store.meta("version") or 0) > VERSION:
            db.close()
            raise PeopleStoreError(
                f"{path} was written by a newer faceprint (format {store.meta('version')})"
            )
        if model_id is not None:
            stored = store.meta("model")
            if stored is None:
                with store.transaction():
                    store.set_meta("model", model_id)
            elif stored != model_id:
                db.close()
                raise PeopleStoreError(
                    f"{folder} holds embeddings of model {stored!r}, not {model_id!r}; "
                    f"cluster with `--model {stored}` or use another --out folder"
                )
        return store

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- meta ---------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def model_id(self) -> str | None:
        return self.meta("model")

    # --- images and faces ---------------------------------------------------------

    def known_images(self) -> set[str]:
        return {str(r[0]) for r in self._db.execute("SELECT sha256 FROM images")}

    def add_image(
        self,
        sha256: str,
        path: str,
        *,
        width: int,
        height: int,
        faces: Sequence[NewFace],
        error: str | None = None,
    ) -> None:
        """Store an image and its faces (call inside :meth:`transaction`)."""
        inserted = self._db.execute(
            "INSERT OR IGNORE INTO images (sha256, width, height, faces, error, added) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (sha256, width, height, len(faces), error, time.time()),
        ).rowcount
        self.add_path(path, sha256)
        if not inserted:
            return
        self._db.executemany(
            "INSERT INTO faces (sha256, face_index, x1, y1, x2, y2, score, quality, reasons, "
            '"primary", embedding, thumb) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
            [
                (
                    sha256,
                    f.face_index,
                    *f.box,
                    f.score,
                    f.quality,
                    ",".join(f.reasons),
                    int(f.primary),
                    np.ascontiguousarray(f.embedding, dtype=np.float32).tobytes(),
                    f.thumb,
                )
                for f in faces
            ],
        )

    def add_path(self, path: str, sha256: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO paths (path, sha256) VALUES (?, ?)", (path, sha256)
        )

    def counts(self) -> dict[str, int]:
        one = self._db.execute
        return {
            "images": int(one("SELECT COUNT(*) FROM images WHERE error IS NULL").fetchone()[0]),
            "unreadable": int(
                one("SELECT COUNT(*) FROM images WHERE error IS NOT NULL").fetchone()[0]
            ),
            "no_face": int(
                one("SELECT COUNT(*) FROM images WHERE error IS NULL AND faces = 0").fetchone()[0]
            ),
            "faces": int(one("SELECT COUNT(*) FROM faces").fetchone()[0]),
        }

    def face_matrix(self) -> FaceMatrix:
        rows = self._db.execute("SELECT id, reasons, embedding FROM faces ORDER BY id").fetchall()
        if not rows:
            return FaceMatrix(
                np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros(0, bool)
            )
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        usable = np.fromiter((not r[1] for r in rows), dtype=bool, count=len(rows))
        vectors = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32)
        return FaceMatrix(ids, vectors.reshape(len(rows), -1).copy(), usable)

    def faces(self, ids: Iterable[int] | None = None) -> dict[int, StoredFace]:
        sql = "SELECT id, sha256, face_index, x1, y1, x2, y2, score, quality, reasons FROM faces"
        if ids is None:
            rows = self._db.execute(sql).fetchall()
        else:
            wanted = list(ids)
            rows = []
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ",".join("?" * len(part))
                rows += self._db.execute(f"{sql} WHERE id IN ({marks})", part).fetchall()
        return {
            int(r[0]): StoredFace(
                int(r[0]),
                str(r[1]),
                int(r[2]),
                (float(r[3]), float(r[4]), float(r[5]), float(r[6])),
                float(r[7]),
                None if r[8] is None else float(r[8]),
                tuple(x for x in str(r[9]).split(",") if x),
            )
            for r in rows
        }

    def require_faces(self, ids: Sequence[int]) -> None:
        found = self.faces(ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise UnknownClusterError(f"no face with id {', '.join(map(str, missing))}")

    def primary_faces(self) -> dict[str, int]:
        """path → id of the primary face of its image (images with a face only)."""
        return {
            str(p): int(f)
            for p, f in self._db.execute(
                "SELECT paths.path, faces.id FROM paths JOIN faces ON faces.sha256 = paths.sha256 "
                'WHERE faces."primary" = 1'
            )
        }

    def thumb(self, face_id: int) -> bytes | None:
        row = self._db.execute("SELECT thumb FROM faces WHERE id = ?", (face_id,)).fetchone()
        if row is None:
            raise UnknownClusterError(f"no face with id {face_id}")
        return None if row[0] is None else bytes(row[0])

    def paths_of(self, sha256s: Iterable[str]) -> dict[str, str]:
        """One path per image (the first in sort order)."""
        wanted = set(sha256s)
        out: dict[str, str] = {}
        for path, sha in self._db.execute("SELECT path, sha256 FROM paths ORDER BY path"):
            if sha in wanted and sha not in out:
                out[str(sha)] = str(path)
        return out

    # --- clusters -----------------------------------------------------------------

    def memberships(self) -> dict[int, tuple[int, str]]:
        """face id → (cluster id, how)."""
        return {
            int(f): (int(c), str(h))
            for f, c, h in self._db.execute("SELECT face_id, cluster_id, how FROM members")
        }

    def clusters(self) -> dict[int, tuple[str | None, bool]]:
        """cluster id → (name, reviewed)."""
        return {
            int(i): (None if n is None else str(n), bool(r))
            for i, n, r in self._db.execute("SELECT id, name, reviewed FROM clusters")
        }

    def require_cluster(self, cluster_id: int) -> tuple[str | None, bool]:
        row = self._db.execute(
            "SELECT name, reviewed FROM clusters WHERE id = ?", (cluster_id,)
        ).fetchone()
        if row is None:
            raise UnknownClusterError(f"no cluster with id {cluster_id}")
        return (None if row[0] is None else str(row[0]), bool(row[1]))

    def cluster_named(self, name: str) -> int | None:
        row = self._db.execute(
            "SELECT id FROM clusters WHERE name = ? ORDER BY id LIMIT 1", (name,)
        ).fetchone()
        return None if row is None else int(row[0])

    def members_of(self, cluster_id: int) -> list[int]:
        return [
            int(r[0])
            for r in self._db.execute(
                "SELECT face_id FROM members WHERE cluster_id = ? ORDER BY face_id", (cluster_id,)
            )
        ]

    def next_cluster_id(self) -> int:
        row = self._db.execute("SELECT MAX(id) FROM clusters").fetchone()
        return int(row[0] or 0) + 1

    def replace_automatic(self, assignment: dict[int, tuple[int, str]], keep: set[int]) -> None:
        """Write a clustering: every face's (cluster, how); clusters not in ``keep`` and
        no longer holding a face are dropped (call inside :meth:`transaction`)."""
        self._db.execute("DELETE FROM members")
        self._db.executemany(
            "INSERT INTO members (face_id, cluster_id, how) VALUES (?, ?, ?)",
            [(f, c, h) for f, (c, h) in assignment.items()],
        )
        used = {c for c, _ in assignment.values()} | keep
        existing = set(self.clusters())
        self._db.executemany(
            "INSERT INTO clusters (id, name, reviewed) VALUES (?, NULL, 0)",
            [(c,) for c in sorted(used - existing)],
        )
        self._db.executemany(
            "DELETE FROM clusters WHERE id = ?", [(c,) for c in sorted(existing - used)]
        )

    def set_cluster(self, cluster_id: int, *, name: str | None, reviewed: bool) -> None:
        self._db.execute(
            "INSERT INTO clusters (id, name, reviewed) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name = excluded.name, reviewed = excluded.reviewed",
            (cluster_id, name, int(reviewed)),
        )

    def move(self, face_ids: Iterable[int], cluster_id: int, how: str) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO members (face_id, cluster_id, how) VALUES (?, ?, ?)",
            [(f, cluster_id, how) for f in face_ids],
        )

    def pin(self, cluster_id: int) -> None:
        self._db.execute("UPDATE members SET how = 'pinned' WHERE cluster_id = ?", (cluster_id,))

    def drop_cluster(self, cluster_id: int) -> None:
        self._db.execute("DELETE FROM members WHERE cluster_id = ?", (cluster_id,))
        self._db.execute("DELETE FROM clusters WHERE id = ?", (cluster_id,))

    def exclude(self, face_ids: Iterable[int], cluster_id: int) -> None:
        self._db.executemany(
            "INSERT OR IGNORE INTO excluded (face_id, cluster_id) VALUES (?, ?)",
            [(f, cluster_id) for f in face_ids],
        )

    def exclusions(self) -> set[tuple[int, int]]:
        return {(int(f), int(c)) for f, c in self._db.execute("SELECT * FROM excluded")}

    def move_exclusions(self, source: int, target: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO excluded (face_id, cluster_id) "
            "SELECT face_id, ? FROM excluded WHERE cluster_id = ?",
            (target, source),
        )
        self._db.execute("DELETE FROM excluded WHERE cluster_id = ?", (source,))

    # --- enrollment ---------------------------------------------------------------

    def enrolled(self, gallery: str) -> dict[int, str]:
        return {
            int(f): str(p)
            for f, p in self._db.execute(
                "SELECT face_id, person FROM enrolled WHERE gallery = ?", (gallery,)
            )
        }

    def mark_enrolled(self, gallery: str, rows: Iterable[tuple[int, str]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO enrolled (face_id, gallery, person) VALUES (?, ?, ?)",
            [(f, gallery, p) for f, p in rows],
        )

    def embeddings(self, ids: Sequence[int]) -> dict[int, NDArray[np.float32]]:
        out: dict[int, NDArray[np.float32]] = {}
        for start in range(0, len(ids), 500):
            part = list(ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for i, blob in self._db.execute(
                f"SELECT id, embedding FROM faces WHERE id IN ({marks})",  # noqa: S608 (only ?s)
                part,
            ):
                out[int(i)] = np.frombuffer(blob, dtype=np.float32).copy()
        return out
