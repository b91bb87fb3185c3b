"""Enrollment with the models in Ray actors: the same job, spread over a cluster.

:func:`enroll_stream_ray` is :func:`~faceprint.recognition.enroll.enroll_stream` with
one step swapped: :class:`RayAnalyzer` runs "images → candidates" as a Ray Data
pipeline, and everything else — planning, claims, verdicts, commits, reports — is the
shared :func:`~faceprint.recognition.enroll.run_enrollment`, on the driver:

1. the driver reads and hashes each image (sha256 of its bytes) and asks the claims,
   a batch at a time, whether it is enrolled already; only the new images go on;
2. a dataset of ``(index, path)`` rows, one block per batch of ``batch_size`` inputs
   (the batches the single-process path would run, less what was screened out), goes
   through a pool of actors (``ActorPoolStrategy``): each builds one
   :class:`~faceprint.pipeline.FacePipeline` from the configuration it was given (its
   models come from its node's model store or the shared mirror, never over the
   wire), decodes its block and runs :func:`faceprint.batch.analyze_images` on it —
   the very code the single-process path runs — and returns plain columns (the
   primary face's box, score, landmarks, issues, a float32 embedding row; liveness and
   quality reasons when asked for);
3. the driver puts the rows back in input order and commits them in batches.

Actors reserve a fraction of a CPU each (``RayOptions.cpus_per_actor``, 0.5 by
default): with whole-CPU actors on a small machine, Ray Data has no CPU left for its
own tasks and waits for ever. Each actor's inference threads are set explicitly
(the pipeline's ``threads``, else the CPUs it reserves, at least one), so actors on
one node do not each take every core.

Ray is optional (``pip install 'faceprint[ray]'``) and imported only here, inside the
functions that use it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint import errors
from faceprint.batch import BATCH_SIZE, analyze_images
from faceprint.config import PipelineConfig, StoreConfig
from faceprint.core.quality import QualityPolicy
from faceprint.errors import ConfigError
from faceprint.gallery import Gallery
from faceprint.media.sources import DecodeLimits, Source, source_name
from faceprint.recognition.enroll import (
    Candidate,
    ClaimScreen,
    Outcome,
    run_enrollment,
)
from faceprint.recognition.ray_columns import (
    _candidates,
    _columns,
    _failure_columns,
    _pipeline_config,
    _plain,
    _quality_policy,
    _store_config,
)
from faceprint.recognition.ray_session import check_room, import_ray, ray_data_console, ray_session

__all__ = ["RayAnalyzer", "RayOptions", "enroll_stream_ray"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RayOptions:
    """Where and how wide the Ray side of an enrollment runs.

    Attributes:
        address: ``None`` starts a local Ray cluster, or joins the one ``ray start``
            started on this machine (or ``$RAY_ADDRESS``); ``"auto"`` joins a running
            cluster this machine is part of; ``"HOST:PORT"`` (the head's GCS port,
            6379 by default) or ``"ray://HOST:10001"`` (Ray Client) connects there;
            ``"local"`` always starts a new local cluster. Ignored when Ray is
            initialised already (the caller's session is used as it is).
        actors: actors in the pool, each with its own pipeline (models loaded once).
        cpus_per_actor: Ray CPUs each actor reserves; a fraction leaves Ray Data a CPU
            for its own tasks.
        decode_workers: decoding threads in each actor.
        verbose: let Ray Data log its progress lines to the console and forward the
            actors' stdout/stderr here (when this call starts or joins the cluster);
            otherwise only Ray's warnings show.
    """

    address: str | None = None
    actors: int = 2
    cpus_per_actor: float = 0.5
    decode_workers: int = 1
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.actors < 1:
            raise ConfigError(f"need at least one Ray actor, got {self.actors}")
        if not 0 < self.cpus_per_actor <= 1024:
            raise ConfigError(f"cpus_per_actor must be > 0, got {self.cpus_per_actor}")
        if self.decode_workers < 0:
            raise ConfigError(f"decode_workers must be >= 0, got {self.decode_workers}")

    @property
    def threads(self) -> int:
        """Inference threads of an actor when the pipeline does not set them: the CPUs
        it reserves, at least one."""
        return max(1, math.floor(self.cpus_per_actor))


def enroll_stream_ray(
    gallery: Gallery,
    items: Iterable[tuple[str, str | os.PathLike[str]]],
    *,
    config: PipelineConfig,
    store: StoreConfig,
    options: RayOptions | None = None,
    accept_licence: bool = False,
    collection: str = "default",
    quality: QualityPolicy | None = None,
    allow_shared_images: bool = False,
    batch_size: int = BATCH_SIZE,
    limits: DecodeLimits | None = None,
) -> Generator[Outcome, None, None]:
    """Enroll the primary face of each ``(person, path)`` with the models in Ray actors;
    yield each input's outcome (in input order) once it is committed — the same
    outcomes, faces and embeddings as :func:`~faceprint.recognition.enroll.enroll_stream`
    with a pipeline built from ``config``.

    Args:
        gallery: where faces are written (on this process, the driver).
        items: ``(person, image path)``; every path must be readable by the actors
            too (a shared file system on a multi-node cluster).
        config: the pipeline each actor builds; ``threads=0`` means
            :attr:`RayOptions.threads`.
        store: where each actor finds the model files (its ``home`` and ``mirror``
            must exist on every node, or be left to each node's defaults).
        options: the cluster address and the actor pool.
        accept_licence, collection, quality, allow_shared_images, batch_size, limits:
            as for :func:`~faceprint.recognition.enroll.enroll_stream`.

    Raises:
        faceprint.errors.MissingDependencyError: Ray is not installed.
        faceprint.errors.ClusterUnavailableError: the address cannot be reached.
        faceprint.errors.ModelError: an actor could not load or run a model.
        faceprint.errors.ModelMismatchError: the gallery is pinned to another model.
        faceprint.errors.GalleryError: the gallery refused a write (that batch was not
            committed; the ones before it were).
    """
    analyzer = RayAnalyzer(
        config,
        store,
        options=options or RayOptions(),
        accept_licence=accept_licence,
        batch_size=batch_size,
        limits=limits,
    )
    return run_enrollment(
        analyzer,
        gallery,
        items,
        collection=collection,
        quality=quality,
        allow_shared_images=allow_shared_images,
        batch_size=batch_size,
    )


class RayAnalyzer:
    """Images → :class:`~faceprint.recognition.enroll.Candidate` s in a pool of Ray
    actors (an :class:`~faceprint.recognition.enroll.Analyzer`); see the module
    docstring for the steps.

    Raises:
        faceprint.errors.MissingDependencyError: Ray is not installed (on creation).

    Raises, when called (as its candidates are consumed):
        faceprint.errors.ClusterUnavailableError: the address cannot be reached.
        faceprint.errors.UnknownModelError: ``config.embedder`` is not in the catalog.
        faceprint.errors.ModelError: an actor could not load or run a model.
        faceprint.errors.UsageError: a source is not a file path.
    """

    def __init__(
        self,
        config: PipelineConfig,
        store: StoreConfig,
        *,
        options: RayOptions | None = None,
        accept_licence: bool = False,
        batch_size: int = BATCH_SIZE,
        limits: DecodeLimits | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._ray = import_ray()
        self.options = options or RayOptions()
        self.config = replace(config, threads=config.threads or self.options.threads, streams=1)
        self.store = store
        self.accept_licence = accept_licence
        self.batch_size = batch_size
        self.limits = limits or DecodeLimits()

    def __call__(
        self,
        sources: Iterable[Source],
        screen: ClaimScreen,
        *,
        liveness: bool,
        quality: QualityPolicy | None,
    ) -> Generator[Candidate, None, None]:
        from faceprint.models.card import load_catalog

        model_id = load_catalog()[self.config.embedder].name  # an unknown model fails here
        ray = self._ray
        paths = [_path(source) for source in sources]
        names = [source_name(p) for p in paths]
        screened, chunks = _screen(paths, names, screen, self.batch_size, self.limits)
        pending: dict[int, Candidate] = {i: Candidate(i, names[i], sha) for i, sha in screened}
        ready = 0
        while ready in pending:  # what was screened out before the first image to run
            yield pending.pop(ready)
            ready += 1
        if not chunks:  # nothing left to analyze (a finished job run again): no cluster
            return
        with (
            ray_session(ray, self.options.address, self.options.verbose),
            ray_data_console(self.options.verbose),
        ):
            blocks = self._run(ray, chunks, liveness=liveness, quality=quality)
            try:
                for block in blocks:  # in the order actors finish them
                    for candidate in _candidates(block, names, model_id):
                        pending[candidate.index] = candidate
                    while ready in pending:
                        yield pending.pop(ready)
                        ready += 1
            finally:
                close = getattr(blocks, "close", None)
                if close is not None:
                    close()
        if ready != len(paths):
            raise RuntimeError(
                f"the Ray pipeline returned {ready} of {len(paths)} images in order; "
                f"image {ready} is missing"
            )

    def _run(
        self,
        ray: Any,
        chunks: Sequence[Sequence[tuple[int, str]]],
        *,
        liveness: bool,
        quality: QualityPolicy | None,
    ) -> Iterator[dict[str, NDArray[Any]]]:
        """The Ray Data pipeline over ``chunks`` (one block each); yields output blocks
        as actors finish them, in any order."""
        import pyarrow as pa

        tables = [
            pa.table(
                {
                    "index": pa.array([i for i, _ in chunk], type=pa.int64()),
                    "path": pa.array([p for _, p in chunk], type=pa.string()),
                }
            )
            for chunk in chunks
        ]
        actors = min(self.options.actors, len(chunks))  # more would idle (and Ray warns)
        check_room(ray, actors, self.options.cpus_per_actor)
        dataset = ray.data.from_arrow(tables).map_batches(
            _EnrollActor,
            batch_size=None,  # one call per block: the batches chosen above
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=self.options.cpus_per_actor,
            fn_constructor_kwargs={
                "pipeline": _plain(self.config),
                "store": _plain(self.store),
                "accept_licence": self.accept_licence,
                "liveness": liveness,
                "quality": None if quality is None else _plain(quality),
                "limits": _plain(self.limits),
                "decode_workers": self.options.decode_workers,
            },
        )
        context = getattr(dataset, "context", None) or ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the caller reports progress
        blocks: Iterator[dict[str, NDArray[Any]]] = dataset.iter_batches(
            batch_size=None, batch_format="numpy"
        )
        return blocks


class _EnrollActor:
    """One Ray actor: a pipeline built once from plain settings, run on each block."""

    def __init__(
        self,
        *,
        pipeline: dict[str, Any],
        store: dict[str, Any],
        accept_licence: bool,
        liveness: bool,
        quality: dict[str, Any] | None,
        limits: dict[str, Any],
        decode_workers: int,
    ) -> None:
        from faceprint.models.store import ModelStore
        from faceprint.pipeline import FacePipeline

        self._liveness = liveness
        self._quality = None if quality is None else _quality_policy(quality)
        self._limits = DecodeLimits(**limits)
        self._workers = decode_workers
        self._failure: tuple[str, str] | None = None
        try:
            self._pipeline: Any = FacePipeline.from_config(
                _pipeline_config(pipeline),
                store=ModelStore(_store_config(store)),
                accept_licence=accept_licence,
            )
        except errors.FaceprintError as exc:  # reported with the first block, by code
            self._pipeline = None
            self._failure = (exc.code, f"on a Ray actor ({socket.gethostname()}): {exc}")

    def __call__(self, block: dict[str, NDArray[Any]]) -> dict[str, NDArray[Any]]:
        indices = np.asarray(block["index"], dtype=np.int64)
        if self._failure is not None:
            return _failure_columns(indices, *self._failure)
        try:
            results = list(
                analyze_images(
                    self._pipeline,
                    [str(p) for p in block["path"]],
                    embed="primary",
                    liveness=self._liveness,
                    quality=self._quality or False,
                    batch_size=max(1, len(indices)),
                    workers=self._workers,
                    limits=self._limits,
                )
            )
        except errors.FaceprintError as exc:
            return _failure_columns(
                indices, exc.code, f"on a Ray actor ({socket.gethostname()}): {exc}"
            )
        dimension = self._pipeline.embedder.dimension
        candidates = [replace(Candidate.of(r), index=int(indices[r.index])) for r in results]
        return _columns(candidates, dimension)


# --- plain data across the wire -------------------------------------------------------


def _path(source: Source) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    raise errors.UsageError(
        f"distributed enrollment reads image files; got {type(source).__name__} "
        f"({source_name(source)}): enroll in-memory images with enroll_stream"
    )


def _digest(path: str, max_bytes: int) -> str | None:
    """sha256 of a file's bytes, as the decoder computes it; ``None`` for a file the
    decoder will refuse anyway (missing, empty, over ``max_bytes``): the actor that
    decodes it reports why."""
    try:
        size = os.stat(path).st_size
        if size == 0 or size > max_bytes:
            return None
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return None


def _screen(
    paths: Sequence[str],
    names: Sequence[str],
    screen: ClaimScreen,
    batch_size: int,
    limits: DecodeLimits,
) -> tuple[list[tuple[int, str]], list[list[tuple[int, str]]]]:
    """Hash every image (a batch at a time, in a few threads) and screen it before any
    model runs. Returns the screened-out ``(index, sha256)`` and the chunks of
    ``(index, path)`` still to run, one per batch of ``batch_size`` inputs."""
    screened: list[tuple[int, str]] = []
    chunks: list[list[tuple[int, str]]] = []
    max_bytes = limits.max_bytes
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceprint-hash") as pool:
        for start in range(0, len(paths), batch_size):
            indices = range(start, min(start + batch_size, len(paths)))
            digests = list(pool.map(lambda i: _digest(paths[i], max_bytes), indices))
            readable = [(i, names[i], d) for i, d in zip(indices, digests, strict=True) if d]
            reasons = dict(zip((i for i, _, _ in readable), screen(readable), strict=True))
            chunk = []
            for i, digest in zip(indices, digests, strict=True):
                if reasons.get(i) is not None and digest is not None:
                    screened.append((i, digest))
                else:
                    chunk.append((i, paths[i]))
            if chunk:
                chunks.append(chunk)
    log.info(
        "ray: %d of %d images to analyze (%d already claimed)",
        len(paths) - len(screened),
        len(paths),
        len(screened),
    )
    return screened, chunks
