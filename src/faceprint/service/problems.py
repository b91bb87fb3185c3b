"""Errors as problem JSON, in one place: ``{"error": {"code", "message"}, "request_id"}``.

Library errors map to HTTP statuses by class (:data:`STATUS_BY_CLASS`, nearest listed
ancestor first), the service's own :class:`ServiceError` by code (:data:`STATUS_BY_CODE`);
anything unexpected becomes a 500 ``internal_error`` whose traceback goes to the server log only.
:class:`EdgeMiddleware` gives every request an id (``X-Request-ID``, echoed when the
client sends a sane one) and refuses bodies over the size limit before they are read.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceprint import errors

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

STATUS_BY_CLASS: dict[type[errors.FaceprintError], int] = {
    # every class of faceprint.errors, explicitly (a test checks it); a subclass defined
    # elsewhere gets the status of its nearest listed ancestor
    errors.FaceprintError: 500,
    errors.ConfigError: 400,
    errors.UsageError: 400,
    errors.LayoutError: 400,
    errors.MissingDependencyError: 500,  # the server's installation lacks an extra
    errors.ClusterUnavailableError: 503,
    # the server's own keys (a gallery's data key): its configuration, not the request
    errors.KeyUnavailableError: 500,
    errors.WrongKeyError: 500,
    # images: refused client input
    errors.ImageError: 422,
    errors.ImageNotFoundError: 500,  # the service never reads images from server paths
    errors.EmptyImageError: 422,
    errors.CorruptImageError: 422,
    errors.UnsupportedImageError: 415,
    errors.ImageTooLargeError: 413,
    errors.ImageTooSmallError: 422,
    # faces
    errors.NoFaceError: 422,
    errors.MultipleFacesError: 422,
    # models: the server cannot serve them
    errors.ModelError: 503,
    errors.UnknownModelError: 503,
    errors.ModelNotAvailableError: 503,
    errors.ChecksumMismatchError: 503,
    errors.LicenceNotAcceptedError: 503,
    errors.ModelRuntimeError: 500,
    # gallery
    errors.GalleryError: 503,
    errors.ModelMismatchError: 409,
    errors.NotFoundError: 404,
    errors.AlreadyExistsError: 409,
    errors.GalleryCorruptError: 500,
    # the People page's clustering folder
    errors.PeopleError: 500,
    errors.UnknownClusterError: 404,
    errors.PeopleStoreError: 500,
    # evaluation and video run on the server's own data, never on a request's
    errors.DatasetError: 500,
    errors.AuditError: 500,
    errors.CalibrationError: 400,  # e.g. an FPIR outside the calibrated range
    errors.VideoError: 500,
    errors.VideoSourceError: 500,
}
"""HTTP status of each library error class; :func:`status_of` walks an error's MRO."""

STATUS_BY_CODE: dict[str, int] = {
    # the service's own errors (:class:`ServiceError`) and the codes of framework errors
    "invalid_request": 422,
    "invalid_base64": 422,
    "missing_image": 422,
    "too_many_images": 422,
    "unsupported_media_type": 415,
    "payload_too_large": 413,
    "unauthorized": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "budget_exhausted": 429,
    "target_budget_exhausted": 429,
    "throttled": 429,
    "not_found": 404,
    "method_not_allowed": 405,
    "internal_error": 500,
}
"""HTTP status of each :class:`ServiceError` code."""

_CODE_BY_STATUS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ServiceError(Exception):
    """An error the service raises itself (auth, uploads, limits)."""

    def __init__(self, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.headers = headers or {}

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.code, 400)


def status_for(code: str) -> int:
    """The status of a :class:`ServiceError` code (500 for an unknown one)."""
    return STATUS_BY_CODE.get(code, 500)


def status_of(exc: errors.FaceprintError) -> int:
    """The status of a library error: its class's entry in :data:`STATUS_BY_CLASS`,
    else its nearest listed ancestor's (the root is listed, so there always is one)."""
    for cls in type(exc).__mro__:
        status = STATUS_BY_CLASS.get(cls)
        if status is not None:
            return status
    return 500  # pragma: no cover - FaceprintError itself is listed


def problem_body(code: str, message: str, request_id: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}, "request_id": request_id}


def problem(
    code: str,
    message: str,
    request_id: str,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(code, message, request_id),
        status_code=status if status is not None else status_for(code),
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def request_id(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


_LISTING = re.compile(r" \(collections: [^)]*\)")


def _sanitized(request: Request, message: str) -> str:
    """Library messages name server files and list every collection; a client with a
    scoped key must see neither."""
    for path in getattr(request.app.state, "private_paths", ()):
        message = message.replace(f" of gallery {path}", "").replace(f" in gallery {path}", "")
        message = message.replace(path, "the gallery")
    return _LISTING.sub("", message)


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into problem JSON."""

    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return problem(exc.code, exc.message, request_id(request), headers=exc.headers)

    async def on_library_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.FaceprintError)
        code = getattr(exc, "code", "internal_error")
        status = status_of(exc)
        if status >= 500:
            log.error("request %s failed: %s", request_id(request), exc, exc_info=exc)
        return problem(code, _sanitized(request, str(exc)), request_id(request), status=status)

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _CODE_BY_STATUS.get(exc.status_code, "http_error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; see /docs"
        return problem(
            code,
            message,
            request_id(request),
            status=exc.status_code,
            headers=dict(exc.headers or {}),
        )

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "; ".join(parts) or "invalid request"
        return problem("invalid_request", message, request_id(request), status=422)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request %s failed unexpectedly", request_id(request), exc_info=exc)
        return problem(
            "internal_error",
            "the server failed to handle this request; quote the request_id when reporting it",
            request_id(request),
            status=500,
        )

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(errors.FaceprintError, on_library_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class EdgeMiddleware:
    """Request ids on every response; request bodies capped at ``max_body`` bytes.

    A declared ``Content-Length`` over the cap is refused with 413 before any byte is
    read; a body that grows past the cap while streaming (chunked uploads) raises
    :class:`ServiceError` ``payload_too_large`` inside the handler that reads it.
    """

    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                raw.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = raw
            await send(message)

        declared = headers.get("content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size < 0 or size > self.max_body:
                message = (
                    f"request body of {declared} bytes is over the limit of {self.max_body:,} bytes"
                    if size >= 0
                    else "malformed Content-Length header"
                )
                code = "payload_too_large" if size >= 0 else "invalid_request"
                await _send_problem(send_with_id, code, message, rid)
                return

        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise ServiceError(
                        "payload_too_large",
                        f"request body is over the limit of {self.max_body:,} bytes",
                    )
            return message

        await self.app(scope, counted_receive, send_with_id)


async def _send_problem(send: Send, code: str, message: str, rid: str) -> None:
    body = json.dumps(problem_body(code, message, rid)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status_for(code),
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
