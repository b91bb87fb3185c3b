"""What vector indexes read from the gallery file: face rows in bulk and the change log.

:class:`IndexFeed` is the SQL behind :class:`~faceprint.gallery.live.LiveIndex`: a full,
consistent read of every template (in chunks, with the change number it reflects), the
net changes since a change number, exact vectors of a shortlist, and person names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from faceprint.gallery.database import GalleryDatabase
from faceprint.gallery.schema import CHANGE_LOG

LOG_FLOOR = "index.log_floor"
"""``meta`` key: change numbers up to this one were pruned from the log."""

ROWS_PER_QUERY = 500
"""Face ids per ``IN (…)`` list (under SQLite's 999-variable limit of old builds)."""


@dataclass(frozen=True, slots=True, eq=False)
class IndexRows:
    """Faces for an index: ids, person ids, collection ids and N×D float32 vectors."""

    face_ids: NDArray[np.int64]
    person_ids: NDArray[np.int64]
    collection_ids: NDArray[np.int64]
    vectors: NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.face_ids)

    def of_collection(self, collection_id: int) -> IndexRows:
        keep = self.collection_ids == collection_id
        return IndexRows(
            self.face_ids[keep],
            self.person_ids[keep],
            self.collection_ids[keep],
            self.vectors[keep],
        )


@dataclass(frozen=True, slots=True, eq=False)
class Changes:
    """The net effect of the log after a change number: faces to add and to remove."""

    last_seq: int
    added: IndexRows
    removed: NDArray[np.int64]


_ROWS = (
    "SELECT f.id, f.person_id, p.collection_id, f.embedding FROM faces f "
    "JOIN persons p ON p.id = f.person_id"
)


class IndexFeed(GalleryDatabase):
    """Reads for vector indexes (mixed into :class:`~faceprint.gallery.storage.GalleryStore`)."""

    def has_change_log(self) -> bool:
        """Whether the file records its changes (older read-only files may not)."""
        return CHANGE_LOG in self._schema_names("table")

    def log_floor(self) -> int:
        """The highest change number pruned from the log (0: none)."""
        value = self.meta(LOG_FLOOR)
        return int(value) if value else 0

    def _last_seq(self) -> int:
        # AUTOINCREMENT's counter: it survives pruning, unlike MAX(seq).
        row = self._db.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (CHANGE_LOG,)
        ).fetchone()
        return int(row[0]) if row is not None else 0

    def last_change(self) -> int:
        """The number of the latest change recorded (0: none, or no log)."""
        if not self.has_change_log():
            return 0
        with self._errors("reading"):
            return self._last_seq()

    def _rows(self, rows: Sequence[tuple[object, ...]], dim: int) -> IndexRows:
        blobs = [
            self._check_blob(int(face_id), blob, dim)  # type: ignore[call-overload]
            for face_id, _, _, blob in rows
        ]
        n = len(rows)
        vectors = np.frombuffer(b"".join(blobs), dtype="<f4")
        return IndexRows(
            face_ids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=n),
            person_ids=np.fromiter((r[1] for r in rows), dtype=np.int64, count=n),
            collection_ids=np.fromiter((r[2] for r in rows), dtype=np.int64, count=n),
            vectors=vectors.astype(np.float32).reshape(n, dim),
        )

    def all_index_rows(
        self, dim: int, *, collections: Sequence[int] | None = None, chunk: int = 100_000
    ) -> tuple[int, Iterator[IndexRows]]:
        """The change number now, and every face (of ``collections``, default all) in
        face-id order, ``chunk`` at a time.

        The iterator holds one read transaction open until exhausted, so the rows are
        exactly the state at that change number; exhaust it promptly.
        """
        has_log = self.has_change_log()
        conn = self._abandon_open_transaction()
        with self._errors("reading"):
            conn.execute("BEGIN")
            seq = self._last_seq() if has_log else 0
        where, args = "", list(collections or ())
        if collections is not None:
            where = f"WHERE p.collection_id IN ({', '.join('?' * len(args))})"

        def chunks() -> Iterator[IndexRows]:
            try:
                with self._errors("reading"):
                    cursor = conn.execute(f"{_ROWS} {where} ORDER BY f.id", args)
                    while rows := cursor.fetchmany(chunk):
                        yield self._rows(rows, dim)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

        return seq, chunks()

    def changes_since(self, seq: int, dim: int) -> Changes:
        """The net adds and removals after change ``seq``, read in one transaction.

        A face added and removed inside the window is in neither; the rows of added
        faces are the current ones.
        """
        with self._read() as conn:
            entries = conn.execute(
                f"SELECT seq, face_id, added FROM {CHANGE_LOG} WHERE seq > ? ORDER BY seq",  # noqa: S608
                (seq,),
            ).fetchall()
            last = int(entries[-1][0]) if entries else seq
            net: dict[int, int] = {}
            for _, face_id, added in entries:
                net[int(face_id)] = int(added)
            added_ids = sorted(f for f, a in net.items() if a)
            rows: list[tuple[object, ...]] = []
            for start in range(0, len(added_ids), ROWS_PER_QUERY):
                part = added_ids[start : start + ROWS_PER_QUERY]
                marks = ", ".join("?" * len(part))
                rows.extend(conn.execute(f"{_ROWS} WHERE f.id IN ({marks}) ORDER BY f.id", part))
        removed = np.array(sorted(f for f, a in net.items() if not a), dtype=np.int64)
        return Changes(last_seq=last, added=self._rows(rows, dim), removed=removed)

    def vectors_of(self, face_ids: Sequence[int], dim: int) -> dict[int, NDArray[np.float32]]:
        """The stored float32 vectors of some faces (missing ids are absent)."""
        out: dict[int, NDArray[np.float32]] = {}
        with self._read() as conn:
            for start in range(0, len(face_ids), ROWS_PER_QUERY):
                part = list(face_ids[start : start + ROWS_PER_QUERY])
                marks = ", ".join("?" * len(part))
                for face_id, blob in conn.execute(
                    f"SELECT id, embedding FROM faces WHERE id IN ({marks})",  # noqa: S608
                    part,
                ):
                    clear = self._check_blob(int(face_id), blob, dim)
                    out[int(face_id)] = np.frombuffer(clear, dtype="<f4").astype(np.float32)
        return out

    def shortlist(
        self, face_ids: Sequence[int], dim: int
    ) -> dict[int, tuple[NDArray[np.float32], int, str, str]]:
        """For the faces that exist: ``(float32 vector, person id, person, collection)``.

        One statement (atomic without a transaction): what a search needs to re-score
        and name its hits.
        """
        out: dict[int, tuple[NDArray[np.float32], int, str, str]] = {}
        ids = list(face_ids)[:ROWS_PER_QUERY]
        marks = ", ".join("?" * len(ids))
        with self._errors("reading"):
            rows = self._db.execute(
                "SELECT f.id, f.embedding, p.id, p.name, c.name FROM faces f "  # noqa: S608
                "JOIN persons p ON p.id = f.person_id "
                f"JOIN collections c ON c.id = p.collection_id WHERE f.id IN ({marks})",
                ids,
            ).fetchall()
        for face_id, blob, pid, name, collection in rows:
            clear = self._check_blob(int(face_id), blob, dim)
            vector = np.frombuffer(clear, dtype="<f4").astype(np.float32)
            out[int(face_id)] = (vector, int(pid), str(name), str(collection))
        return out

    def person_names(self, person_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """``{person id: (person name, collection name)}`` for the ids that exist."""
        out: dict[int, tuple[str, str]] = {}
        with self._read() as conn:
            for start in range(0, len(person_ids), ROWS_PER_QUERY):
                part = list(person_ids[start : start + ROWS_PER_QUERY])
                marks = ", ".join("?" * len(part))
                for pid, name, collection in conn.execute(
                    "SELECT p.id, p.name, c.name FROM persons p "  # noqa: S608
                    f"JOIN collections c ON c.id = p.collection_id WHERE p.id IN ({marks})",
                    part,
                ):
                    out[int(pid)] = (str(name), str(collection))
        return out

    def collection_sizes(self) -> dict[int, int]:
        """``{collection id: number of faces}`` for every collection."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT c.id, (SELECT COUNT(*) FROM faces f JOIN persons p ON p.id = f.person_id "
                "WHERE p.collection_id = c.id) FROM collections c"
            ).fetchall()
        return {int(c): int(n) for c, n in rows}

    def collection_names(self) -> dict[int, str]:
        """``{collection id: name}`` for every collection."""
        with self._errors("reading"):
            rows = self._db.execute("SELECT id, name FROM collections").fetchall()
        return {int(c): str(n) for c, n in rows}

    def collection_id(self, name: str) -> int:
        """The id of a collection (NotFoundError listing the others if missing)."""
        with self._read() as conn:
            return self._collection_id(conn, name)

    def prune_changes(self, through: int) -> int:
        """Delete log entries up to ``through`` (covered by a saved index); returns how many."""
        with self._write() as conn:
            cursor = conn.execute(f"DELETE FROM {CHANGE_LOG} WHERE seq <= ?", (through,))  # noqa: S608
            self._set_meta(conn, LOG_FLOOR, str(max(through, self.log_floor())))
        return int(cursor.rowcount)

    def count_changes(self) -> int:
        with self._errors("reading"):
            row = self._db.execute(f"SELECT COUNT(*) FROM {CHANGE_LOG}").fetchone()  # noqa: S608
        return int(row[0])
