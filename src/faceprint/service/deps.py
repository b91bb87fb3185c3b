"""What a request depends on: the shared :class:`ServiceState` and the caller's API key.

:func:`state_of` finds the state the lifespan built; :data:`Key` is the FastAPI
dependency that authenticates the request's key and counts it against its rate limit
(:class:`RateLimits`, moving windows of the ``limits`` library, in memory).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from faceprint.batch import ImageResult, analyze_images
from faceprint.errors import ConfigError
from faceprint.gallery import Gallery
from faceprint.pipeline import FacePipeline
from faceprint.service.defences import Defences
from faceprint.service.keys import ApiKey, KeyStore
from faceprint.service.problems import ServiceError
from faceprint.service.settings import ServiceSettings
from faceprint.service.uploads import Upload

T = TypeVar("T")


class RateLimits:
    """Per-key moving-window limits (the ``limits`` library, in memory)."""

    def __init__(self, default: str) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._default = _parse_rate(default)
        self._items: dict[str, RateLimitItem] = {}

    def hit(self, key: ApiKey) -> float | None:
        """Count one request; ``None`` if allowed, else seconds until it would be."""
        item = self._items.get(key.key_id)
        if item is None:
            item = _parse_rate(key.rate_limit) if key.rate_limit else self._default
            self._items[key.key_id] = item
        if self._limiter.hit(item, key.key_id):
            return None
        reset, _ = self._limiter.get_window_stats(item, key.key_id)
        return max(0.0, reset - time.time())


def _parse_rate(text: str) -> RateLimitItem:
    try:
        return parse(text)
    except ValueError as exc:
        raise ConfigError(f"rate limit {text!r} is not like '50/second': {exc}") from exc


@dataclass(slots=True)
class ServiceState:
    """What the routes share: built once by the lifespan."""

    settings: ServiceSettings
    pipeline: FacePipeline
    gallery: Gallery
    keys: KeyStore
    rates: RateLimits
    limiter: anyio.CapacityLimiter
    licences: dict[str, str]
    defences: Defences
    private: Any = None
    """The encrypted-search server (:class:`faceprint.privacy.server.PrivateSearch`),
    made by the first ``/privacy`` request; closed with the service."""

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run model work in the inference pool (as many at once as model streams)."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self.limiter)

    async def io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run gallery-only work (SQLite, no models) off the event loop, without
        queueing it behind model work."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    def analyze(self, uploads: Sequence[Upload], **options: Any) -> list[ImageResult]:
        """Uploads through the shared batched path (:func:`faceprint.batch.analyze_images`,
        decoded in the calling worker thread), one result per upload.

        Raises:
            faceprint.errors.ImageError: an upload is not a usable image (the first
                such upload, named by its file name).
        """
        sources = [u.source(self.settings) for u in uploads]
        results = list(analyze_images(self.pipeline, sources, workers=0, **options))
        for result in results:
            if result.error is not None:
                raise result.error
        return results


def state_of(request: Request) -> ServiceState:
    """The state the app's lifespan stored on ``request.app``."""
    state = getattr(request.app.state, "faceprint", None)
    if state is None:  # pragma: no cover - only if the lifespan did not run
        raise ServiceError("internal_error", "the service is not started")
    assert isinstance(state, ServiceState)
    return state


_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer fp_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: fp_…`")


async def current_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> ApiKey:
    """The request's API key, authenticated and rate-limited."""
    state = state_of(request)
    token = bearer.credentials if bearer is not None else header
    challenge = {"WWW-Authenticate": 'Bearer realm="faceprint"'}
    if bearer is not None and header is not None and header != bearer.credentials:
        raise ServiceError(
            "unauthorized",
            "two different keys were sent (Authorization and X-API-Key); send one",
            headers=challenge,
        )
    if not token:
        raise ServiceError(
            "unauthorized",
            "this endpoint needs an API key: send `Authorization: Bearer <key>` or "
            "`X-API-Key: <key>` (create one with `faceprint keys create`)",
            headers=challenge,
        )
    key = await anyio.to_thread.run_sync(state.keys.authenticate, token)
    if key is None:
        raise ServiceError("unauthorized", "unknown or revoked API key", headers=challenge)
    wait = state.rates.hit(key)
    if wait is not None:
        raise ServiceError(
            "rate_limited",
            f"key {key.key_id} is over its rate limit; retry in {wait:.1f} s",
            headers={"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return key


Key = Annotated[ApiKey, Depends(current_key)]
