"""Where a gallery's vector indexes live, chosen by the gallery's ``index`` setting.

* ``auto`` (default) — in this process: a collection below :data:`AUTO_PQ_FROM` faces
  is scanned exactly; a larger one is scanned as PQ codes and re-ranked
  (:mod:`faceprint.gallery.pq`);
* ``exact`` / ``pq`` — in this process, always that kind;
* ``milvus://host:19530/db`` or ``milvus-lite:/path/file.db`` — a Milvus server (or
  milvus-lite's local file), one Milvus collection per faceprint collection
  (:mod:`faceprint.gallery.milvus`, the ``[milvus]`` extra).

The SQLite file stays the record: metadata and the float32 templates. An engine holds
copies of the vectors, kept in step by :class:`~faceprint.gallery.live.LiveIndex`.

Local PQ indexes are persisted beside the gallery, in ``<gallery>.index/``: one file
pair per PQ collection (:meth:`PqIndex.save`) and ``state.json`` naming them and the
change number they reflect. ``state.json`` is replaced atomically after the files of a
new generation are written, so a crash mid-save leaves the previous state readable.
Exact collections are not saved: reading them from SQLite is as fast as loading.

An encrypted gallery's indexes are never saved (the int16 rows would be templates in
clear on disk): they are built in memory from the decrypted rows when the gallery is
first searched, and a Milvus index (vectors in clear on a server) is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from filelock import FileLock
from numpy.typing import NDArray

from faceprint.errors import ConfigError
from faceprint.gallery.pq import PqIndex, PqParams
from faceprint.gallery.vectors import ExactIndex, FaceHits, VectorIndex

log = logging.getLogger(__name__)

AUTO_PQ_FROM = 50_000
"""``auto``: a collection with this many faces or more is searched through PQ codes.

Below it an exact scan answers in about 2 ms on one core (128-d) and needs no codes."""

LOCAL_KINDS = ("auto", "exact", "pq")
STATE_FORMAT = "faceprint.index"
STATE_VERSION = 1


def check_index_spec(spec: str, *, encrypted: bool = False) -> str:
    """``spec`` if it names an index engine, else a :class:`ConfigError` saying what does
    (Milvus, which would hold the templates in clear, is refused for an encrypted gallery)."""
    if spec in LOCAL_KINDS:
        return spec
    if spec.startswith(("milvus://", "milvus-lite:")):
        if encrypted:
            raise ConfigError(
                "a Milvus index would store this encrypted gallery's templates in clear; "
                "use the local index (auto, exact or pq) or decrypt the gallery first"
            )
        return spec
    raise ConfigError(
        f"unknown index {spec!r}: use auto, exact, pq, milvus://HOST:PORT/DB or milvus-lite:PATH"
    )


class IndexEngine(Protocol):
    """The vector indexes of one gallery, one per faceprint collection id."""

    name: str

    def index(self, collection_id: int) -> VectorIndex | None:
        """The index of a collection, or ``None`` if it has none yet."""
        ...

    def create(self, collection_id: int, dim: int, size_hint: int) -> VectorIndex:
        """A new, empty index for a collection expected to hold ``size_hint`` faces."""
        ...

    def collection_ids(self) -> list[int]:
        """Collections that have an index."""
        ...

    def maintain(self, collection_id: int, dim: int) -> None:
        """Re-shape an index that outgrew its kind or holds many removed faces."""
        ...

    def restore(self, dim: int) -> int | None:
        """Load persisted indexes; the change number they reflect, or ``None`` (none)."""
        ...

    def persist(self, seq: int) -> None:
        """Make the indexes durable as reflecting change number ``seq``."""
        ...

    def reset(self) -> None:
        """Forget every index (before a rebuild)."""
        ...

    def mark_dirty(self) -> None:
        """Note that an index changed (so :meth:`persist` has something to save)."""
        ...

    def describe(self) -> dict[int, dict[str, Any]]:
        """Per collection id: ``kind``, ``faces`` and, where known, ``memory_bytes``."""
        ...

    def close(self) -> None: ...


class DeviceIndex:
    """:class:`~faceprint.models.gpu_search.TorchIndex` as a :class:`VectorIndex`."""

    kind = "torch"

    def __init__(self, dim: int, device: str) -> None:
        from faceprint.models.gpu_search import TorchIndex

        self._inner = TorchIndex(dim, device)
        self.exact = self._inner.exact
        self.dim = dim

    def __len__(self) -> int:
        return len(self._inner)

    @property
    def memory_bytes(self) -> int:
        return self._inner.memory_bytes

    def add(
        self,
        face_ids: NDArray[np.int64],
        person_ids: NDArray[np.int64],
        vectors: NDArray[np.float32],
    ) -> None:
        self._inner.add(face_ids, person_ids, vectors)

    def remove(self, face_ids: NDArray[np.int64]) -> None:
        self._inner.remove(face_ids)

    def search(self, probe: NDArray[np.float32], k: int) -> FaceHits:
        return FaceHits(*self._inner.top(probe, k))


class LocalEngine:
    """Exact and PQ indexes in this process, persisted beside the gallery file.

    With a torch ``device`` (``cuda``, or ``cpu`` for PyTorch on the CPU) collections
    are scanned exactly there whatever their size (``auto``/``exact``); ``pq`` stays
    on the CPU.

    Args:
        gallery_path: the gallery file (``":memory:"``: nothing is persisted).
        mode: ``auto``, ``exact`` or ``pq``.
        identity: what ties saved indexes to this gallery file and model (a saved state
            for another identity is ignored and rebuilt).
        params: PQ parameters.
        device: a torch device for exact scans (``None``: numpy on the CPU).
        persist: save PQ indexes in ``<gallery>.index/`` (``False`` for an encrypted
            gallery: nothing is written).
    """

    def __init__(
        self,
        gallery_path: str,
        *,
        mode: str = "auto",
        identity: str = "",
        params: PqParams | None = None,
        device: str | None = None,
        persist: bool = True,
    ) -> None:
        if mode not in LOCAL_KINDS:
            raise ConfigError(f"unknown local index {mode!r}: use one of {LOCAL_KINDS}")
        self.name = mode
        self._mode = mode
        self._identity = identity
        self._params = params or PqParams()
        self._device = device
        self._indexes: dict[int, ExactIndex | PqIndex | DeviceIndex] = {}
        saved = persist and gallery_path != ":memory:"
        self._folder = Path(f"{gallery_path}.index") if saved else None
        self._dirty = False

    def index(self, collection_id: int) -> VectorIndex | None:
        return self._indexes.get(collection_id)

    def _kind_for(self, size: int) -> str:
        if self._mode == "auto" and self._device is not None:
            return "exact"  # a device scan beats codes at every size that fits
        if self._mode == "auto":
            return "pq" if size >= AUTO_PQ_FROM else "exact"
        return self._mode

    def create(self, collection_id: int, dim: int, size_hint: int) -> VectorIndex:
        kind = self._kind_for(size_hint)
        index: ExactIndex | PqIndex | DeviceIndex
        if kind == "pq":
            index = PqIndex(dim, self._params)
        elif self._device is not None:
            index = DeviceIndex(dim, self._device)
        else:
            index = ExactIndex(dim)
        self._indexes[collection_id] = index
        self._dirty = True
        return index

    def collection_ids(self) -> list[int]:
        return sorted(self._indexes)

    def maintain(self, collection_id: int, dim: int) -> None:
        index = self._indexes.get(collection_id)
        if isinstance(index, ExactIndex) and self._kind_for(len(index)) == "pq":
            log.info(
                "collection %d reached %d faces: encoding it as PQ codes", collection_id, len(index)
            )
            codes = PqIndex(dim, self._params)
            codes.add(*index.vectors())
            self._indexes[collection_id] = codes
            self._dirty = True

    def mark_dirty(self) -> None:
        self._dirty = True

    # --- persistence -------------------------------------------------------------------

    def _lock(self) -> FileLock:
        assert self._folder is not None
        self._folder.mkdir(parents=True, exist_ok=True)
        return FileLock(os.fspath(self._folder / "lock"))

    def restore(self, dim: int) -> int | None:
        state_file = None if self._folder is None else self._folder / "state.json"
        if state_file is None or not state_file.is_file():
            return None
        with self._lock():
            try:
                state = json.loads(state_file.read_text(encoding="utf-8"))
                if (
                    state.get("format") != STATE_FORMAT
                    or state.get("version") != STATE_VERSION
                    or state.get("identity") != self._identity
                    or state.get("mode") != self._mode
                    or state.get("dim") != dim
                    or state.get("params") != _params_dict(self._params)
                ):
                    log.info("index state in %s is for another gallery or setting", self._folder)
                    return None
                loaded: dict[int, ExactIndex | PqIndex | DeviceIndex] = {}
                for cid, stem in state["indexes"].items():
                    assert self._folder is not None
                    loaded[int(cid)] = PqIndex.load(self._folder / stem, dim, self._params)
            except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
                log.warning("ignoring the saved index in %s (%s); rebuilding", self._folder, exc)
                return None
        self._indexes = dict(loaded)
        self._dirty = False
        return int(state["seq"])

    def persist(self, seq: int) -> None:
        if self._folder is None or not self._dirty:
            return
        saved = {cid: i for cid, i in self._indexes.items() if isinstance(i, PqIndex)}
        with self._lock():
            state_file = self._folder / "state.json"
            generation = _next_generation(state_file)
            written: dict[str, str] = {}
            for cid, index in saved.items():
                stem = f"c{cid}-g{generation}"
                index.save(self._folder / stem)
                written[str(cid)] = stem
            state = {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "identity": self._identity,
                "mode": self._mode,
                "dim": next(iter(saved.values())).dim if saved else None,
                "params": _params_dict(self._params),
                "seq": seq,
                "generation": generation,
                "indexes": written,
            }
            temporary = self._folder / f"state.json.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(state, indent=1), encoding="utf-8")
            os.replace(temporary, state_file)
            keep = {f"{stem}{ext}" for stem in written.values() for ext in (".npz", ".codes")}
            for file in self._folder.iterdir():
                if file.name.startswith("c") and file.name not in keep:
                    with contextlib.suppress(OSError):
                        file.unlink()
        self._dirty = False
        log.debug("saved %d PQ index(es) at change %d in %s", len(saved), seq, self._folder)

    def reset(self) -> None:
        self._indexes.clear()
        self._dirty = True

    def describe(self) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        for cid, index in sorted(self._indexes.items()):
            info: dict[str, Any] = {
                "kind": index.kind,
                "faces": len(index),
                "memory_bytes": index.memory_bytes,
            }
            if isinstance(index, PqIndex):
                info["removed"] = index.removed
                info["trained"] = index.trained
            out[cid] = info
        return out

    def close(self) -> None:
        self._indexes.clear()


def _params_dict(params: PqParams) -> dict[str, Any]:
    return {"subquantizers": params.subquantizers, "candidates": params.candidates}


def _next_generation(state_file: Path) -> int:
    try:
        return int(json.loads(state_file.read_text(encoding="utf-8"))["generation"]) + 1
    except (OSError, ValueError, KeyError, TypeError):
        return 1


def open_engine(
    spec: str,
    *,
    gallery_path: str,
    identity: str,
    device: str | None = None,
    encrypted: bool = False,
) -> IndexEngine:
    """The engine a gallery's ``index`` setting names (see the module docstring).

    Raises:
        ConfigError: an unknown spec, or Milvus for an ``encrypted`` gallery.
        GalleryError: the engine cannot be reached or its extra is not installed.
    """
    check_index_spec(spec, encrypted=encrypted)
    if spec in LOCAL_KINDS:
        return LocalEngine(
            gallery_path, mode=spec, identity=identity, device=device, persist=not encrypted
        )
    from faceprint.gallery.milvus import MilvusEngine

    return MilvusEngine(spec, identity=identity, gallery_path=gallery_path)
