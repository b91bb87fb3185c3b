"""The PQ fast-scan codes of one collection: one faiss index, and how it is called.

A lone probe is scanned on one core: faiss does not split one query's scan over
threads, and splitting the codes into shards scanned in parallel was slower here (2
vCPUs, 1M faces, interleaved calls: 2.43 ms p50 for two shards against 1.87 for one;
both scans share the memory bandwidth). Several probes waiting together are scanned in
one call with one OpenMP thread per core: 8 probes ran at 1,518 probes/s against 831/s
on one thread and 1,095/s in two shards.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import GalleryError


def faiss_module() -> Any:
    """faiss (a core dependency), with a clear error when it is missing."""
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a core dependency
        raise GalleryError(
            "large-gallery search needs faiss: pip install faiss-cpu (a faceprint dependency)"
        ) from exc
    return faiss


class PqCodes:
    """Trained ``PQ{m}x4fs`` codebooks and the codes of rows ``0…len - 1``."""

    def __init__(self, index: Any) -> None:
        self._index = index

    @classmethod
    def train(cls, sample: NDArray[np.float32], subquantizers: int) -> PqCodes:
        faiss = faiss_module()
        index = faiss.index_factory(
            sample.shape[1], f"PQ{subquantizers}x4fs", faiss.METRIC_INNER_PRODUCT
        )
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return cls(index)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    def reset(self) -> None:
        self._index.reset()

    def add(self, vectors: NDArray[np.floating]) -> None:
        """Code the next ``len(vectors)`` rows."""
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def search(self, probes: NDArray[np.float32], want: int) -> NDArray[np.int64]:
        """Rows of the ``want`` best codes for each probe (``-1`` pads short results).

        OpenMP's thread count is set for the calling thread before each call: one
        thread for one probe, one per core (at most one per probe) for several.
        """
        q = np.ascontiguousarray(probes, dtype=np.float32)
        faiss_module().omp_set_num_threads(max(1, min(len(q), os.cpu_count() or 1)))
        found: NDArray[np.int64] = self._index.search(q, want)[1].astype(np.int64)
        return found

    # --- persistence -------------------------------------------------------------------

    def dump(self, handle: Any) -> None:
        """Write the index with faiss's own serialisation (no pickle)."""
        handle.write(faiss_module().serialize_index(self._index).tobytes())

    @classmethod
    def read(cls, data: bytes, dim: int, rows: int) -> PqCodes:
        """Read what :meth:`dump` wrote; ``ValueError`` unless it codes ``rows`` rows of
        ``dim`` dimensions."""
        faiss = faiss_module()
        try:
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8).copy())
        except RuntimeError as exc:  # faiss reports a damaged file as a RuntimeError
            raise ValueError(f"unreadable PQ codes: {exc}") from exc
        if int(index.ntotal) != rows or int(index.d) != dim:
            raise ValueError("the PQ codes do not hold the rows they should")
        return cls(index)
