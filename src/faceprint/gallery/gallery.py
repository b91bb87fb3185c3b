"""The gallery: enrolled faces in SQLite, exact cosine search, open-set decisions.

A gallery is pinned to the embedding model (and dimension) that filled it; embeddings
of another model or dimension are refused with
:class:`~faceprint.errors.ModelMismatchError`. It sees only embeddings: never images,
models or the pipeline.

Error choices:

* :class:`~faceprint.errors.ModelMismatchError` — model id or dimension differs from
  the pin (message names both models).
* :class:`~faceprint.errors.ConfigError` (a ``ValueError``) — a malformed argument:
  empty person/collection name, an embedding vector that is not 1-D, finite and
  unit-norm (``|‖v‖ − 1| > 1e-3``), a malformed box or score, ``k < 1``.
* :class:`~faceprint.errors.NotFoundError` (a ``LookupError``) — unknown collection,
  person or face id; a missing file with ``create=False``.
* :class:`~faceprint.errors.GalleryCorruptError` — the file is not a faceprint gallery
  or is damaged; :class:`~faceprint.errors.GalleryError` — a newer schema (upgrade
  faceprint), a closed gallery, or a write the database refused (nothing was changed).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ConfigError, GalleryError, ModelMismatchError
from faceprint.gallery.engines import check_index_spec, open_engine
from faceprint.gallery.live import LiveIndex
from faceprint.gallery.reads import GalleryReads
from faceprint.gallery.records import FaceRecord
from faceprint.gallery.schema import TEMPLATES_EPOCH, Pin
from faceprint.gallery.storage import GalleryStore
from faceprint.gallery.validation import check_name, checked_record, checked_vector
from faceprint.types import Embedding, Identification, Match, Threshold

if TYPE_CHECKING:
    from faceprint.keysource import SecretKey

log = logging.getLogger(__name__)

Rescore = Callable[[NDArray[np.float32], NDArray[np.float32]], NDArray[np.floating]]
"""``(probe, vectors) -> similarities``: a score adjuster re-scoring a shortlist."""

RESCORE_SHORTLIST = 64
"""Persons short-listed by cosine similarity before a re-scored search cuts to ``k``."""

INDEX_SETTING = "index"
"""Gallery setting naming the vector index engine (:mod:`faceprint.gallery.engines`)."""


class Gallery(GalleryReads):
    """Enrolled faces grouped into collections and persons, searchable by embedding.

    Create with :meth:`open`; use as a context manager or call :meth:`close`. Calls on
    one object are serialised with a lock, so it may be shared between threads;
    searches run concurrently. Searches go through vector indexes (one per collection,
    exact or HNSW by size, or Milvus: :meth:`set_index`) loaded at the first search and
    kept in step with the file's change log, so a write by this or another process costs
    the next search only the faces it changed.
    """

    def __init__(self, store: GalleryStore, *, device: str | None = None) -> None:
        """Wrap an open store; prefer :meth:`open`."""
        self._store = store
        self._device = device
        self._lock = threading.RLock()
        self._live: LiveIndex | None = None
        self._pin: tuple[tuple[int, int], Pin] | None = None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        model_id: str | None = None,
        create: bool = True,
        device: str | None = None,
        key: SecretKey | None = None,
    ) -> Gallery:
        """Open (or create) a gallery file.

        Args:
            path: the SQLite file, or ``":memory:"`` for a throw-away gallery.
            model_id: the embedding model the caller will use. An unpinned gallery is
                pinned to it; a pinned one must match it.
            create: create the file (and parent folders) if it does not exist.
            device: search on this PyTorch device (``cuda``; ``cpu`` runs the same torch
                code on the CPU): exact scans of every collection there, unless the
                index setting says ``pq`` or Milvus. ``None``: numpy and PQ codes on the CPU.
            key: the key of an encrypted gallery (:mod:`faceprint.gallery.sealing`);
                given for a new (or empty plaintext) gallery, it creates it encrypted.

        Raises:
            NotFoundError: ``create`` is False and there is no file at ``path``.
            GalleryCorruptError: the file is not a faceprint gallery or is damaged.
            GalleryError: the gallery was written by a newer faceprint, or cannot be opened.
            ModelMismatchError: the gallery is pinned to another model than ``model_id``.
            KeyUnavailableError: the gallery is encrypted and no ``key`` was given.
            WrongKeyError: ``key`` is not the gallery's key (the message names both ids).
            ConfigError: a ``key`` was given for a plaintext gallery that holds faces.
        """
        name = os.fspath(path)
        store = GalleryStore.open(name, create=create, key=key)
        try:
            if model_id is not None:
                store.pin_model(model_id)
        except BaseException:
            store.close()
            raise
        log.debug("opened gallery %s", name)
        return cls(store, device=device)

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Save changed vector indexes and close the database; idempotent.

        Later calls raise GalleryError.
        """
        with self._lock:
            if self._live is not None and not self._store.closed:
                try:
                    self._live.flush()
                except (OSError, GalleryError) as exc:
                    log.warning("could not save the vector index of %s: %s", self.path, exc)
                finally:
                    self._live.engine.close()
                    self._live = None
            self._store.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._store.closed else "open"
        return f"Gallery({self._store.path!r}, {state})"

    @property
    def path(self) -> str:
        """The file path (or ``":memory:"``)."""
        return self._store.path

    @property
    def encrypted(self) -> bool:
        """Whether the templates are encrypted at rest (then searched from memory)."""
        return self._store.encrypted

    @property
    def model_id(self) -> str | None:
        """The embedding model this gallery is pinned to; ``None`` until pinned."""
        with self._lock:
            return self._store.pin().model_id

    @property
    def embedding_dim(self) -> int | None:
        """The embedding dimension this gallery is pinned to; ``None`` until the first face."""
        with self._lock:
            return self._store.pin().embedding_dim

    @property
    def require_liveness(self) -> bool:
        """Policy: faces must pass presentation-attack detection to be enrolled or
        identified in this gallery (off by default)."""
        with self._lock:
            return self._store.meta("setting.require_liveness") == "1"

    def set_require_liveness(self, required: bool) -> None:
        """Turn the liveness policy on or off (stored in the gallery file)."""
        with self._lock:
            self._store.set_setting("require_liveness", "1" if required else "0")

    @property
    def index_spec(self) -> str:
        """The ``index`` setting: ``auto`` (default), ``exact``, ``pq`` or a Milvus URI."""
        with self._lock:
            return self._store.meta(f"setting.{INDEX_SETTING}") or "auto"

    def set_index(self, spec: str) -> None:
        """Choose where searches run (stored in the file; see :mod:`faceprint.gallery.engines`).

        The next search builds the new index (PQ codes for a million faces take about
        20 s on two cores; a Milvus collection is filled once and kept by the server).

        Raises:
            ConfigError: ``spec`` names no engine, or Milvus for an encrypted gallery.
        """
        check_index_spec(spec, encrypted=self.encrypted)
        with self._lock:
            self._store.set_setting(INDEX_SETTING, spec)
            if self._live is not None:
                self._live.engine.close()
                self._live = None

    def index_info(self) -> dict[str, Any]:
        """The index setting, the change number searched and, per collection, the index
        kind, faces and memory (loads the index if no search has yet)."""
        with self._lock:
            live = self._synced_index()
            names = self._store.collection_names()
            return {
                "index": live.engine.name,  # credentials in a Milvus URI are redacted
                "change": live.seq,
                "collections": {
                    names.get(cid, str(cid)): info for cid, info in live.engine.describe().items()
                },
            }

    def rebuild_index(self) -> None:
        """Rebuild the vector index from the gallery file (and save it), discarding any
        saved or server-side copy (about 10 s per million faces for PQ codes)."""
        with self._lock:
            live = self._synced_index()
            live.rebuild(self._store.pin().embedding_dim)
            live.flush()

    def _synced_index(self) -> LiveIndex:
        """The live index, created on first use and synced to the file (call under the lock)."""
        if self._live is None:
            spec = self.index_spec
            # the file's creation time: a model pin can only be added, never changed, so
            # it is not part of it (an index first loaded unpinned stays valid)
            identity = str(self._store.meta("created_at"))
            if epoch := self._store.meta(TEMPLATES_EPOCH):  # templates were re-issued
                identity += f"/{epoch}"
            engine = open_engine(
                spec,
                gallery_path=self.path,
                identity=identity,
                device=self._device,
                encrypted=self.encrypted,
            )
            self._live = LiveIndex(self._store, engine)
        self._live.sync(self._store.pin().embedding_dim)
        return self._live

    # --- writes ------------------------------------------------------------------------

    def add_faces(
        self, person: str, faces: Sequence[FaceRecord], *, collection: str = "default"
    ) -> list[int]:
        """Add faces of ``person`` in one transaction; returns their face ids in order.

        The collection and person are created if new; an unpinned gallery is pinned to
        the faces' model and dimension. All-or-nothing: if any face is refused, none is
        added. An empty ``faces`` adds nothing (and creates no person) and returns ``[]``.

        Args:
            person: the person's name (non-empty).
            faces: the faces to add; all from one model, vectors finite and unit-norm.
            collection: the collection (non-empty name).

        Raises:
            ConfigError: empty name, or a vector that is not a finite unit-norm 1-D
                vector, or a malformed ``bbox_xyxy``/``det_score``.
            ModelMismatchError: a face's model or dimension differs from the pin or from
                the other faces of the batch.
            GalleryError: the database refused the write (nothing was changed).
        """
        check_name("person", person)
        check_name("collection", collection)
        if not faces:
            return []
        checked = [checked_record(face, f"face {i} of {person!r}") for i, face in enumerate(faces)]
        first = checked[0].embedding
        for i, face in enumerate(checked[1:], start=1):
            other = face.embedding
            if other.model_id != first.model_id or other.dimension != first.dimension:
                raise ModelMismatchError(
                    f"face {i} of {person!r} is a {other.dimension}-d embedding of model "
                    f"{other.model_id!r} but face 0 is a {first.dimension}-d embedding of "
                    f"model {first.model_id!r}; add faces of one model at a time"
                )
        with self._lock:
            ids = self._store.insert_faces(
                collection, person, checked, model_id=first.model_id, dim=first.dimension
            )
        log.debug("added %d face(s) of %r to collection %r", len(ids), person, collection)
        return ids

    def create_collection(self, name: str) -> None:
        """Create an empty collection (adding faces creates one implicitly).

        Raises:
            ConfigError: empty name.
            AlreadyExistsError: a collection of that name exists.
        """
        check_name("collection", name)
        with self._lock:
            self._store.create_collection(name)

    def create_person(self, person: str, *, collection: str = "default") -> None:
        """Create a person without faces in an existing collection.

        Raises:
            ConfigError: empty name.
            NotFoundError: no such collection.
            AlreadyExistsError: the person exists in that collection.
        """
        check_name("person", person)
        with self._lock:
            self._store.create_person(collection, person)

    def remove_person(self, person: str, *, collection: str = "default") -> int:
        """Remove a person and all their faces; returns the number of faces removed.

        Raises:
            NotFoundError: no such collection or person.
        """
        with self._lock:
            removed = self._store.delete_person(collection, person)
        log.info("removed %r (%d face(s)) from collection %r", person, removed, collection)
        return removed

    def remove_face(self, face_id: int) -> None:
        """Remove one face by id; a person left without faces is removed too.

        Raises:
            NotFoundError: no face with that id.
        """
        with self._lock:
            self._store.delete_face(face_id)
        log.info("removed face %d", face_id)

    def remove_collection(self, name: str) -> int:
        """Remove a collection with all its persons and faces; returns faces removed.

        Raises:
            NotFoundError: no such collection.
        """
        with self._lock:
            removed = self._store.delete_collection(name)
        log.info("removed collection %r (%d face(s))", name, removed)
        return removed

    def rename_person(self, person: str, new_name: str, *, collection: str = "default") -> None:
        """Rename a person within their collection.

        Raises:
            ConfigError: ``new_name`` is empty.
            NotFoundError: no such collection or person.
            AlreadyExistsError: ``new_name`` is already a person of that collection.
        """
        check_name("person", new_name)
        with self._lock:
            self._store.rename_person(collection, person, new_name)

    def rename_collection(self, name: str, new_name: str) -> None:
        """Rename a collection; its persons and faces (and their ids) are kept.

        Raises:
            ConfigError: ``new_name`` is empty.
            NotFoundError: no such collection.
            AlreadyExistsError: a collection ``new_name`` already exists.
        """
        check_name("collection", new_name)
        with self._lock:
            self._store.rename_collection(name, new_name)
        log.info("renamed collection %r to %r", name, new_name)

    # --- search ------------------------------------------------------------------------

    def search(
        self,
        embedding: Embedding,
        *,
        k: int = 5,
        collection: str | None = None,
        rescore: Rescore | None = None,
    ) -> list[Match]:
        """The ``k`` most similar persons for a probe, best first, one per person.

        A person's similarity is the maximum cosine similarity over their faces; the
        :class:`~faceprint.types.Match` names that face. Ties go to the face enrolled
        first. Fewer than ``k`` matches come back when there are fewer persons; an empty
        gallery gives ``[]``.

        Args:
            embedding: the probe (unit-norm vector of the pinned model and dimension).
            k: the number of persons to return (≥ 1).
            collection: search one collection; ``None`` searches all (a person's name
                may then appear once per collection).
            rescore: ``(probe, vectors) -> similarities`` of a score adjuster
                (:meth:`faceprint.pipeline.FacePipeline.rescore`): a shortlist of
                ``max(4k, 64)`` persons by cosine similarity is re-scored with it (each
                person by their best-matching face), re-sorted and cut to ``k``.

        Raises:
            ConfigError: ``k`` < 1, or the probe is not a finite unit-norm 1-D vector.
            ModelMismatchError: the probe's model or dimension differs from the pin.
            NotFoundError: ``collection`` is given and does not exist.
        """
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        probe = checked_vector(embedding, "the probe embedding")
        with self._lock:
            pin = self._current_pin()
            pin.check(embedding.model_id, embedding.dimension, gallery=self.path)
            live = self._synced_index()
            ids = None if collection is None else [self._store.collection_id(collection)]
        want = k if rescore is None else max(4 * k, RESCORE_SHORTLIST)
        hits, approximate = live.search(probe, want, ids)
        if not hits or pin.embedding_dim is None:
            return []
        with self._lock:
            rows = self._store.shortlist([h.face_id for h in hits], pin.embedding_dim)
        matches = []
        for hit in hits:
            row = rows.get(hit.face_id)
            if row is None:  # removed by another process since the search
                continue
            vector, _, person, collection_name = row
            similarity = float(vector @ probe) if approximate else hit.similarity
            matches.append(
                Match(
                    person=person,
                    similarity=max(-1.0, min(1.0, similarity)),
                    face_id=hit.face_id,
                    collection=collection_name,
                )
            )
        if rescore is not None and matches:
            vectors = np.stack([rows[m.face_id][0] for m in matches]).astype(np.float32)
            adjusted = np.asarray(rescore(probe, vectors), dtype=np.float64)
            matches = [
                replace(m, similarity=float(max(-1.0, min(1.0, a))))
                for m, a in zip(matches, adjusted, strict=True)
            ]
            approximate = True
        if approximate:  # re-scored: re-sort (ties: the face enrolled first)
            matches.sort(key=lambda m: (-m.similarity, m.face_id))
        return matches[:k]

    def _current_pin(self) -> Pin:
        """The model pin, re-read only after a write (call under the lock)."""
        version = self._store.version()
        if self._pin is None or self._pin[0] != version:
            self._pin = (version, self._store.pin())
        return self._pin[1]

    def identify(
        self,
        embedding: Embedding,
        *,
        threshold: Threshold,
        k: int = 5,
        collection: str | None = None,
        rescore: Rescore | None = None,
    ) -> Identification:
        """Open-set identification: the best candidate if it reaches ``threshold``.

        ``person`` is the best match's name when its similarity is ≥
        ``threshold.similarity``, else ``None`` (unknown). ``candidates`` are the
        :meth:`search` results either way.

        Raises:
            ConfigError, ModelMismatchError, NotFoundError: as :meth:`search`.
        """
        candidates = tuple(self.search(embedding, k=k, collection=collection, rescore=rescore))
        best = candidates[0] if candidates else None
        known = best is not None and best.similarity >= threshold.similarity
        return Identification(
            candidates=candidates,
            threshold=threshold,
            person=best.person if known and best is not None else None,
        )
