"""The FastAPI app: :func:`create_app` builds it (error handlers, the request-edge
middleware, problem JSON in the OpenAPI description, the ``/v1`` routers, the web page);
its lifespan loads the pipeline and opens the gallery and the keys file once.

Models run off the event loop in a thread pool sized to the cores (an
``anyio.CapacityLimiter``); the gallery is one shared :class:`~faceprint.gallery.Gallery`
(serialised calls, SQLite WAL, one transaction per write), so concurrent writers lose
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from faceprint import __version__
from faceprint.gallery import Gallery
from faceprint.models.card import load_catalog
from faceprint.models.runtime import resolve_device
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.service.defences import Defences
from faceprint.service.deps import RateLimits, ServiceState
from faceprint.service.keys import KeyStore
from faceprint.service.problems import EdgeMiddleware, install_handlers
from faceprint.service.routes import router
from faceprint.service.schemas import Problem
from faceprint.service.settings import ServiceSettings

log = logging.getLogger(__name__)

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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def start() -> ServiceState:
            built = pipeline or FacePipeline.from_config(
                settings.pipeline_config(),
                store=ModelStore(settings.store),
                accept_licence=settings.accept_licence,
                templates=settings.templates,
            )
            settings.gallery_path.parent.mkdir(parents=True, exist_ok=True)
            device = settings.pipeline_config().device
            gallery = Gallery.open(
                settings.gallery_path,
                model_id=built.model_id,
                device="cuda" if resolve_device(device) == "cuda" else None,
                key=settings.gallery_key,
            )
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
                defences=Defences(settings),
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
            if state.private is not None:
                state.private.close()
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
    app.include_router(router, prefix="/v1")

    static = resources.files("faceprint.service") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        return FileResponse(str(static / "index.html"), media_type="text/html")

    return app
