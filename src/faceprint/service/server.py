"""Run the service with uvicorn (what ``faceprint serve`` calls)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from faceprint.service.settings import ServiceSettings

if TYPE_CHECKING:
    from faceprint.pipeline import FacePipeline

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


@contextmanager
def serve_in_background(
    settings: ServiceSettings, *, pipeline: FacePipeline | None = None, startup_s: float = 120.0
) -> Iterator[str]:
    """The real service (uvicorn, HTTP on a free loopback port) in a background thread,
    for as long as the ``with`` block runs; yields its base URL (``http://127.0.0.1:N``).

    What ``faceprint audit`` attacks: every request goes through the same sockets,
    authentication, defences and routes as ``faceprint serve``. ``pipeline`` shares
    loaded models between several services (one at a time).

    Raises:
        RuntimeError: the server did not start within ``startup_s``.
    """
    import uvicorn

    from faceprint.service.app import create_app

    app = create_app(settings, pipeline=pipeline)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="faceprint-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the service did not start (see the log above)")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
