"""One Milvus collection as a :class:`~faceprint.gallery.vectors.VectorIndex`.

Every call goes through its :class:`~faceprint.gallery.milvus.MilvusEngine` (which owns
the client, the timeouts and the error translation); this module never imports pymilvus.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from faceprint.gallery.milvus_spec import INDEX_TYPES
from faceprint.gallery.vectors import FaceHits

if TYPE_CHECKING:
    from faceprint.gallery.milvus import MilvusEngine

MAX_TOPK = 16_384
"""Milvus's limit on the faces one search returns (``limit``)."""

UPSERT_BYTES = 4 << 20
"""Target size of one upsert request (gRPC's default message cap is 64 MiB)."""

DELETE_IDS = 5_000
"""Face ids per delete request (one ``face_id in [...]`` expression)."""


class MilvusIndex:
    """One faceprint collection's faces in one Milvus collection (a :class:`VectorIndex`).

    Args:
        engine: the engine (its client and error handling).
        name: the Milvus collection.
        dim: the embedding dimension.
    """

    def __init__(self, engine: MilvusEngine, name: str, dim: int) -> None:
        self._engine = engine
        self.name = name
        self.dim = dim
        self.kind = engine.spec.kind
        self.exact = INDEX_TYPES[engine.spec.index_type].exact
        self._count: int | None = None
        self._count_lock = threading.Lock()

    def __len__(self) -> int:
        """Faces held: Milvus's row count, read after a removal; after an add, the last
        count plus the rows upserted (an upper bound: a replayed row is counted twice
        until the next read, which only widens a person search once more)."""
        with self._count_lock:
            if self._count is None:
                self._count = self.count()
            return self._count

    def count(self) -> int:
        """The rows held now (one request).

        A server answers ``count(*)`` at Strong consistency (its collection statistics
        may lag behind fresh writes); milvus-lite's statistics are exact and its
        ``count(*)`` scans every row in Python.
        """
        what = f"counting the faces of {self.name}"
        if self._engine.spec.lite:
            stats = self._engine.call(what, "get_collection_stats", self.name)
            return int(stats.get("row_count", 0))
        rows = self._engine.call(
            what, "query", self.name, filter="", output_fields=["count(*)"],
            consistency_level="Strong",
        )  # fmt: skip
        return int(rows[0]["count(*)"]) if len(rows) else 0

    def _changed(self, added: int = 0) -> None:
        with self._count_lock:
            self._count = None if self._count is None or not added else self._count + added
        self._engine.mark_dirty()

    def add(
        self,
        face_ids: NDArray[np.int64],
        person_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        """Upsert faces: ids already held are overwritten with the same row (a replay)."""
        if vectors.shape != (len(face_ids), self.dim):
            raise ValueError(
                f"vectors must be {len(face_ids)}×{self.dim}, got shape {vectors.shape}"
            )
        if len(face_ids) == 0:
            return
        per_request = max(1, UPSERT_BYTES // (4 * self.dim + 16))
        ids, persons = face_ids.tolist(), person_ids.tolist()
        for start in range(0, len(ids), per_request):
            end = start + per_request
            rows = [
                {"face_id": f, "person_id": p, "vector": v}
                for f, p, v in zip(
                    ids[start:end],
                    persons[start:end],
                    np.asarray(vectors[start:end], dtype=np.float32).tolist(),
                    strict=True,
                )
            ]
            self._engine.call(
                f"writing {len(rows)} face(s) to {self.name}",
                "upsert",
                self.name,
                rows,
                timeout=self._engine.write_timeout,
            )
        self._changed(added=len(ids))

    def remove(self, face_ids: NDArray[np.int64]) -> None:
        """Delete faces by primary key (ids not held are ignored by Milvus)."""
        if len(face_ids) == 0:
            return
        ids = np.unique(face_ids).tolist()
        for start in range(0, len(ids), DELETE_IDS):
            part = ids[start : start + DELETE_IDS]
            self._engine.call(
                f"removing {len(part)} face(s) from {self.name}",
                "delete",
                self.name,
                ids=part,
                timeout=self._engine.write_timeout,
            )
        self._changed()

    def search(self, probe: NDArray[np.float32], k: int) -> FaceHits:
        """Up to ``min(k, MAX_TOPK)`` faces, best first, ties by lower face id.

        One face more than asked is fetched; while the last two tie, the request
        widens, so a tie at the cut goes to the lower face id as in an exact scan.
        """
        take = min(k, MAX_TOPK)
        if take <= 0:
            return _no_hits()
        vector = np.asarray(probe, dtype=np.float32).tolist()
        ask = min(take + 1, MAX_TOPK) if self.exact else take
        while True:
            ids, persons, sims = self._search(vector, ask, take)
            if len(ids) <= take or ask >= MAX_TOPK:
                break
            ordered = np.sort(sims)[::-1]
            if ordered[take] < ordered[take - 1]:
                break
            ask = min(2 * ask, MAX_TOPK)
        order = np.lexsort((ids, -sims))[:take]
        return FaceHits(ids[order], persons[order], sims[order])

    def _search(
        self, vector: list[float], limit: int, k: int
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]:
        spec = self._engine.spec
        params = {"metric_type": "IP", "params": spec.search_params_for(k)}
        result = self._engine.call(
            f"searching {self.name}",
            "search",
            self.name,
            data=[vector],
            limit=limit,
            output_fields=["person_id"],
            search_params=params,
            consistency_level="Strong",
        )
        if not len(result):
            return _no_hits().face_ids, _no_hits().person_ids, _no_hits().similarities
        hits = result[0]
        n = len(hits)
        ids = np.asarray(hits.ids, dtype=np.int64).reshape(n)
        sims = np.asarray(hits.distances, dtype=np.float32).reshape(n)
        persons = np.fromiter((h["entity"]["person_id"] for h in hits), dtype=np.int64, count=n)
        return ids, persons, sims


def _no_hits() -> FaceHits:
    empty = np.empty(0, dtype=np.int64)
    return FaceHits(empty, empty, np.empty(0, dtype=np.float32))
