"""Settings of the REST service: where its data lives and the limits it enforces."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from faceprint.config import PipelineConfig, StoreConfig
from faceprint.core.cancelable import TemplateKey
from faceprint.core.thresholds import preset_fmr
from faceprint.environment import Environment
from faceprint.errors import ConfigError
from faceprint.keysource import SecretKey

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
        gallery_key: the key of a gallery encrypted at rest (``FACEPRINT_GALLERY_KEY``;
            :mod:`faceprint.gallery.sealing`); with it a new gallery is created encrypted.
        templates: serve cancelable templates under this key (``FACEPRINT_TEMPLATE_KEY``
            and ``FACEPRINT_TEMPLATE_TENANT``; :mod:`faceprint.core.cancelable`).
        responses: what a key without its own setting gets back: ``scores``
            (similarities, rounded to ``score_decimals``, and decisions) or ``decision``
            (decisions only).
        daily_budget: matching requests (verify, search, private search) a key may make
            per day (``None``: unlimited); a key may carry its own.
        target_budget: failed 1:1 claims a key may make against one enrolled person per
            day (``None``: unlimited).
        hill_climb: watch each key's probes for hill-climbing (near-duplicate probes
            whose scores keep rising against one person) and throttle a key caught at it
            to ``throttle_rate`` for ``throttle_seconds``.
        audit_log: where security events are appended as JSON lines (``None``: beside
            the keys file).
        verify_preset: the 1:1 threshold when a request names none
            (:data:`faceprint.core.thresholds.VERIFY_PRESETS`).
        people: the clustering folder (``faceprint cluster … --out DIR``,
            :mod:`faceprint.people`) the ``/v1/people`` routes and the web page's People
            tab review and enroll from (``FACEPRINT_PEOPLE``; ``None``: those routes
            answer 404 until the service is started with one).
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
    templates: TemplateKey | None = field(default=None, repr=False)
    gallery_key: SecretKey | None = field(default=None, repr=False)
    responses: str = "scores"
    daily_budget: int | None = 10_000
    target_budget: int | None = 20
    hill_climb: bool = True
    throttle_rate: str = "10/hour"
    throttle_seconds: float = 86_400.0
    audit_log: Path | None = None
    verify_preset: str = "default"
    people: Path | None = None

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
        if self.responses not in ("scores", "decision"):
            raise ConfigError(f"responses must be 'scores' or 'decision', got {self.responses!r}")
        for name in ("daily_budget", "target_budget"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be ≥ 1 or None, got {value}")
        if self.throttle_seconds <= 0:
            raise ConfigError("throttle_seconds must be > 0")
        try:
            preset_fmr(self.verify_preset)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def audit_log_path(self) -> Path:
        """Where security events go: ``audit_log``, else ``audit.jsonl`` beside the keys."""
        return self.audit_log or self.keys_path.with_name("audit.jsonl")

    @property
    def verify_fmr(self) -> float:
        """The FMR of :attr:`verify_preset`."""
        return preset_fmr(self.verify_preset)

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
    def from_env(cls, env: Environment | None = None, **overrides: object) -> ServiceSettings:
        """Settings from the environment (:class:`~faceprint.environment.Environment`,
        read from ``os.environ`` when not given), then ``overrides`` (``None`` values
        ignored).

        Raises:
            ConfigError: a variable has a malformed value.
            KeyUnavailableError: ``FACEPRINT_TEMPLATE_KEY`` or ``FACEPRINT_GALLERY_KEY``
                names a source with no key.
        """
        env = Environment.read() if env is None else env
        values: dict[str, object] = {
            "store": env.store_config(),
            "gallery_path": env.gallery_path(),
            "keys_path": env.keys_path(),
        }
        if env.service_max_request_mb is not None:
            values["max_request_bytes"] = int(env.service_max_request_mb * MIB)
        if env.service_max_megapixels is not None:
            values["max_image_pixels"] = int(env.service_max_megapixels * 1_000_000)
        if env.service_score_decimals is not None:
            decimals = env.service_score_decimals
            values["score_decimals"] = None if decimals == "none" else decimals
        if env.service_rate_limit:
            values["rate_limit"] = env.service_rate_limit
        if env.service_responses:
            values["responses"] = env.service_responses
        for name in ("daily_budget", "target_budget"):
            budget = getattr(env, f"service_{name}")
            if budget is not None:
                values[name] = None if budget == "none" else budget
        if env.service_hill_climb is not None:
            values["hill_climb"] = env.service_hill_climb
        if env.service_audit_log is not None:
            values["audit_log"] = env.service_audit_log
        if env.service_verify_preset:
            values["verify_preset"] = env.service_verify_preset
        if env.people is not None:
            values["people"] = env.people
        if env.fairness:
            values["pipeline"] = PipelineConfig(fairness=env.fairness)
        if env.template_tenant and not env.template_key:
            raise ConfigError("FACEPRINT_TEMPLATE_TENANT is set without FACEPRINT_TEMPLATE_KEY")
        if env.template_key:
            from faceprint.keysource import KeySource

            master = KeySource.parse(env.template_key).read(env.variables)
            values["templates"] = TemplateKey.derive(master, env.template_tenant or "default")
        if env.gallery_key and overrides.get("gallery_key") is None:
            from faceprint.keysource import KeySource as GalleryKeySource

            values["gallery_key"] = GalleryKeySource.parse(env.gallery_key).read(env.variables)
        settings = cls(**values)  # type: ignore[arg-type]
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings  # type: ignore[arg-type]
