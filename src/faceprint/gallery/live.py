"""A gallery's vector indexes, kept in step with its SQLite file by the change log.

:class:`LiveIndex` loads the indexes once (restoring saved indexes, or building them from
the file), then, before each search, replays only the log entries committed since —
by this process or any other — instead of reloading the gallery. Adds and removals are
idempotent, so a replay that repeats work (after a crash, or saved indexes older than
the file) is harmless; saved indexes that claim changes the file does not have (a backup
restored under them) are ignored and rebuilt.

Searches run under a shared lock and replays under an exclusive one, so threads search
concurrently while a write waits for them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import NDArray

from faceprint.gallery.engines import IndexEngine
from faceprint.gallery.storage import GalleryStore
from faceprint.gallery.vectors import PersonHit, best_per_person

log = logging.getLogger(__name__)

PERSIST_EVERY = 20_000
"""Changes replayed before saved indexes are refreshed (they are also saved on close)."""

PRUNE_FROM = 100_000
"""Log entries kept before those covered by a saved index are pruned."""


class SharedLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class LiveIndex:
    """The searchable state of one gallery.

    :meth:`sync` and :meth:`flush` touch the store and must be called under the
    gallery's lock; :meth:`search` only reads the indexes.

    Args:
        store: the gallery's store.
        engine: where the indexes live.
    """

    def __init__(self, store: GalleryStore, engine: IndexEngine) -> None:
        self._store = store
        self._engine = engine
        self._seq: int | None = None
        self._version: tuple[int, int] | None = None
        self._pending = 0
        self._lock = SharedLock()

    @property
    def engine(self) -> IndexEngine:
        return self._engine

    @property
    def seq(self) -> int | None:
        """The change number the indexes reflect (``None`` before the first sync)."""
        return self._seq

    def sync(self, dim: int | None) -> None:
        """Bring the indexes up to the file's latest commit (cheap when nothing changed)."""
        version = self._store.version()
        if self._seq is not None and version == self._version:
            return
        if dim is None:  # unpinned, hence empty
            self._seq, self._version = 0, version
            return
        with self._lock.writing():
            if (
                self._seq is None
                or not self._store.has_change_log()
                or self._store.log_floor() > self._seq
            ):
                self._load(dim)
            else:
                self._replay(dim)
        self._version = version
        if self._pending >= PERSIST_EVERY:
            self.flush()

    def rebuild(self, dim: int | None) -> None:
        """Drop the indexes and build them again from the file."""
        if dim is None:
            return
        with self._lock.writing():
            self._engine.reset()
            self._seq = self._build(dim, None)
            self._engine.mark_dirty()
        self._version = self._store.version()
        self._pending = PERSIST_EVERY

    def _load(self, dim: int) -> None:
        seq = self._engine.restore(dim) if self._store.has_change_log() else None
        if seq is not None and seq > self._store.last_change():
            log.warning(
                "the saved index of %s is newer than the gallery file (restored from a "
                "backup?); rebuilding it",
                self._store.path,
            )
            seq = None
        if seq is None:
            self._engine.reset()
            self._seq = self._build(dim, None)
            self._pending = PERSIST_EVERY  # a fresh build is worth saving at once
            return
        sizes = self._store.collection_sizes()
        missing = [c for c, n in sizes.items() if n and self._engine.index(c) is None]
        if missing:
            self._build(dim, missing)
        self._seq = seq
        self._replay(dim)

    def _build(self, dim: int, collections: list[int] | None) -> int:
        sizes = self._store.collection_sizes()
        seq, chunks = self._store.all_index_rows(dim, collections=collections)
        total = 0
        for rows in chunks:
            for cid in np.unique(rows.collection_ids).tolist():
                index = self._engine.index(cid) or self._engine.create(cid, dim, sizes.get(cid, 0))
                part = rows.of_collection(cid)
                index.add(part.face_ids, part.person_ids, part.vectors)
            total += len(rows)
        log.info("indexed %d face(s) of gallery %s", total, self._store.path)
        return seq

    def _replay(self, dim: int) -> None:
        assert self._seq is not None
        changes = self._store.changes_since(self._seq, dim)
        touched: set[int] = set()
        if len(changes.removed):
            for cid in self._engine.collection_ids():
                index = self._engine.index(cid)
                if index is not None:
                    index.remove(changes.removed)
                    touched.add(cid)
        added = changes.added
        for cid in np.unique(added.collection_ids).tolist():
            part = added.of_collection(cid)
            index = self._engine.index(cid) or self._engine.create(cid, dim, len(part))
            index.add(part.face_ids, part.person_ids, part.vectors)
            touched.add(cid)
        for cid in touched:
            self._engine.maintain(cid, dim)
        if touched:
            self._engine.mark_dirty()
        self._pending += len(added) + len(changes.removed)
        self._seq = changes.last_seq

    def flush(self) -> None:
        """Save the indexes (if they changed) and prune the log entries they cover."""
        if self._seq is None:
            return
        with self._lock.reading():
            self._engine.persist(self._seq)
        self._pending = 0
        if self._store.path != ":memory:" and self._store.count_changes() > PRUNE_FROM:
            pruned = self._store.prune_changes(self._seq)
            log.info("pruned %d change-log entries of gallery %s", pruned, self._store.path)

    def search(
        self, probe: NDArray[np.float32], k: int, collection_ids: list[int] | None
    ) -> tuple[list[PersonHit], bool]:
        """The ``k`` best persons over some collections (``None``: all), best first.

        Returns the hits and whether any came from an approximate index (their
        similarities are then to be re-computed from the stored vectors).
        """
        with self._lock.reading():
            ids = self._engine.collection_ids() if collection_ids is None else collection_ids
            hits: list[PersonHit] = []
            approximate = False
            for cid in ids:
                index = self._engine.index(cid)
                if index is None:
                    continue
                hits.extend(best_per_person(index, probe, k))
                approximate = approximate or not index.exact
        hits.sort(key=lambda h: (-h.similarity, h.face_id))
        return hits[:k], approximate
