"""Settings of the REST service: where its data lives and the limits it enforces."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from faceprint.config import PipelineConfig, StoreConfig
from faceprint.errors import ConfigError
from faceprint.models.store import ModelStore

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """Everything :func:`faceprint.service.create_app` needs, passed in (no globals).

    Attributes:
        gallery_path: the SQLite gallery the service serves (created if missing).
        keys_path: the SQLite file of API keys (``faceprint keys create``).
        pipeline: which models to run.
        store: where model files come from (mirror, cache, offline).
        accept_licence: opt in to non-commercial models named in ``pipeline``.
        max_request_bytes: largest request body; larger ones get 413 before being read.
        max_image_pixels: largest image (width × height, from its header); larger ones
            get 413 before decoding.
        max_images_per_request: most images in one enrollment request.
        score_decimals: round similarities in responses to this many decimals
            (``None``: full precision). Coarse scores blunt score-only model-inversion
            and hill-climbing attacks; decisions are always taken on the exact value.
        rate_limit: default per-key limit, in the ``limits`` notation
            (``"50/second"``, ``"1000/minute"``); a key may carry its own.
        inference_threads: threads that run models (``0``: one per core).
        enroll_quality: apply the default quality policy to enrollments unless the
            request says otherwise.
    """

    gallery_path: Path
    keys_path: Path
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    accept_licence: bool = False
    max_request_bytes: int = 20 * MIB
    max_image_pixels: int = 40_000_000
    max_images_per_request: int = 20
    score_decimals: int | None = 2
    rate_limit: str = "50/second"
    inference_threads: int = 0
    enroll_quality: bool = False

    def __post_init__(self) -> None:
        if self.max_request_bytes < 1024:
            raise ConfigError(f"max_request_bytes must be ≥ 1024, got {self.max_request_bytes}")
        if self.max_image_pixels < 256:
            raise ConfigError(f"max_image_pixels must be ≥ 256, got {self.max_image_pixels}")
        if self.max_images_per_request < 1:
            raise ConfigError("max_images_per_request must be ≥ 1")
        if self.score_decimals is not None and not 0 <= self.score_decimals <= 8:
            raise ConfigError(f"score_decimals must be 0–8 or None, got {self.score_decimals}")
        if self.inference_threads < 0:
            raise ConfigError("inference_threads must be ≥ 0")

    @property
    def threads(self) -> int:
        """Inference threads actually used (also the requests that run models at once)."""
        return self.inference_threads or os.cpu_count() or 1

    @property
    def workers(self) -> int:
        """Requests that may be inside model code at once: twice the model streams, so
        one request's Python work (decoding, alignment, encoding) overlaps another's
        inference and no core idles (measured: 27.9 → 33.6 verify/s on 2 cores)."""
        return 2 * self.threads

    def pipeline_config(self) -> PipelineConfig:
        """``pipeline`` laid out for serving: as many model streams as request workers,
        sharing :attr:`threads` (one thread each on a small machine), so concurrent
        requests run side by side instead of queueing on one model."""
        return replace(self.pipeline, threads=self.workers, streams=self.workers)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ServiceSettings:
        """Settings from the environment, then ``overrides`` (``None`` values ignored).

        Variables: ``FACEPRINT_HOME``/``FACEPRINT_MODEL_MIRROR``/``FACEPRINT_OFFLINE``
        (model store), ``FACEPRINT_GALLERY`` (default ``$FACEPRINT_HOME/gallery.db``),
        ``FACEPRINT_KEYS`` (default ``$FACEPRINT_HOME/keys.db``),
        ``FACEPRINT_SERVICE_MAX_REQUEST_MB``, ``FACEPRINT_SERVICE_MAX_MEGAPIXELS``,
        ``FACEPRINT_SERVICE_SCORE_DECIMALS`` (``none`` for full precision),
        ``FACEPRINT_SERVICE_RATE_LIMIT``.

        Raises:
            ConfigError: a variable has a malformed value.
        """
        env = os.environ if env is None else env
        store = StoreConfig.from_env(env)
        home = ModelStore(store).root
        values: dict[str, object] = {
            "store": store,
            "gallery_path": Path(env.get("FACEPRINT_GALLERY") or home / "gallery.db"),
            "keys_path": default_keys_path(env),
        }
        try:
            if env.get("FACEPRINT_SERVICE_MAX_REQUEST_MB"):
                values["max_request_bytes"] = int(
                    float(env["FACEPRINT_SERVICE_MAX_REQUEST_MB"]) * MIB
                )
            if env.get("FACEPRINT_SERVICE_MAX_MEGAPIXELS"):
                values["max_image_pixels"] = int(
                    float(env["FACEPRINT_SERVICE_MAX_MEGAPIXELS"]) * 1_000_000
                )
            decimals = env.get("FACEPRINT_SERVICE_SCORE_DECIMALS", "").strip().lower()
            if decimals:
                values["score_decimals"] = None if decimals == "none" else int(decimals)
        except ValueError as exc:
            raise ConfigError(f"malformed FACEPRINT_SERVICE_* variable: {exc}") from exc
        if env.get("FACEPRINT_SERVICE_RATE_LIMIT"):
            values["rate_limit"] = env["FACEPRINT_SERVICE_RATE_LIMIT"]
        settings = cls(**values)  # type: ignore[arg-type]
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings  # type: ignore[arg-type]


def default_keys_path(env: Mapping[str, str] | None = None) -> Path:
    """``$FACEPRINT_KEYS``, else ``$FACEPRINT_HOME/keys.db``."""
    env = os.environ if env is None else env
    if env.get("FACEPRINT_KEYS"):
        return Path(env["FACEPRINT_KEYS"])
    return ModelStore(StoreConfig.from_env(env)).root / "keys.db"
