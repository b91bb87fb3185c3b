"""Face-level vector indexes and the per-person search built on them.

A :class:`VectorIndex` holds the templates of one faceprint collection, keyed by face
id, and answers "the ``k`` most similar faces" for a unit-norm probe, best first, ties
going to the lower face id. It is updated in place: :meth:`~VectorIndex.add` and
:meth:`~VectorIndex.remove` cost about one face each, never a reload.

:func:`best_per_person` turns face hits into person hits (a person scores the maximum
over their faces) by widening the face shortlist until it holds ``k`` distinct persons,
so the answer is the same as scoring every person.

:class:`ExactIndex` (this module) is a brute-force scan over a growable float32 matrix;
:mod:`faceprint.gallery.pq` is the approximate one for large galleries and
:mod:`faceprint.gallery.milvus` stores them in a Milvus server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from faceprint.core.rows import RowTable

SHORTLIST = 32
"""Faces fetched for the first try of :func:`best_per_person` (at least ``4 k``)."""


@dataclass(frozen=True, slots=True, eq=False)
class FaceHits:
    """Faces found for one probe, best first (ties: lower face id first)."""

    face_ids: NDArray[np.int64]
    person_ids: NDArray[np.int64]
    similarities: NDArray[np.float32]

    def __len__(self) -> int:
        return len(self.face_ids)


@dataclass(frozen=True, slots=True)
class PersonHit:
    """One candidate person: their best face and its cosine similarity."""

    person_id: int
    face_id: int
    similarity: float


class VectorIndex(Protocol):
    """The templates of one collection, searchable by cosine similarity."""

    exact: bool
    """Whether :meth:`search` finds the true top faces with exact float32 similarities."""

    def __len__(self) -> int:
        """Number of faces held."""
        ...

    def add(
        self,
        face_ids: NDArray[np.int64],
        person_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        """Add faces (ids not held yet; vectors N×D unit-norm float32)."""
        ...

    def remove(self, face_ids: NDArray[np.int64]) -> None:
        """Remove faces by id; ids not held are ignored."""
        ...

    def search(self, probe: NDArray[np.float32], k: int) -> FaceHits:
        """Up to ``k`` faces most similar to ``probe``, best first."""
        ...


def top_rows(similarities: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Indices of the ``k`` largest values, largest first, ties by lower index.

    Every value tied with the ``k``-th is considered before cutting, so the result is
    the same whatever order :func:`numpy.argpartition` leaves ties in.
    """
    n = len(similarities)
    if k <= 0 or n == 0:
        return np.empty(0, dtype=np.int64)
    if k < n:
        part = np.argpartition(-similarities, k - 1)[:k]
        candidates = np.flatnonzero(similarities >= similarities[part].min())
    else:
        candidates = np.arange(n)
    order = np.lexsort((candidates, -similarities[candidates]))
    return candidates[order][:k].astype(np.int64, copy=False)


def best_per_person(index: VectorIndex, probe: NDArray[np.float32], k: int) -> list[PersonHit]:
    """The ``k`` best persons for ``probe``: each scored by their most similar face.

    The face shortlist starts at ``max(4 k, SHORTLIST)`` and grows fourfold until it holds
    ``k`` distinct persons or every face; persons come back best first, ties going to the
    one whose best face has the lower id. With an exact index the result equals scoring
    every person; with an approximate one it inherits the index's recall.
    """
    if k < 1 or len(index) == 0:
        return []
    want = max(4 * k, SHORTLIST)
    while True:
        hits = index.search(probe, want)
        persons, first = np.unique(hits.person_ids, return_index=True)
        if len(persons) >= k or len(hits) < want or want >= len(index):
            break
        want *= 4
    rows = np.sort(first)[:k]
    return [
        PersonHit(
            person_id=int(hits.person_ids[r]),
            face_id=int(hits.face_ids[r]),
            similarity=max(-1.0, min(1.0, float(hits.similarities[r]))),
        )
        for r in rows
    ]


class ExactIndex:
    """Brute force over a growable matrix: exact, incremental, for small galleries.

    Rows stay in face-id order (ids only grow), so a removal is a binary search and a
    tombstone; the matrix is compacted when half its rows are dead. Capacity doubles, so
    an add copies nothing in the common case.

    Args:
        dim: the embedding dimension.
    """

    kind = "exact"
    exact = True

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._rows = RowTable()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def memory_bytes(self) -> int:
        """Bytes of the arrays held (capacity included)."""
        return int(self._vectors.nbytes) + self._rows.nbytes

    def add(
        self,
        face_ids: NDArray[np.int64],
        person_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        """Append faces; ids already held are skipped, so a replay is harmless.

        Ids lower than the last one held re-sort the rows (rare: ids only grow).
        """
        face_ids, person_ids, vectors = self._rows.fresh(face_ids, person_ids, vectors, self._dim)
        if len(face_ids) == 0:
            return
        in_order = self._rows.grows(face_ids)
        start = self._rows.append(face_ids, person_ids)
        end = start + len(face_ids)
        if end > len(self._vectors):
            grown = np.zeros((len(self._rows.face_ids), self._dim), dtype=np.float32)
            grown[:start] = self._vectors[:start]
            self._vectors = grown
        self._vectors[start:end] = vectors
        if not in_order:
            self._compact(resort=True)

    def remove(self, face_ids: NDArray[np.int64]) -> None:
        if len(face_ids) == 0:
            return
        self._rows.kill(face_ids)
        if self._rows.dead > max(1024, self._rows.used // 2):
            self._compact(resort=False)

    def _compact(self, *, resort: bool) -> None:
        keep = self._rows.live_rows()
        if resort:
            keep = keep[np.argsort(self._rows.face_ids[keep], kind="stable")]
        self._vectors = np.ascontiguousarray(self._vectors[keep])
        self._rows.keep(keep)

    def vectors(self) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
        """The live faces: ids, person ids and vectors (copies), in face-id order."""
        keep = self._rows.live_rows()
        return self._rows.face_ids[keep], self._rows.person_ids[keep], self._vectors[keep]

    def search(self, probe: NDArray[np.float32], k: int) -> FaceHits:
        used = self._rows.used
        # einsum's own loop, not BLAS: OpenBLAS's threaded matrix-vector product slows
        # to a third when several threads search at once (46 vs 365 searches/s, 8
        # threads, 100k × 128 on 2 cores) and is no faster alone.
        sims = np.einsum("ij,j->i", self._vectors[:used], probe.astype(np.float32))
        if self._rows.dead:
            sims[~self._rows.alive[:used]] = -np.inf
        rows = top_rows(sims, min(k, len(self)))
        return FaceHits(self._rows.face_ids[rows], self._rows.person_ids[rows], sims[rows])
