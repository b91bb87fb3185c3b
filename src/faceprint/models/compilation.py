"""How an OpenVINO model file becomes a compiled model, and what later processes reuse.

:class:`Compiler` works on the ``openvino.Core`` that :mod:`faceprint.models.runtime`
(the only module importing OpenVINO) hands it. A model with a static batch of 1 is also
compiled with a dynamic batch and the two are compared on a fixed random input: some IR
graphs hard-code the batch in a reshape and compute garbage when it changes (OMZ
landmarks-regression-retail-0009 does), so the dynamic variant is used only when it
agrees; otherwise batches run one item at a time.

:class:`faceprint.models.runtime.OpenVINOSession` compiles a model once per process; with
a cache directory (the store's :attr:`~faceprint.models.store.ModelStore.session_cache_dir`,
``$FACEPRINT_HOME/models/.ov-cache``) it keeps, per model file version::

    <cache>/<path hash>-<file hash>/
        *.blob       OpenVINO's compiled models (its ``CACHE_DIR``; it keys them by the
                     model and the compile options and checks its own version)
        batch.json   {"<openvino version> <precision>": "as_is" | "reshape", …}

``<file hash>`` is taken from the size, mtime, ctime and inode of the model file (and of
an IR model's ``.bin``), so a replaced or rewritten file gets a fresh directory and the
old one is deleted; nothing stale is ever read. ``batch.json`` remembers whether a
static-batch model may be reshaped to a dynamic batch (see ``OpenVINOSession``), so later
processes skip the probe and the second compile.

Everything here is best effort: a directory that cannot be created, read or written, or
a ``batch.json`` that is missing or malformed, means no cache (logged at DEBUG), never an
error (records: :mod:`faceprint.models.records`).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import Any, Literal

import numpy as np

from faceprint.errors import ModelRuntimeError
from faceprint.models.records import read_record, write_record

log = logging.getLogger(__name__)

BatchMode = Literal["as_is", "reshape"]
"""``as_is``: compile the file as it is; ``reshape``: make its batch of 1 dynamic."""

_BATCH_FILE = "batch.json"
_MODES: frozenset[str] = frozenset({"as_is", "reshape"})


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _file_identity(model: Path) -> str:
    """Size, mtime, ctime and inode of the model file and of an IR model's weights."""
    parts = []
    files = [model, model.with_suffix(".bin")] if model.suffix == ".xml" else [model]
    for f in files:
        st = f.stat()
        parts.append(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}")
    return "|".join(parts)


class ModelCacheEntry:
    """The cache directory of one version of one model file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._batch_file = directory / _BATCH_FILE

    def batch_mode(self, key: str) -> BatchMode | None:
        """The remembered verdict for ``key`` (runtime version and precision), if any."""
        record = self._read()
        mode = record.get(key)
        if mode == "as_is":
            return "as_is"
        if mode == "reshape":
            return "reshape"
        return None

    def remember_batch_mode(self, key: str, mode: BatchMode) -> None:
        """Record a verdict; never raises."""
        write_record(self._batch_file, {**self._read(), key: mode})

    def _read(self) -> dict[str, str]:
        record = read_record(self._batch_file)
        if not isinstance(record, dict):
            return {}
        return {str(k): v for k, v in record.items() if isinstance(v, str) and v in _MODES}


def cache_entry(cache_dir: Path | None, model: Path) -> ModelCacheEntry | None:
    """The cache directory for ``model`` under ``cache_dir``, created if needed.

    ``None`` when there is no cache directory or it cannot be used (logged at DEBUG).
    Older directories of the same model path are deleted when a new one is created.
    """
    if cache_dir is None:
        return None
    try:
        path_hash = _short_hash(str(model.resolve()))
        directory = cache_dir / f"{path_hash}-{_short_hash(_file_identity(model))}"
        if not directory.is_dir():
            directory.mkdir(parents=True, exist_ok=True)
            for old in cache_dir.glob(f"{path_hash}-*"):
                if old != directory:
                    log.debug("deleting the outdated compiled-model cache %s", old)
                    shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        log.debug("no compiled-model cache for %s in %s: %s", model.name, cache_dir, exc)
        return None
    return ModelCacheEntry(directory)


class Compiler:
    """Compiles one model file with an OpenVINO ``Core``, through its cache entry.

    Args:
        core: the ``openvino.Core`` (from :mod:`faceprint.models.runtime`).
        config: the compile options.
        entry: the file's cache entry (:func:`cache_entry`), ``None`` for no cache.
    """

    def __init__(self, core: Any, config: dict[str, Any], entry: ModelCacheEntry | None) -> None:
        self._core = core
        self._config = config
        self._entry = entry

    def compile(self, model: Any) -> Any:
        """``compile_model`` with the cache; without it once the cache has failed."""
        if self._entry is not None:
            cached = {**self._config, "CACHE_DIR": str(self._entry.directory)}
            try:
                return self._core.compile_model(model, "CPU", cached)
            except Exception as exc:  # an unusable cache must not fail the load
                log.debug("compiling without the cache %s: %s", self._entry.directory, exc)
                self._entry = None
        return self._core.compile_model(model, "CPU", self._config)

    def load(self, path: Path, *, key: str) -> tuple[Any, bool]:
        """The compiled model to run and whether it takes any batch size.

        A file is compiled by path when the cache is used: OpenVINO then imports the
        compiled blob without reading the model. ``key`` names the runtime version and
        precision the remembered batch verdict holds for.
        """
        entry = self._entry
        mode = entry.batch_mode(key) if entry is not None else None
        if mode == "as_is":
            compiled = self.compile(str(path))
            _check_one_input(path, len(compiled.inputs))
            return compiled, not compiled.inputs[0].get_partial_shape()[0].is_static
        model = self._core.read_model(str(path))
        _check_one_input(path, len(model.inputs))
        shape = model.inputs[0].get_partial_shape()
        by_path = str(path) if entry is not None else model
        if not (shape.rank.get_length() == 4 and shape[0].is_static and shape[0].get_length() == 1):
            if entry is not None:
                entry.remember_batch_mode(key, "as_is")
            return self.compile(by_path), not shape[0].is_static
        dims = [int(shape[i].get_length()) for i in range(1, 4)]
        if mode == "reshape":
            model.reshape({model.inputs[0]: [-1, *dims]})
            return self.compile(model), True
        compiled = self.compile(by_path)
        dynamic = self._core.read_model(str(path))
        dynamic.reshape({dynamic.inputs[0]: [-1, *dims]})
        candidate = self.compile(dynamic)
        probe = np.random.default_rng(0).uniform(0, 255, (1, *dims)).astype(np.float32)
        want = [np.asarray(v) for v in compiled(probe).values()]
        got = [np.asarray(v) for v in candidate(np.repeat(probe, 2, axis=0)).values()]
        agrees = all(
            g.shape[0] == 2 and np.allclose(g[:1], w, rtol=1e-3, atol=1e-4)
            for g, w in zip(got, want, strict=True)
        )
        if entry is not None:
            entry.remember_batch_mode(key, "reshape" if agrees else "as_is")
        if agrees:
            return candidate, True
        log.info("%s: dynamic batch changes its outputs; running one item at a time", path.name)
        return compiled, False


def _check_one_input(path: Path, count: int) -> None:
    if count != 1:
        raise ModelRuntimeError(f"{path.name}: expected one input, got {count}")
