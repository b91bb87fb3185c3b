"""The index for large collections: every face scanned as 16-byte PQ codes, then re-ranked.

Face embeddings are a hard case for approximate search: an unknown probe's nearest
impostors are barely closer than the bulk, so graphs lose their way. Measured here on
realistic 128-d SFace templates (docs/scale.md), the share of enrolled mates found:

* HNSW (usearch, M = 16, ef 96): 0.933 at 100k — M = 32 reached 0.9965, but a
  one-thread build took 155 s per 100k (multi-threaded inserts left unreachable nodes);
* faiss HNSW (M = 32, ef 256): 0.994 at 100k; IVF-Flat / IVF-PQ (1,024 lists, 6–12 %
  probed): 0.89 / 0.96;
* an exhaustive product-quantisation scan (faiss ``PQ32x4fs``: 32 sub-quantisers of 4
  bits, SIMD "fast scan") keeping 200 candidates: **0.998 at 1M**, about 2 ms per probe on
  one core, built in 9 s. That is this index (:mod:`faceprint.gallery.pqcodes`).

Each face is stored twice: as a 16-byte code for the scan and as int16 with a scale (two
bytes per dimension, :mod:`faceprint.gallery.qrows`) to re-rank the candidates; the few
hits a search returns are re-scored from
the gallery's float32 rows by :class:`~faceprint.gallery.Gallery`. Additions are encoded
with the trained codebooks; removals are tombstones, dropped (re-encoding the live faces)
once they pass :data:`COMPACT_FRACTION`. Until :data:`TRAIN_FROM` faces are held there
are no codebooks and the int16 rows are scanned whole.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.core.rows import RowTable
from faceprint.errors import GalleryError
from faceprint.gallery.pqcodes import PqCodes
from faceprint.gallery.qrows import QuantRows
from faceprint.gallery.vectors import FaceHits, top_rows

TRAIN_FROM = 1_000
"""Faces needed before codebooks are trained (16 centroids × 39 points, rounded up)."""

TRAIN_SAMPLE = 100_000
"""At most this many faces (a seeded random sample) train the codebooks."""

COMPACT_FRACTION = 0.1
"""Removed faces (tombstones) beyond this share of the rows trigger a compaction."""


@dataclass(frozen=True, slots=True)
class PqParams:
    """``subquantizers`` × 4-bit codes per face (default: one per 4 dimensions, so 16
    bytes for SFace's 128); at least ``candidates`` re-ranked per search, and at least
    ``candidate_share`` of the collection's faces.

    The share keeps the shortlist in proportion to the collection: the impostors whose
    codes outscore a mate grow in number with the faces held, so a fixed shortlist loses
    mates as a collection grows (200 kept 0.998 of the mates at 1M but 0.987 at 10M).
    2e-4 is the 200 that was measured at 1M; re-ranking from int16 rows costs little
    (2,000 candidates at 10M)."""

    subquantizers: int | None = None
    candidates: int = 200
    candidate_share: float = 2e-4


class _Slot:
    __slots__ = ("done", "error", "probe", "result", "want")

    def __init__(self, probe: NDArray[np.float32], want: int) -> None:
        self.probe, self.want = probe, want
        self.done = False
        self.result: NDArray[np.int64] | None = None
        self.error: BaseException | None = None


class Combiner:
    """Runs concurrent searches together: one faiss call scans the codes for several
    probes at once, which costs far less than one call each (flat combining).

    A caller whose probe is waiting and finds fewer than ``leaders`` batches running
    takes every waiting probe and runs them; the others wait for their result. Alone, a
    caller runs its own probe at once (no waiting, no timer).
    """

    def __init__(
        self, run: Callable[[NDArray[np.float32], int], NDArray[np.int64]], leaders: int
    ) -> None:
        self._run = run
        self._leaders = leaders
        self._cond = threading.Condition()
        self._queue: list[_Slot] = []
        self._active = 0

    def submit(self, probe: NDArray[np.float32], want: int) -> NDArray[np.int64]:
        slot = _Slot(probe, want)
        with self._cond:
            self._queue.append(slot)
            while not slot.done:
                if self._active < self._leaders and self._queue:
                    batch, self._queue = self._queue, []
                    self._active += 1
                    self._cond.release()
                    try:
                        self._serve(batch)
                    finally:
                        self._cond.acquire()
                        self._active -= 1
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if slot.error is not None:
            raise slot.error
        assert slot.result is not None
        return slot.result

    def _serve(self, batch: list[_Slot]) -> None:
        try:
            found = self._run(np.stack([s.probe for s in batch]), max(s.want for s in batch))
            for i, s in enumerate(batch):
                s.result = found[i][: s.want]
        except BaseException as exc:  # every waiter gets the error, not a hang
            for s in batch:
                s.error = exc
        finally:
            for s in batch:
                s.done = True


class PqIndex:
    """Exhaustive PQ fast-scan plus int16 re-ranking over one collection's faces.

    Args:
        dim: the embedding dimension (a multiple of ``params.subquantizers``).
        params: code size and candidates.
    """

    kind = "pq"
    exact = False

    def __init__(self, dim: int, params: PqParams | None = None) -> None:
        self._dim = dim
        self._params = params or PqParams()
        self._m = self._params.subquantizers or max(dim // 4, 1)
        if dim % self._m or self._m % 2:
            raise GalleryError(
                f"a {dim}-d embedding does not split into {self._m} sub-vectors (an even "
                "number dividing the dimension); use the exact index for this gallery"
            )
        self._codes: PqCodes | None = None  # once trained
        # one batch at a time: it scans on every core while the next probes queue
        self._combiner = Combiner(self._scan, leaders=1)
        self._qrows = QuantRows(dim)
        self._rows = RowTable()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def trained(self) -> bool:
        return self._codes is not None

    @property
    def removed(self) -> int:
        """Tombstones: removed faces whose rows and codes are still held."""
        return self._rows.dead

    @property
    def memory_bytes(self) -> int:
        """Codes, the int16 rows in use and the row table. A block's unused rows are
        zero pages the system commits only when written, so they are not counted."""
        used = self._rows.used
        codes = 0 if self._codes is None else used * self._m // 2
        return codes + self._qrows.nbytes(used) + self._rows.nbytes

    # --- writes ------------------------------------------------------------------------

    def add(
        self,
        face_ids: NDArray[np.int64],
        person_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        """Add faces (ids already held are skipped); ids must be above those held."""
        face_ids, person_ids, vectors = self._rows.fresh(face_ids, person_ids, vectors, self._dim)
        if len(face_ids) == 0:
            return
        if not self._rows.grows(face_ids):
            raise ValueError("face ids must grow; rebuild the index to add older faces")
        self._qrows.put(self._rows.append(face_ids, person_ids), vectors)
        if self._codes is not None:
            self._codes.add(vectors)
        elif self._rows.used >= TRAIN_FROM:
            self._train()

    def _train(self) -> None:
        live = self._rows.live_rows()
        rng = np.random.default_rng(0)
        sample = (
            live if len(live) <= TRAIN_SAMPLE else rng.choice(live, TRAIN_SAMPLE, replace=False)
        )
        self._codes = PqCodes.train(self._qrows.gather(np.sort(sample).astype(np.int64)), self._m)
        self._encode_all()

    def _encode_all(self) -> None:
        """Re-encode every row (after training or compaction), a block at a time."""
        assert self._codes is not None
        self._codes.reset()
        for chunk in self._qrows.chunks(self._rows.used):
            self._codes.add(chunk)

    def remove(self, face_ids: NDArray[np.int64]) -> None:
        if not len(self._rows.kill(face_ids)):
            return
        dead = self._rows.dead
        if dead > COMPACT_FRACTION * max(self._rows.used, 1) and dead >= 64:
            self.compact()

    def compact(self) -> None:
        """Drop the tombstones: keep the live rows and re-encode them."""
        keep = self._rows.live_rows()
        old, self._qrows = self._qrows, QuantRows(self._dim)
        step = 1 << 16
        for start in range(0, len(keep), step):
            self._qrows.put_quantised(start, *old.take(keep[start : start + step]))
        self._rows.keep(keep)
        if self._codes is not None:
            self._encode_all()

    # --- search ------------------------------------------------------------------------

    def search(self, probe: NDArray[np.float32], k: int) -> FaceHits:
        take = min(k, len(self))
        if take == 0:
            empty = np.empty(0, dtype=np.int64)
            return FaceHits(empty, empty, np.empty(0, dtype=np.float32))
        q = np.ascontiguousarray(probe, dtype=np.float32)
        table = self._rows
        if self._codes is None:
            rows = np.arange(table.used)
        else:
            shortlist = max(
                2 * take,
                self._params.candidates,
                math.ceil(self._params.candidate_share * len(table)),
            )
            want = min(shortlist + table.dead, table.used)
            found = self._combiner.submit(q, want)
            rows = found[found >= 0]
        rows = rows[table.alive[rows]].astype(np.int64)
        sims = self._qrows.scores(rows, q)
        best = top_rows(sims, take)
        # top_rows breaks ties by position in ``rows``; make it by face id
        chosen = rows[best]
        order = np.lexsort((table.face_ids[chosen], -sims[best]))
        chosen, values = chosen[order], sims[best][order]
        return FaceHits(table.face_ids[chosen], table.person_ids[chosen], values.astype(np.float32))

    def _scan(self, probes: NDArray[np.float32], want: int) -> NDArray[np.int64]:
        """Rows of the ``want`` best codes for each probe (one scan for all)."""
        assert self._codes is not None
        return self._codes.search(probes, want)

    # --- persistence -------------------------------------------------------------------

    def save(self, stem: Path) -> list[Path]:
        """Write ``stem.npz`` (rows, ids, liveness) and ``stem.codes`` (the shards' codes,
        once trained)."""
        arrays, codes = stem.with_suffix(".npz"), stem.with_suffix(".codes")
        table, n = self._rows, self._rows.used
        parts = list(self._qrows.saved(n))
        qcodes = (
            np.concatenate([c for c, _ in parts]) if parts else np.empty((0, self._dim), np.int16)
        )
        scales = np.concatenate([s for _, s in parts]) if parts else np.empty(0, np.float32)
        with arrays.open("wb") as handle:
            np.savez(
                handle,
                rows16=qcodes,
                scales=scales,
                face_ids=table.face_ids[:n],
                person_ids=table.person_ids[:n],
                alive=table.alive[:n],
                params=np.frombuffer(json.dumps(asdict(self._params)).encode(), dtype=np.uint8),
            )
        written = [arrays]
        if self._codes is not None:
            with codes.open("wb") as handle:
                self._codes.dump(handle)
            written.append(codes)
        return written

    @classmethod
    def load(cls, stem: Path, dim: int, params: PqParams | None = None) -> PqIndex:
        """Read what :meth:`save` wrote (``OSError``/``ValueError`` if damaged)."""
        index = cls(dim, params)
        with np.load(stem.with_suffix(".npz"), allow_pickle=False) as data:
            qcodes, scales = data["rows16"], data["scales"]
            if qcodes.dtype != np.int16 or qcodes.ndim != 2 or qcodes.shape[1] != dim:
                raise ValueError(f"{stem}.npz does not hold {dim}-d int16 rows")
            if scales.dtype != np.float32 or scales.shape != (len(qcodes),):
                raise ValueError(f"{stem}.npz does not hold one scale per row")
            saved = json.loads(bytes(data["params"]).decode())
            if saved != asdict(index._params):
                raise ValueError(f"{stem}.npz was built with other parameters ({saved})")
            face_ids = data["face_ids"].astype(np.int64)
            if len(face_ids) != len(qcodes) or np.any(np.diff(face_ids) <= 0):
                raise ValueError(f"{stem}.npz: face ids are not one ascending id per row")
            index._qrows.put_quantised(0, qcodes, scales)
            index._rows.append(face_ids, data["person_ids"].astype(np.int64))
            alive = data["alive"].astype(bool)
            index._rows.alive[: len(alive)] = alive
            index._rows.dead = int(len(alive) - alive.sum())
        codes = stem.with_suffix(".codes")
        if codes.is_file():
            index._codes = PqCodes.read(codes.read_bytes(), dim, index._rows.used)
        elif index._rows.used >= TRAIN_FROM:
            raise ValueError(f"{stem}.codes is missing")
        return index
