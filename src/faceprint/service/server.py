"""Run the service with uvicorn (what ``faceprint serve`` calls)."""

from __future__ import annotations

import logging

from faceprint.service.settings import ServiceSettings

log = logging.getLogger(__name__)


def serve(
    settings: ServiceSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    access_log: bool = False,
) -> None:
    """Serve until interrupted (one process; models run in a thread pool of
    ``settings.threads``). Put a TLS-terminating proxy in front for anything but
    loopback: API keys travel in headers."""
    import uvicorn

    from faceprint.gallery import Gallery
    from faceprint.models.store import ModelStore
    from faceprint.pipeline import FacePipeline
    from faceprint.service.app import create_app

    # Fail here, with the library's typed errors, rather than inside uvicorn's lifespan.
    pipeline = FacePipeline.from_config(
        settings.pipeline_config(),
        store=ModelStore(settings.store),
        accept_licence=settings.accept_licence,
        templates=settings.templates,
    )
    settings.gallery_path.parent.mkdir(parents=True, exist_ok=True)
    Gallery.open(
        settings.gallery_path, model_id=pipeline.model_id, key=settings.gallery_key
    ).close()
    app = create_app(settings, pipeline=pipeline)
    log.info("faceprint service on http://%s:%d (web page at /, API docs at /docs)", host, port)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
