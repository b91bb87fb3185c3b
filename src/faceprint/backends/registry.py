"""Build backends from model cards: card (catalog) + verified path (store) + session
(runtime) → backend object. A backend never finds its own files.

The builders of models that may run on OpenVINO take ``cache_dir``: where it may keep
compiled models for later processes (the store's ``session_cache_dir``); ``None``
compiles afresh every time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faceprint.backends.aligned_embedder import AlignedEmbedder
from faceprint.backends.fused_embedder import FusedEmbedder
from faceprint.backends.minifasnet import MiniFASNetLiveness
from faceprint.backends.omz_attributes import OMZAttributes
from faceprint.backends.omz_landmarks import OMZLandmarkRefiner
from faceprint.backends.protocols import Detector, Embedder, LandmarkRefiner
from faceprint.backends.yunet import TorchYuNetRunner, YuNetDetector
from faceprint.config import PipelineConfig
from faceprint.errors import ConfigError
from faceprint.models.card import Catalog, ModelCard
from faceprint.models.runtime import OpenCVFaceDetector, Session, open_session

PathFor = Callable[[ModelCard], Path]
"""Returns the verified local path of a card's entry file (usually ModelStore.ensure)."""


def _session(
    card: ModelCard,
    path_for: PathFor,
    config: PipelineConfig,
    cache_dir: Path | None,
    *,
    on_device: bool = True,
) -> Session:
    """A session for ``card``: on the pipeline's device with the card's precision, or
    (``on_device=False``, for the optional analyses) on the card's CPU runtime in f32."""
    return open_session(
        path_for(card),
        runtime=card.runtime,
        threads=config.threads,
        streams=config.streams,
        precision=card.precision if on_device else "f32",
        device=config.device if on_device else "cpu",
        half=config.half and on_device,
        cache_dir=cache_dir,
    )


def _require_task(card: ModelCard, task: str) -> None:
    if card.task != task:
        raise ConfigError(f"model {card.name} is a {card.task} model, not a {task} model")


def build_detector(card: ModelCard, path_for: PathFor, *, config: PipelineConfig) -> Detector:
    """A face detector for ``card``.

    Raises:
        ConfigError: the card is not a detector this build of faceprint can run.
    """
    _require_task(card, "detection")
    if card.backend == "yunet" and config.device in ("cuda", "torch-cpu"):
        session = open_session(
            path_for(card), runtime=card.runtime, device=config.device, half=config.half
        )
        torch_runner = TorchYuNetRunner(
            session,
            score_threshold=min(config.min_score, card.option("score_threshold", 0.5)),
            nms_threshold=card.option("nms_threshold", 0.3),
            top_k=int(card.option("top_k", 5000)),
        )
        return YuNetDetector(torch_runner, config=config, name=card.name)
    if card.backend == "yunet":
        runner = OpenCVFaceDetector(
            path_for(card),
            score_threshold=min(config.min_score, card.option("score_threshold", 0.5)),
            nms_threshold=card.option("nms_threshold", 0.3),
            top_k=int(card.option("top_k", 5000)),
            threads=config.threads,
            streams=config.streams,
        )
        return YuNetDetector(runner, config=config, name=card.name)
    raise ConfigError(f"detector backend {card.backend!r} ({card.name}) is not available yet")


def build_landmarks(
    card: ModelCard, path_for: PathFor, *, config: PipelineConfig, cache_dir: Path | None = None
) -> LandmarkRefiner:
    """A landmark refiner for ``card``.

    Raises:
        ConfigError: the card is not a landmark model this build can run.
    """
    _require_task(card, "landmarks")
    if card.backend == "omz_landmarks5":
        return OMZLandmarkRefiner(_session(card, path_for, config, cache_dir), card)
    raise ConfigError(f"landmark backend {card.backend!r} ({card.name}) is not available")


def build_embedder(
    card: ModelCard,
    path_for: PathFor,
    *,
    catalog: Catalog,
    config: PipelineConfig,
    cache_dir: Path | None = None,
) -> Embedder:
    """An embedder (single model or fused template) for ``card``.

    Raises:
        ConfigError: the card is not an embedding model this build can run.
    """
    _require_task(card, "embedding")
    if card.backend == "aligned_embedder":
        return AlignedEmbedder(_session(card, path_for, config, cache_dir), card)
    if card.backend == "fused_embedder":
        parts = [
            build_embedder(
                catalog[name], path_for, catalog=catalog, config=config, cache_dir=cache_dir
            )
            for name in card.components
        ]
        return FusedEmbedder(parts, card.weights, name=card.name)
    raise ConfigError(f"embedding backend {card.backend!r} ({card.name}) is not available")


def build_liveness(
    cards: list[ModelCard],
    path_for: PathFor,
    *,
    config: PipelineConfig,
    cache_dir: Path | None = None,
) -> MiniFASNetLiveness:
    """The liveness ensemble for ``cards`` (run by the cards' CPU runtimes).

    Raises:
        ConfigError: a card is not a liveness model this build can run.
    """
    models = []
    for card in cards:
        _require_task(card, "liveness")
        if card.backend != "minifasnet":
            raise ConfigError(f"liveness backend {card.backend!r} ({card.name}) is not available")
        models.append((_session(card, path_for, config, cache_dir, on_device=False), card))
    return MiniFASNetLiveness(models, threshold=config.liveness_threshold)


_ATTRIBUTE_KEYS = {
    "omz_age_gender": "age_gender",
    "omz_emotions": "emotions",
    "omz_head_pose": "head_pose",
}


def build_attributes(
    cards: list[ModelCard],
    path_for: PathFor,
    *,
    config: PipelineConfig,
    cache_dir: Path | None = None,
) -> OMZAttributes:
    """Age/gender, expression and head-pose estimation (run by the cards' CPU runtimes).

    Raises:
        ConfigError: a card is not one of the supported attribute models.
    """
    models: dict[str, tuple[object, ModelCard]] = {}
    for card in cards:
        key = _ATTRIBUTE_KEYS.get(card.backend)
        if key is None:
            raise ConfigError(f"attribute backend {card.backend!r} ({card.name}) is not available")
        models[key] = (_session(card, path_for, config, cache_dir, on_device=False), card)
    return OMZAttributes(models)
