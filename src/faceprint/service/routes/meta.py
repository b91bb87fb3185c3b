"""``/v1/health`` and ``/v1/models``: the service itself."""

from __future__ import annotations

from fastapi import APIRouter, Request

from faceprint import __version__
from faceprint.service import schemas as s
from faceprint.service.deps import Key, state_of

router = APIRouter(tags=["service"])


@router.get("/health")
async def health() -> s.Health:
    """Liveness probe (no key needed)."""
    return s.Health(status="ok", version=__version__)


@router.get("/models")
async def models(request: Request, key: Key) -> s.Models:
    """The models this service runs, their licences and the default 1:1 threshold."""
    state = state_of(request)
    config = state.settings.pipeline
    threshold = state.pipeline.verification_threshold(fmr=state.settings.verify_fmr)
    return s.Models(
        detector=config.detector,
        landmarks=config.landmarks,
        embedder=config.embedder,
        model_id=state.pipeline.model_id,
        embedding_dim=getattr(state.pipeline.embedder, "dimension", None),
        licences=state.licences,
        verification_threshold=s.ThresholdInfo(similarity=threshold.similarity, fmr=threshold.fmr),
        score_decimals=state.settings.score_decimals,
        responses=key.responses or state.settings.responses,
        verify_preset=state.settings.verify_preset,
    )
