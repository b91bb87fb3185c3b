"""Service fixtures: an app over a fresh gallery and keys file, sharing one pipeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.shared_paths import SAMPLES

from faceprint.gallery import Gallery
from faceprint.service import ServiceSettings, create_app
from faceprint.service.keys import KeyStore


class Service:
    """A running app (TestClient) with a helper to mint keys."""

    def __init__(self, client: TestClient, keys_path: Path) -> None:
        self.client = client
        self.keys_path = keys_path

    def key(self, *scopes: str, rate_limit: str | None = None, **options: object) -> dict[str, str]:
        """Headers with a new key (``options``: ``responses``, ``daily_budget``)."""
        store = KeyStore.open(self.keys_path)
        try:
            _, token = store.create(
                f"k{len(store.list(include_revoked=True))}",
                scopes,
                rate_limit=rate_limit,
                **options,  # type: ignore[arg-type]
            )
        finally:
            store.close()
        return {"Authorization": f"Bearer {token}"}


SERVICE_INDEXES = ["auto", "milvus-lite"]
"""Index engines the gallery-searching route tests run against (``indexed_service``)."""


@pytest.fixture()
def make_service(tmp_path: Path, pipeline) -> Iterator[Callable[..., Service]]:
    """``make_service(index=None, **settings_overrides)`` → a started :class:`Service`.

    ``index`` sets the gallery's index engine before the app opens it (``milvus-lite``:
    a milvus-lite file in ``tmp_path``)."""
    clients: list[TestClient] = []

    def make(*, index: str | None = None, **overrides: object) -> Service:
        base = ServiceSettings(
            gallery_path=tmp_path / f"gallery{len(clients)}.db",
            keys_path=tmp_path / "keys.db",
            inference_threads=2,
        )
        settings = replace(base, **overrides)  # type: ignore[arg-type]
        if index is not None:
            if index == "milvus-lite":
                index = f"milvus-lite:{tmp_path / 'milvus.db'}"
            with Gallery.open(settings.gallery_path) as gallery:
                gallery.set_index(index)
        client = TestClient(create_app(settings, pipeline=pipeline), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Service(client, settings.keys_path)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture()
def service(make_service) -> Service:
    return make_service()


@pytest.fixture(params=SERVICE_INDEXES)
def indexed_service(request: pytest.FixtureRequest, make_service) -> Service:
    """A service whose gallery searches through each of :data:`SERVICE_INDEXES`."""
    if request.param == "milvus-lite":
        pytest.importorskip("pymilvus", reason="the [milvus] extra is not installed")
        pytest.importorskip("milvus_lite", reason="the [milvus] extra is not installed")
    return make_service(index=request.param)


def image(relative: str) -> tuple[str, bytes]:
    """(file name, bytes) of a sample image, e.g. ``image("groups/two_people.jpg")``."""
    path = SAMPLES / relative
    return path.name, path.read_bytes()


def person_images(person: str) -> list[tuple[str, tuple[str, bytes]]]:
    """Multipart ``images`` fields with every sample photo of ``person``."""
    return [
        ("images", (p.name, p.read_bytes())) for p in sorted((SAMPLES / "known" / person).iterdir())
    ]
