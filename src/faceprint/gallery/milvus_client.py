"""pymilvus and milvus-lite plumbing for :mod:`faceprint.gallery.milvus`: importing the
client with a clear error, the exceptions a Milvus call raises, the in-process
milvus-lite servers this process uses, and an error's readable reason."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from faceprint.errors import GalleryError

INSTALL_HINT = "pip install 'faceprint[milvus]'"


def pymilvus_module() -> Any:
    try:
        import pymilvus
    except ImportError as exc:
        raise GalleryError(f"a Milvus index needs pymilvus: {INSTALL_HINT}") from exc
    return pymilvus


def milvus_errors() -> tuple[type[BaseException], ...]:
    from pymilvus.exceptions import MilvusException

    errors: list[type[BaseException]] = [MilvusException]
    with contextlib.suppress(ImportError):
        import grpc

        errors.append(grpc.RpcError)
    return tuple(errors)


class LiteServers:
    """Counts this process's engines per milvus-lite folder; the last one out stops
    milvus-lite's in-process server, which releases the folder's lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}

    def acquire(self, path: str) -> None:
        with self._lock:
            self._users[path] = self._users.get(path, 0) + 1

    def release(self, path: str) -> None:
        with self._lock:
            left = self._users.get(path, 1) - 1
            if left > 0:
                self._users[path] = left
                return
            self._users.pop(path, None)
            with contextlib.suppress(Exception):
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(path)


LITE = LiteServers()


def error_reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return str(message or exc).strip() or type(exc).__name__
