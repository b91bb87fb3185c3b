"""The read side of :class:`~faceprint.gallery.Gallery`: single items, listings, counts.

Lookups only (no writes, no search); each holds the gallery's lock for one store call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ConfigError
from faceprint.gallery.records import CollectionInfo, FaceInfo, PersonInfo
from faceprint.gallery.storage import GalleryStore, StoredEmbeddings


class GalleryReads:
    """Read-only lookups over a store, serialised by the gallery's lock."""

    _store: GalleryStore
    _lock: threading.RLock

    # --- single items ------------------------------------------------------------------

    def collection(self, name: str) -> CollectionInfo:
        """One collection with its person and face counts (one indexed query).

        Raises:
            NotFoundError: no such collection (the message lists existing ones).
        """
        with self._lock:
            return self._store.collection(name)

    def person(self, name: str, *, collection: str = "default") -> PersonInfo:
        """One person with their face count (one indexed query).

        Raises:
            NotFoundError: no such collection, or no person ``name`` in it (the message
                names the collection).
        """
        with self._lock:
            return self._store.person(collection, name)

    def face(self, face_id: int) -> FaceInfo:
        """One face's metadata by id (no vector).

        Raises:
            NotFoundError: no face with that id.
        """
        with self._lock:
            return self._store.face(face_id)

    def enrolled_images(
        self, sha256s: Iterable[str], *, collection: str
    ) -> dict[str, tuple[str, ...]]:
        """Which of these images (sha256 hex digests) are enrolled in ``collection``.

        Returns ``{digest: sorted names of the persons holding a face from it}`` for the
        digests that are enrolled; the others are absent, as is ``""``. A collection that
        does not exist gives ``{}``. Indexed lookups, a few hundred digests per query, so
        a chunk of images costs milliseconds even in a large gallery.

        Raises:
            ConfigError: ``sha256s`` is a single string rather than an iterable of them.
        """
        if isinstance(sha256s, str):
            raise ConfigError(
                "sha256s must be an iterable of hex digests, not one string; "
                "wrap a single digest in a list"
            )
        with self._lock:
            return self._store.enrolled_images(sha256s, collection)

    # --- listings ----------------------------------------------------------------------

    def has_collection(self, name: str) -> bool:
        """Whether collection ``name`` exists (cheap: no counting)."""
        with self._lock:
            return self._store.has_collection(name)

    def collections(self) -> list[CollectionInfo]:
        """All collections with person and face counts, sorted by name."""
        with self._lock:
            return self._store.collections()

    def persons(self, *, collection: str | None = None) -> list[PersonInfo]:
        """Persons of one collection (``None``: all), sorted by collection then name.

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._lock:
            return self._store.persons(collection)

    def faces(self, person: str, *, collection: str = "default") -> list[FaceInfo]:
        """Faces of one person in enrolment order (metadata only, no vectors).

        Raises:
            NotFoundError: no such collection or person.
        """
        with self._lock:
            return self._store.faces(collection, person)

    def person_templates(
        self, person: str, *, collection: str = "default"
    ) -> tuple[list[int], NDArray[np.float32]]:
        """The face ids and templates of one person (K ids and a K×D float32 matrix,
        row i being face i, in enrolment order; for 1:1 claims against a person).

        Raises:
            NotFoundError: no such collection or person.
            GalleryCorruptError: a stored template is damaged.
        """
        with self._lock:
            faces = self._store.faces(collection, person)
            dim = self._store.pin().embedding_dim or 0
            found = self._store.vectors_of([f.id for f in faces], dim)
        ids = [f.id for f in faces if f.id in found]
        rows = [found[i] for i in ids]
        return ids, np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)

    def size(self, *, collection: str | None = None) -> int:
        """Number of face templates a search compares against (``N`` for FPIR thresholds).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._lock:
            return self._store.count_faces(collection)

    def version(self) -> tuple[int, int]:
        """A value that changes whenever this or another process commits a write (for
        callers that cache something derived from the gallery)."""
        with self._lock:
            return self._store.version()

    def templates(self, *, collection: str | None = None) -> StoredEmbeddings:
        """Every face template of one collection (``None``: all), read consistently: the
        N×D float32 matrix in face-id order with its face ids and persons (for callers
        that lay a gallery out themselves, e.g. :mod:`faceprint.privacy`).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
            GalleryCorruptError: a stored template is damaged.
        """
        with self._lock:
            if collection is not None:
                self._store.count_faces(collection)  # raises NotFoundError
            return self._store.load_embeddings(collection)

    def count_persons(self, *, collection: str | None = None) -> int:
        """Number of persons in one collection (``None``: all).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._lock:
            return self._store.count_persons(collection)

    @contextmanager
    def _locked_store(self) -> Iterator[GalleryStore]:
        """The store, held under this gallery's lock (for :mod:`faceprint.gallery.archive`).

        Other threads using this object wait until the block ends.
        """
        with self._lock:
            yield self._store
