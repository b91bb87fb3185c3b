"""The REST service: a thin FastAPI adapter over the library (``faceprint serve``).

Importing this package does not import FastAPI; :func:`create_app` does (install the
``service`` extra). :mod:`faceprint.service.keys` (API keys) needs only the standard
library, so the CLI can manage keys without the web stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

    from faceprint.pipeline import FacePipeline
    from faceprint.service.settings import ServiceSettings


def create_app(settings: ServiceSettings, *, pipeline: FacePipeline | None = None) -> FastAPI:
    """Build the FastAPI app; see :func:`faceprint.service.app.create_app`."""
    from faceprint.service.app import create_app as _create_app

    return _create_app(settings, pipeline=pipeline)


def __getattr__(name: str) -> Any:
    if name == "ServiceSettings":
        from faceprint.service.settings import ServiceSettings

        return ServiceSettings
    raise AttributeError(name)


__all__ = ["ServiceSettings", "create_app"]
