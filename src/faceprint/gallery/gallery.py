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
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ConfigError, ModelMismatchError
from faceprint.gallery.index import PersonIndex
from faceprint.gallery.records import CollectionInfo, FaceInfo, FaceRecord, PersonInfo
from faceprint.gallery.storage import GalleryStore, Pin
from faceprint.types import Embedding, Identification, Match, Threshold

log = logging.getLogger(__name__)

UNIT_NORM_TOLERANCE = 1e-3
"""Largest accepted ``|‖v‖ − 1|`` for an embedding vector."""


@dataclass(frozen=True, slots=True, eq=False)
class _Snapshot:
    """The searchable state of one collection filter at one database version."""

    version: tuple[int, int]
    pin: Pin
    index: PersonIndex
    face_ids: NDArray[np.int64]
    persons: dict[int, tuple[str, str]]


class Gallery:
    """Enrolled faces grouped into collections and persons, searchable by embedding.

    Create with :meth:`open`; use as a context manager or call :meth:`close`. Calls on
    one object are serialised with a lock, so it may be shared between threads. The
    embedding matrix is cached per collection filter and reloaded only after this or
    another connection (process) writes to the file.
    """

    def __init__(self, store: GalleryStore) -> None:
        """Wrap an open store; prefer :meth:`open`."""
        self._store = store
        self._lock = threading.RLock()
        self._snapshots: dict[str | None, _Snapshot] = {}

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        model_id: str | None = None,
        create: bool = True,
    ) -> Gallery:
        """Open (or create) a gallery file.

        Args:
            path: the SQLite file, or ``":memory:"`` for a throw-away gallery.
            model_id: the embedding model the caller will use. An unpinned gallery is
                pinned to it; a pinned one must match it.
            create: create the file (and parent folders) if it does not exist.

        Raises:
            NotFoundError: ``create`` is False and there is no file at ``path``.
            GalleryCorruptError: the file is not a faceprint gallery or is damaged.
            GalleryError: the gallery was written by a newer faceprint, or cannot be opened.
            ModelMismatchError: the gallery is pinned to another model than ``model_id``.
        """
        name = os.fspath(path)
        store = GalleryStore.open(name, create=create)
        try:
            if model_id is not None:
                store.pin_model(model_id)
        except BaseException:
            store.close()
            raise
        log.debug("opened gallery %s", name)
        return cls(store)

    # --- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Close the database connection; idempotent. Later calls raise GalleryError."""
        with self._lock:
            self._store.close()
            self._snapshots.clear()

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
        _check_name("person", person)
        _check_name("collection", collection)
        if not faces:
            return []
        checked = [_checked_record(face, f"face {i} of {person!r}") for i, face in enumerate(faces)]
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
        _check_name("collection", name)
        with self._lock:
            self._store.create_collection(name)

    def create_person(self, person: str, *, collection: str = "default") -> None:
        """Create a person without faces in an existing collection.

        Raises:
            ConfigError: empty name.
            NotFoundError: no such collection.
            AlreadyExistsError: the person exists in that collection.
        """
        _check_name("person", person)
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
        _check_name("person", new_name)
        with self._lock:
            self._store.rename_person(collection, person, new_name)

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

    def size(self, *, collection: str | None = None) -> int:
        """Number of face templates a search compares against (``N`` for FPIR thresholds).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._lock:
            return self._store.count_faces(collection)

    def count_persons(self, *, collection: str | None = None) -> int:
        """Number of persons in one collection (``None``: all).

        Raises:
            NotFoundError: ``collection`` is given and does not exist.
        """
        with self._lock:
            return self._store.count_persons(collection)

    # --- search ------------------------------------------------------------------------

    def _snapshot(self, collection: str | None) -> _Snapshot:
        """The cached searchable state for ``collection``, reloaded if the file changed."""
        version = self._store.version()
        cached = self._snapshots.get(collection)
        if cached is not None and cached.version == version:
            return cached
        if any(s.version != version for s in self._snapshots.values()):
            self._snapshots.clear()
        stored = self._store.load_embeddings(collection)
        snapshot = _Snapshot(
            version=stored.version,
            pin=stored.pin,
            index=PersonIndex(stored.matrix, stored.person_ids),
            face_ids=stored.face_ids,
            persons=stored.persons,
        )
        self._snapshots[collection] = snapshot
        log.debug(
            "loaded %d face(s) of gallery %s (collection %r)",
            len(stored.face_ids),
            self._store.path,
            collection,
        )
        return snapshot

    def search(
        self, embedding: Embedding, *, k: int = 5, collection: str | None = None
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

        Raises:
            ConfigError: ``k`` < 1, or the probe is not a finite unit-norm 1-D vector.
            ModelMismatchError: the probe's model or dimension differs from the pin.
            NotFoundError: ``collection`` is given and does not exist.
        """
        if k < 1:
            raise ConfigError(f"k must be at least 1, got {k}")
        probe = _checked_vector(embedding, "the probe embedding")
        with self._lock:
            snapshot = self._snapshot(collection)
        snapshot.pin.check(embedding.model_id, embedding.dimension, gallery=self.path)
        hits = snapshot.index.search(probe, k=k)
        matches = []
        for hit in hits:
            person, collection_name = snapshot.persons[hit.group]
            matches.append(
                Match(
                    person=person,
                    similarity=hit.similarity,
                    face_id=int(snapshot.face_ids[hit.row]),
                    collection=collection_name,
                )
            )
        return matches

    def identify(
        self,
        embedding: Embedding,
        *,
        threshold: Threshold,
        k: int = 5,
        collection: str | None = None,
    ) -> Identification:
        """Open-set identification: the best candidate if it reaches ``threshold``.

        ``person`` is the best match's name when its similarity is ≥
        ``threshold.similarity``, else ``None`` (unknown). ``candidates`` are the
        :meth:`search` results either way.

        Raises:
            ConfigError, ModelMismatchError, NotFoundError: as :meth:`search`.
        """
        candidates = tuple(self.search(embedding, k=k, collection=collection))
        best = candidates[0] if candidates else None
        known = best is not None and best.similarity >= threshold.similarity
        return Identification(
            candidates=candidates,
            threshold=threshold,
            person=best.person if known and best is not None else None,
        )


# --- validation ------------------------------------------------------------------------


def _check_name(kind: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{kind} name must be a non-empty string, got {value!r}")


def _checked_vector(embedding: Embedding, what: str) -> NDArray[np.float32]:
    """``embedding.vector`` as a contiguous float32 D-vector.

    Raises:
        ConfigError: not 1-D and non-empty, not finite, or not unit-norm.
    """
    try:
        vector = np.asarray(embedding.vector, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} is not a numeric vector: {exc}") from exc
    if vector.ndim != 1 or vector.shape[0] == 0:
        raise ConfigError(f"{what} must be a non-empty 1-D vector, got shape {vector.shape}")
    if not np.isfinite(vector).all():
        raise ConfigError(f"{what} contains NaN or infinity; check the embedder's input")
    norm = float(np.linalg.norm(vector))
    if abs(norm - 1.0) > UNIT_NORM_TOLERANCE:
        raise ConfigError(
            f"{what} has norm {norm:.6g}, not 1; embeddings must be unit-norm "
            "(normalise it, e.g. with faceprint.core.similarity.normalize_rows)"
        )
    return np.ascontiguousarray(embedding.vector, dtype=np.float32)


def _checked_record(face: FaceRecord, what: str) -> FaceRecord:
    """``face`` with its vector as float32 and box/score as floats.

    Raises:
        ConfigError: bad vector, box or score.
    """
    vector = _checked_vector(face.embedding, f"the embedding of {what}")
    box = face.bbox_xyxy
    if box is not None:
        try:
            values = tuple(float(v) for v in box)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bbox_xyxy of {what} is not numeric: {box!r}") from exc
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise ConfigError(f"bbox_xyxy of {what} must be 4 finite numbers, got {box!r}")
        box = (values[0], values[1], values[2], values[3])
    score = face.det_score
    if score is not None:
        try:
            score = float(score)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"det_score of {what} is not a number: {score!r}") from exc
        if not math.isfinite(score):
            raise ConfigError(f"det_score of {what} must be finite, got {score!r}")
    return FaceRecord(
        embedding=Embedding(vector=vector, model_id=face.embedding.model_id),
        source=str(face.source),
        source_sha256=str(face.source_sha256),
        bbox_xyxy=box,
        det_score=score,
    )
