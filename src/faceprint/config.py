"""Typed configuration. Values are passed in; only the adapters (CLI, service) read the
environment, through :class:`faceprint.environment.Environment`, at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from faceprint.errors import ConfigError


def default_home(home: Path | None = None) -> Path:
    """faceprint's cache root: ``home`` if given, else the user cache directory
    (``platformdirs.user_cache_dir("faceprint")``), expanded and absolute."""
    import platformdirs

    root = home if home is not None else Path(platformdirs.user_cache_dir("faceprint"))
    return Path(root).expanduser().resolve()


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where model files live and where they may come from.

    Attributes:
        home: faceprint's cache root; models go to ``home/models``. ``None`` means the
            user cache directory (resolved when the store is created, not at import).
        mirror: a local directory or an ``http(s)://`` base URL laid out like the catalog
            paths; tried before the official URL.
        offline: refuse every network access (a mirror *directory* is still used).
        accept_licences: names of non-commercial models the user opted into.
    """

    home: Path | None = None
    mirror: str | None = None
    offline: bool = False
    accept_licences: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """Which models the face pipeline uses and how it treats marginal faces.

    Attributes:
        detector: catalog name of the face detector.
        landmarks: catalog name of a landmark refiner, or ``None`` to keep the
            detector's landmarks.
        embedder: catalog name of the embedding model or fused template.
        min_face_size: faces whose shorter box side is below this many pixels are
            flagged ``too_small``.
        min_score: detections below this score are dropped by the detector.
        low_score: detections below this score (and at or above ``min_score``) are
            flagged ``low_score``.
        border_margin: a face whose box extends beyond the image by more than this
            fraction of its size is flagged ``near_border``.
        threads: inference threads per model (``0`` = the runtime's default).
        streams: calls each model may run at the same time (from different threads),
            sharing ``threads``. ``1`` suits one caller (lowest latency); a server
            with ``N`` request workers uses ``N`` (best throughput).
        device: ``"auto"`` (CUDA if PyTorch sees a GPU, else CPU), ``"cpu"``
            (OpenVINO/onnxruntime), ``"cuda"`` (PyTorch on the GPU) or ``"torch-cpu"``
            (the PyTorch path on the CPU, for testing it without a GPU).
        half: float16 inference on CUDA.
        liveness_models: presentation-attack models averaged when liveness is asked for.
        liveness_threshold: bona fide score at or above which a face counts as live.
        attribute_models: age/gender, expression and head-pose models for attributes.
        restore: measure each face's capture degradation and undo the ones that pay
            before embedding (motion-blur deconvolution; detection retried on dark or
            noisy images where no face was found). Clean faces are untouched.
        fairness: a score adjuster applied when matching (a catalog name, or the path
            of one's ``.json``; see :mod:`faceprint.models.adjusters`); ``None``: raw
            cosine similarity.
    """

    detector: str = "yunet"
    landmarks: str | None = "landmarks-0009"
    embedder: str = "sface"
    min_face_size: int = 32
    min_score: float = 0.5
    low_score: float = 0.7
    border_margin: float = 0.05
    threads: int = 0
    streams: int = 1
    device: str = "auto"
    half: bool = False
    liveness_models: tuple[str, ...] = ("minifasnet-v2", "minifasnet-v1se")
    liveness_threshold: float = 0.5
    attribute_models: tuple[str, ...] = ("age-gender-0013", "emotions-0003", "head-pose-0001")
    restore: bool = True
    fairness: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= self.low_score <= 1.0:
            raise ConfigError("need 0 <= min_score <= low_score <= 1")
        if self.min_face_size < 0 or self.threads < 0 or self.border_margin < 0:
            raise ConfigError("min_face_size, threads and border_margin must be >= 0")
        if self.streams < 1:
            raise ConfigError(f"streams must be >= 1, got {self.streams}")
