"""The FastAPI app: :func:`create_app` builds it; its lifespan loads the pipeline and
opens the gallery and the keys file once.

Models run off the event loop in a thread pool sized to the cores (an
``anyio.CapacityLimiter``); the gallery is one shared :class:`~faceprint.gallery.Gallery`
(serialised calls, SQLite WAL, one transaction per write), so concurrent writers lose
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from importlib import resources
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from faceprint import __version__
from faceprint.errors import ConfigError
from faceprint.gallery import Gallery
from faceprint.models.card import load_catalog
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.service.keys import ApiKey, KeyStore
from faceprint.service.problems import EdgeMiddleware, ServiceError, install_handlers
from faceprint.service.schemas import Problem
from faceprint.service.settings import ServiceSettings

log = logging.getLogger(__name__)

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

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run model work in the inference pool (as many at once as model streams)."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=self.limiter)

    async def io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run gallery-only work (SQLite, no models) off the event loop, without
        queueing it behind model work."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))


def state_of(request: Request) -> ServiceState:
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

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text}
    for status, text in {
        400: "Bad parameter",
        401: "Missing or invalid API key",
        403: "The key lacks the role",
        404: "Not found (or not visible to this key)",
        409: "Conflict",
        413: "Body or image over the limits",
        415: "Unsupported media type or image format",
        422: "Invalid request or image",
        429: "Rate limited",
    }.items()
}


def _problem_json_in_openapi(app: FastAPI) -> None:
    """Document every error response as ``application/problem+json`` with the
    :class:`Problem` schema (FastAPI would say ``application/json`` and, for 422, its
    own validation-error shape, which this service never sends)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        problem_ref = {"$ref": "#/components/schemas/Problem"}
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    if status.isdigit() and int(status) >= 400:
                        response["content"] = {"application/problem+json": {"schema": problem_ref}}
        schemas = spec.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: ServiceSettings, *, pipeline: FacePipeline | None = None) -> FastAPI:
    """Build the service app.

    Args:
        settings: paths, limits and models.
        pipeline: an already-built pipeline to serve (tests share one); by default the
            lifespan builds it from ``settings.pipeline`` and ``settings.store``.
    """
    from faceprint.service import routes

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def start() -> ServiceState:
            built = pipeline or FacePipeline.from_config(
                settings.pipeline_config(),
                store=ModelStore(settings.store),
                accept_licence=settings.accept_licence,
            )
            settings.gallery_path.parent.mkdir(parents=True, exist_ok=True)
            gallery = Gallery.open(settings.gallery_path, model_id=built.model_id)
            keys = KeyStore.open(settings.keys_path, create=True)
            if not keys.list():
                log.warning(
                    "no API keys in %s: every request will get 401; create one with "
                    "`faceprint keys create NAME --scope 'COLLECTION:write'`",
                    settings.keys_path,
                )
            config = settings.pipeline
            catalog = load_catalog()
            names = [config.detector, config.landmarks, config.embedder]
            return ServiceState(
                settings=settings,
                pipeline=built,
                gallery=gallery,
                keys=keys,
                rates=RateLimits(settings.rate_limit),
                limiter=anyio.CapacityLimiter(settings.workers),
                licences={n: catalog[n].licence for n in names if n and n in catalog},
            )

        state = await anyio.to_thread.run_sync(start)
        app.state.faceprint = state
        app.state.private_paths = sorted(
            {str(settings.gallery_path), str(settings.gallery_path.resolve()), state.gallery.path},
            key=len,
            reverse=True,
        )
        log.info(
            "serving gallery %s (model %s) with %d inference thread(s)",
            settings.gallery_path,
            state.pipeline.model_id,
            settings.threads,
        )
        try:
            yield
        finally:
            state.gallery.close()
            state.keys.close()

    app = FastAPI(
        title="faceprint",
        version=__version__,
        summary="Face detection, verification and identification over a gallery.",
        lifespan=lifespan,
        responses=ERRORS,
    )
    install_handlers(app)
    _problem_json_in_openapi(app)
    app.add_middleware(EdgeMiddleware, max_body=settings.max_request_bytes)
    app.include_router(routes.router, prefix="/v1")

    static = resources.files("faceprint.service") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    return app
