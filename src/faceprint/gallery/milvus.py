"""Vector indexes in Milvus: a Milvus server, or milvus-lite's local file.

Chosen by a gallery's ``index`` setting (:mod:`faceprint.gallery.engines`); needs the
``[milvus]`` extra (``pip install 'faceprint[milvus]'``: pymilvus and milvus-lite).
pymilvus is imported only through :mod:`faceprint.gallery.milvus_client`, and this module only
when a Milvus spec is used.

Specs
-----

``milvus://[USER:PASSWORD@]HOST[:PORT][/DB][?OPTIONS]``
    A Milvus server (port 19530 by default, database ``default`` unless ``/DB``).
    ``?token=…`` passes an API key or ``user:password`` instead of the ``USER:PASSWORD@``
    part. The spec is stored in the gallery file as written, credentials included:
    protect the file, or give the server a token with no more rights than the
    gallery's collections need.
``milvus-lite:PATH.db[?OPTIONS]``
    milvus-lite's local data folder (pymilvus runs it in this process). A relative
    ``PATH`` is taken from the gallery file's folder (the current folder for an
    in-memory gallery); missing parent folders are created. milvus-lite holds a lock
    on its folder while a gallery uses it: one process at a time may search (adding
    faces never touches it, see below). Each search costs Python time per stored row
    whatever the index type (milvus-lite 3.2, 128-d, two cores, FLAT: p50 0.17 s at
    100k faces, 1.2 s at 1M; ``benchmarks/milvus_lite_scale.py``): it is for
    development, tests and small galleries; use a server, or the in-process ``auto``
    index, for large ones.

Options (``&``-separated):

* ``index=FLAT|HNSW|IVF_FLAT|IVF_SQ8|DISKANN|GPU_CAGRA|AUTOINDEX`` — the Milvus index
  type; ``FLAT`` (exact) by default on milvus-lite, ``HNSW`` on a server. milvus-lite
  accepts ``FLAT``, ``HNSW``, ``IVF_FLAT``, ``IVF_SQ8`` and ``AUTOINDEX``.
* that type's parameters, as integers (defaults in :data:`INDEX_TYPES`): ``M``,
  ``efConstruction`` and ``ef`` for HNSW (a search uses ``max(ef, k)``), ``nlist`` and
  ``nprobe`` for the IVF types, ``search_list`` for DISKANN, ``graph_degree``,
  ``intermediate_graph_degree`` and ``itopk_size`` for GPU_CAGRA;
* ``prefix=NAME`` — the Milvus collection-name prefix (default derived, see below);
* ``secure=true`` — TLS to the server (``https``); ``timeout=SECONDS`` (default 10).

Layout
------

One Milvus collection per faceprint collection, ``<prefix>_c<collection id>``: fields
``face_id`` (INT64 primary key, no auto id), ``person_id`` (INT64) and ``vector``
(FLOAT_VECTOR of the gallery's dimension), metric IP (the cosine of unit vectors),
consistency level Strong, so a search sees every write acknowledged before it. Beside
them ``<prefix>_state`` holds one row: the change number the collections reflect
(the *watermark*), the dimension and a signature (gallery identity, index type and
build parameters); a signature or dimension that differs means a rebuild.

The prefix is ``fp_`` and 8 hex digits of the SHA-256 of the gallery identity (its
creation time and model) and the gallery file's resolved path, so galleries sharing a
Milvus database never share collections — not even a copy of a gallery file, which
has the same identity but its own changes. Reopening the same file finds its
collections again; moving it costs one rebuild (``?prefix=`` pins the name instead).
An in-memory gallery gets a random prefix, and its collections are dropped on close.

Consistency and crashes
-----------------------

The SQLite file is the record, and it commits first: adding or removing faces only
writes SQLite (its triggers append to the change log). Milvus is written when a
search brings the index up to date (:class:`~faceprint.gallery.live.LiveIndex` replays
the log entries after the number it last applied). An add is an upsert and a removal
a delete by primary key, both idempotent, so applying an entry twice is harmless.
The watermark is written by :meth:`MilvusEngine.persist` (on close and every 20,000
changes) *after* the collections are flushed, so it never claims a change Milvus may
not hold. A process killed anywhere — between a commit and the Milvus write, in the
middle of an upsert, or before the watermark is written — leaves Milvus behind the
watermark's successors or ahead of the watermark, never missing a change at or below
it: the next search replays from the watermark and catches up. A watermark newer
than the file (a backup of the file restored under a live Milvus) makes LiveIndex
rebuild.

Writers of one prefix race only in one way: a replay reads SQLite, another gallery
object removes a face and applies that removal, then the first writes its (now stale)
upsert of that face. The first object applies the removal on its next search; until
then, and forever if it closes first under a newer watermark, Milvus holds a face
SQLite does not. Gallery searches drop hits whose person is gone; only a removed face
of a person still enrolled could surface, and only after two gallery objects of one
file wrote concurrently.

Limits
------

A Milvus search returns at most :data:`MAX_TOPK` (16,384) faces: a collection where
the ``k`` best persons need more faces than that to find returns the persons among the
best 16,384 faces. Filling milvus-lite (the first search of a gallery, or after a
change of index setting) takes about 30 s per 100k faces, its flush (run by
:meth:`MilvusEngine.persist`) included.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from faceprint.errors import GalleryError
from faceprint.gallery.milvus_client import (
    INSTALL_HINT,
    LITE,
    error_reason,
    milvus_errors,
    pymilvus_module,
)
from faceprint.gallery.milvus_index import (
    MilvusIndex,
)
from faceprint.gallery.milvus_spec import (
    parse_spec,
    redact,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

LONG_TIMEOUT_S = 1800.0
"""Seconds a flush or a load may take: milvus-lite indexes what it flushes (~20 s per
100k faces), a server loads a large collection from object storage."""

STATE_KEY = 0
STATE_FORMAT = 1


class MilvusEngine:
    """A gallery's indexes in Milvus (an :class:`~faceprint.gallery.engines.IndexEngine`).

    Args:
        spec: ``milvus://…`` or ``milvus-lite:…`` (see the module docstring).
        identity: the gallery's identity (creation time and model).
        gallery_path: the gallery file, for the collection prefix and relative
            milvus-lite paths; ``":memory:"`` or ``None``: a random prefix, and the
            collections are dropped on close.

    Raises:
        ConfigError: a malformed spec.
        GalleryError: pymilvus or milvus-lite is not installed; the server cannot be
            reached or the milvus-lite file cannot be opened.
    """

    def __init__(self, spec: str, *, identity: str, gallery_path: str | None = None) -> None:
        file_backed = gallery_path not in (None, "", ":memory:")
        base_dir = (
            Path(os.path.abspath(gallery_path)).parent if file_backed and gallery_path else None
        )
        self.spec = parse_spec(spec, base_dir=base_dir)
        self.name = redact(spec)
        self._identity = identity
        self._ephemeral = not file_backed
        if self.spec.prefix is not None:
            self.prefix = self.spec.prefix
        elif file_backed and gallery_path:
            where = os.path.realpath(gallery_path)
            digest = hashlib.sha256(f"{identity}\n{where}".encode()).hexdigest()
            self.prefix = f"fp_{digest[:8]}"
        else:
            self.prefix = f"fp_m{secrets.token_hex(4)}"
        self._indexes: dict[int, MilvusIndex] = {}
        self._dirty = False
        self._watermark: int | None = None
        self._errors: tuple[type[BaseException], ...] = ()
        self._client: Any = None
        self._lite_path: str | None = None
        self._connect()

    # --- connection --------------------------------------------------------------------

    def _connect(self) -> None:
        pymilvus = pymilvus_module()
        self._errors = milvus_errors()
        spec = self.spec
        if spec.lite:
            try:
                import milvus_lite  # noqa: F401
            except ImportError as exc:
                raise GalleryError(
                    f"a milvus-lite index needs milvus-lite: {INSTALL_HINT}"
                ) from exc
            try:
                Path(spec.uri).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise GalleryError(f"cannot create the folder of {spec.display}: {exc}") from exc
            self._lite_path = spec.uri
            LITE.acquire(spec.uri)
        try:
            self._client = pymilvus.MilvusClient(
                uri=spec.uri,
                token=spec.token,
                db_name=spec.db_name,
                timeout=spec.timeout,
                dedicated=True,
            )
        except self._errors as exc:
            self._release_lite()
            if spec.lite:
                reason = error_reason(exc)
                if "Open local milvus failed" in reason:  # milvus-lite only logs why
                    reason = (
                        "milvus-lite lets one process at a time use a file: is another "
                        "process searching this gallery?"
                    )
                raise GalleryError(f"cannot open {spec.display}: {reason}") from None
            raise GalleryError(
                f"cannot reach Milvus at {spec.display}: {error_reason(exc)}"
            ) from None
        log.debug("connected to %s (collections %s_*)", spec.display, self.prefix)

    def _release_lite(self) -> None:
        if self._lite_path is not None:
            LITE.release(self._lite_path)
            self._lite_path = None

    @property
    def write_timeout(self) -> float:
        """milvus-lite flushes inside a write once its memory table fills (128 MiB:
        ~250k faces of 128-d), which takes as long as :meth:`persist`'s flush."""
        return LONG_TIMEOUT_S if self.spec.lite else self.spec.timeout

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``client.method(*args, **kwargs)`` (with the spec's timeout), through :meth:`run`."""
        kwargs.setdefault("timeout", self.spec.timeout)
        return self.run(what, lambda client: getattr(client, method)(*args, **kwargs))

    def run(self, what: str, action: Callable[[Any], T]) -> T:
        """``action(client)``, its Milvus errors raised as GalleryError naming ``what``."""
        if self._client is None:
            raise GalleryError(f"the Milvus index at {self.spec.display} is closed")
        try:
            return action(self._client)
        except self._errors as exc:
            raise GalleryError(
                f"Milvus at {self.spec.display}: {what} failed: {error_reason(exc)}"
            ) from None

    # --- collections -------------------------------------------------------------------

    def _collection_name(self, collection_id: int) -> str:
        return f"{self.prefix}_c{collection_id}"

    @property
    def _state_name(self) -> str:
        return f"{self.prefix}_state"

    def _signature(self, dim: int) -> str:
        return json.dumps(
            {
                "format": STATE_FORMAT,
                "identity": self._identity,
                "dim": dim,
                "index": self.spec.index_type,
                "build": self.spec.build_params,
            },
            sort_keys=True,
        )

    def _ours(self) -> dict[int, str]:
        """``{collection id: Milvus name}`` of this prefix's collections in Milvus."""
        names = self.call("listing collections", "list_collections")
        head = f"{self.prefix}_c"
        found: dict[int, str] = {}
        for name in names:
            tail = str(name)[len(head) :]
            if str(name).startswith(head) and tail.isdigit():
                found[int(tail)] = str(name)
        return found

    def _vector_dim(self, name: str) -> int | None:
        info = self.call(f"describing {name}", "describe_collection", name)
        for f in info.get("fields", []):
            if f.get("name") == "vector":
                return int(f.get("params", {}).get("dim", 0))
        return None

    def _create_face_collection(self, name: str, dim: int) -> None:
        pymilvus = pymilvus_module()
        data_type = pymilvus.DataType
        spec = self.spec

        def create(client: Any) -> None:
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("face_id", data_type.INT64, is_primary=True)
            schema.add_field("person_id", data_type.INT64)
            schema.add_field("vector", data_type.FLOAT_VECTOR, dim=dim)
            client.create_collection(
                name, schema=schema, consistency_level="Strong", timeout=spec.timeout
            )
            index = client.prepare_index_params()
            index.add_index(
                field_name="vector",
                index_type=spec.index_type,
                metric_type="IP",
                params=dict(spec.build_params),
            )
            # sync=False: pymilvus would poll every 0.5 s; an empty collection's index
            # is ready at once, and later rows are indexed as they arrive.
            client.create_index(name, index, sync=False, timeout=spec.timeout)
            client.load_collection(name, timeout=spec.timeout)

        self.run(f"creating {name}", create)

    def index(self, collection_id: int) -> MilvusIndex | None:
        return self._indexes.get(collection_id)

    def create(self, collection_id: int, dim: int, size_hint: int) -> MilvusIndex:
        """The collection's Milvus collection, created unless another gallery object of
        the same file created it already."""
        name = self._collection_name(collection_id)
        exists = self.call(f"looking up {name}", "has_collection", name)
        if exists:
            held = self._vector_dim(name)
            if held != dim:
                raise GalleryError(
                    f"Milvus collection {name} at {self.spec.display} holds {held}-d vectors, "
                    f"not {dim}-d: drop it or change the index setting"
                )
            self.call(f"loading {name}", "load_collection", name, timeout=LONG_TIMEOUT_S)
        else:
            self._create_face_collection(name, dim)
        index = MilvusIndex(self, name, dim)
        self._indexes[collection_id] = index
        self._dirty = True
        return index

    def collection_ids(self) -> list[int]:
        return sorted(self._indexes)

    def maintain(self, collection_id: int, dim: int) -> None:
        """Nothing to do: Milvus compacts and re-indexes segments itself."""

    def mark_dirty(self) -> None:
        self._dirty = True

    # --- persistence -------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any] | None:
        name = self._state_name
        if not self.call(f"looking up {name}", "has_collection", name):
            return None
        self.call(f"loading {name}", "load_collection", name, timeout=LONG_TIMEOUT_S)
        rows = self.call(
            f"reading {name}",
            "get",
            name,
            ids=[STATE_KEY],
            output_fields=["seq", "dim", "signature"],
        )
        return dict(rows[0]) if len(rows) else None

    def restore(self, dim: int) -> int | None:
        """The watermark, if the state row matches this gallery, dimension and index
        setting (and every collection of the prefix holds ``dim``-d vectors); else None."""
        if self._ephemeral:
            return None
        state = self._read_state()
        if state is None:
            log.info("no saved state for %s_* at %s", self.prefix, self.spec.display)
            return None
        if int(state.get("dim", -1)) != dim or state.get("signature") != self._signature(dim):
            log.info(
                "the Milvus collections %s_* at %s are for another setting; rebuilding",
                self.prefix,
                self.spec.display,
            )
            return None
        found: dict[int, MilvusIndex] = {}
        for cid, name in self._ours().items():
            if self._vector_dim(name) != dim:
                log.info("Milvus collection %s holds another dimension; rebuilding", name)
                return None
            self.call(f"loading {name}", "load_collection", name, timeout=LONG_TIMEOUT_S)
            found[cid] = MilvusIndex(self, name, dim)
        self._indexes = found
        self._dirty = False
        self._watermark = int(state["seq"])
        log.debug(
            "restored %d Milvus collection(s) at change %d from %s",
            len(found),
            self._watermark,
            self.spec.display,
        )
        return self._watermark

    def persist(self, seq: int) -> None:
        """Flush (milvus-lite) the collections, then write the watermark ``seq``.

        A server acknowledges a write once its log holds it, so only milvus-lite (whose
        log is a file per collection) is flushed first; servers limit flush rates.
        """
        if self._ephemeral or not self._indexes:
            return
        if not self._dirty and self._watermark == seq:
            return
        dim = next(iter(self._indexes.values())).dim
        if self.spec.lite:
            for index in self._indexes.values():
                self.call(f"flushing {index.name}", "flush", index.name, timeout=LONG_TIMEOUT_S)
        self._write_state(seq, dim)
        self._dirty = False
        self._watermark = seq
        log.debug("Milvus collections %s_* reflect change %d", self.prefix, seq)

    def _write_state(self, seq: int, dim: int) -> None:
        name = self._state_name
        spec = self.spec
        data_type = pymilvus_module().DataType
        signature = self._signature(dim)

        def write(client: Any) -> None:
            if not client.has_collection(name):
                schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
                schema.add_field("key", data_type.INT64, is_primary=True)
                schema.add_field("seq", data_type.INT64)
                schema.add_field("dim", data_type.INT64)
                schema.add_field("signature", data_type.VARCHAR, max_length=4096)
                schema.add_field("pad", data_type.FLOAT_VECTOR, dim=2)  # Milvus needs one
                client.create_collection(
                    name, schema=schema, consistency_level="Strong", timeout=spec.timeout
                )
                index = client.prepare_index_params()
                index.add_index(field_name="pad", index_type="FLAT", metric_type="L2")
                client.create_index(name, index, sync=False, timeout=spec.timeout)
                client.load_collection(name, timeout=spec.timeout)
            row = {"key": STATE_KEY, "seq": seq, "dim": dim, "signature": signature}
            client.upsert(name, [{**row, "pad": [0.0, 0.0]}], timeout=spec.timeout)
            if spec.lite:
                client.flush(name, timeout=LONG_TIMEOUT_S)

        self.run(f"writing the watermark to {name}", write)

    def reset(self) -> None:
        """Drop this gallery's Milvus collections (its prefix only) and its state row."""
        names = [*self._ours().values(), self._state_name]
        for name in names:
            if self.call(f"looking up {name}", "has_collection", name):
                self.call(f"dropping {name}", "drop_collection", name)
        self._indexes.clear()
        self._watermark = None
        self._dirty = True

    def describe(self) -> dict[int, dict[str, Any]]:
        return {
            cid: {"kind": index.kind, "faces": index.count(), "collection": index.name}
            for cid, index in sorted(self._indexes.items())
        }

    def close(self) -> None:
        """Close the client (an in-memory gallery's collections are dropped first)."""
        if self._client is None:
            return
        try:
            if self._ephemeral:
                with contextlib.suppress(GalleryError):
                    self.reset()
        finally:
            with contextlib.suppress(*self._errors):
                self._client.close()
            self._client = None
            self._indexes.clear()
            self._release_lite()
