"""The bookkeeping every vector index shares: which face (and person) each row holds.

:class:`RowTable` keeps face ids in ascending order (gallery face ids only grow), with
each row's person id and a liveness flag, so looking ids up is a binary search and a
removal is a tombstone. Columns grow by doubling (17 bytes a row). The vectors
themselves live in the index that owns the table, row for row.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class RowTable:
    """Face id, person id and liveness per row; rows in ascending face-id order."""

    def __init__(self) -> None:
        self.face_ids = np.empty(0, dtype=np.int64)
        self.person_ids = np.empty(0, dtype=np.int64)
        self.alive = np.empty(0, dtype=bool)
        self.used = 0
        self.dead = 0

    def __len__(self) -> int:
        """Live rows."""
        return self.used - self.dead

    @property
    def nbytes(self) -> int:
        return int(self.face_ids.nbytes + self.person_ids.nbytes + self.alive.nbytes)

    @property
    def last_id(self) -> int | None:
        return int(self.face_ids[self.used - 1]) if self.used else None

    def lookup(self, face_ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """Rows of the given ids that are held and live, and a mask of which ids are."""
        if not self.used:
            return np.empty(0, dtype=np.int64), np.zeros(len(face_ids), dtype=bool)
        held = self.face_ids[: self.used]
        rows = np.minimum(np.searchsorted(held, face_ids), self.used - 1)
        found: NDArray[np.bool_] = (held[rows] == face_ids) & self.alive[rows]
        return rows[found].astype(np.int64), found

    def fresh(
        self,
        face_ids: NDArray[np.int64],
        person_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
        dim: int,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
        """The faces of an add not held yet, sorted by id (so a replay adds nothing).

        Raises:
            ValueError: ``vectors`` is not one ``dim``-vector per id.
        """
        if vectors.shape != (len(face_ids), dim):
            raise ValueError(f"vectors must be {len(face_ids)}×{dim}, got shape {vectors.shape}")
        new = ~self.lookup(face_ids)[1]
        order = np.argsort(face_ids[new], kind="stable")
        return face_ids[new][order], person_ids[new][order], vectors[new][order]

    def grows(self, face_ids: NDArray[np.int64]) -> bool:
        """Whether sorted ``face_ids`` all come after the ids held (the usual case)."""
        last = self.last_id
        return last is None or not len(face_ids) or int(face_ids[0]) > last

    def append(self, face_ids: NDArray[np.int64], person_ids: NDArray[np.int64]) -> int:
        """Add rows for new, ascending ids; returns the first new row."""
        start, end = self.used, self.used + len(face_ids)
        if end > len(self.face_ids):
            capacity = max(end, 2 * len(self.face_ids), 1024)
            for name in ("face_ids", "person_ids", "alive"):
                old = getattr(self, name)
                grown = np.zeros(capacity, dtype=old.dtype)
                grown[:start] = old[:start]
                setattr(self, name, grown)
        self.face_ids[start:end] = face_ids
        self.person_ids[start:end] = person_ids
        self.alive[start:end] = True
        self.used = end
        return start

    def kill(self, face_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        """Mark the live rows of these ids removed; returns those rows."""
        rows = np.unique(self.lookup(face_ids)[0])
        self.alive[rows] = False
        self.dead += len(rows)
        return rows

    def live_rows(self) -> NDArray[np.int64]:
        return np.flatnonzero(self.alive[: self.used]).astype(np.int64)

    def keep(self, rows: NDArray[np.int64]) -> None:
        """Keep only these rows (ascending face ids), in this order: a compaction."""
        self.face_ids = self.face_ids[rows]
        self.person_ids = self.person_ids[rows]
        self.alive = np.ones(len(rows), dtype=bool)
        self.used, self.dead = len(rows), 0
