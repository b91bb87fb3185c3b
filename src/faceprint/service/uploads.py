"""Images in requests: multipart file fields or base64 strings in a JSON body, and
their decoding within the service's limits (:meth:`Upload.decode`).

The byte cap is enforced by :class:`~faceprint.service.problems.EdgeMiddleware` while
the body is read; formats are sniffed from the bytes by :mod:`faceprint.media.images`
(file names and declared content types are ignored).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from faceprint.media.sources import ImageInput
from faceprint.service.problems import ServiceError
from faceprint.service.settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded image: its bytes and the name to report it by."""

    filename: str
    data: bytes

    def source(self, settings: ServiceSettings) -> ImageInput:
        """The upload as a source for :func:`faceprint.batch.analyze_images`, within the
        service's pixel limit (the byte limit was enforced while the body was read)."""
        return ImageInput(name=self.filename, data=self.data, max_pixels=settings.max_image_pixels)


def image_body(*fields: str, array: str | None = None, max_items: int = 20) -> dict[str, Any]:
    """OpenAPI ``requestBody`` for image fields, as multipart and as base64 JSON."""
    names = [*fields, *([array] if array else [])]
    multipart: dict[str, Any] = {f: {"type": "string", "format": "binary"} for f in fields}
    as_json: dict[str, Any] = {
        f: {"type": "string", "contentEncoding": "base64", "description": "base64 image"}
        for f in fields
    }
    if array:
        multipart[array] = {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "minItems": 1,
            "maxItems": max_items,
        }
        as_json[array] = {
            "type": "array",
            "items": {"type": "string", "contentEncoding": "base64"},
            "minItems": 1,
            "maxItems": max_items,
        }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": multipart, "required": names}
                },
                "application/json": {
                    "schema": {"type": "object", "properties": as_json, "required": names}
                },
            },
        }
    }


async def read_images(
    request: Request, *fields: str, array: str | None = None, max_items: int = 20
) -> dict[str, list[Upload]]:
    """The images of ``fields`` (one each) and of ``array`` (1..``max_items``).

    Raises:
        ServiceError: unsupported media type, malformed body, a missing field, bad
            base64, too many images, or a body over the size cap.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        raw = await _multipart(request, fields, array, max_items)
    elif kind == "application/json" or kind.endswith("+json"):
        raw = await _json(request, fields, array)
    else:
        raise ServiceError(
            "unsupported_media_type",
            f"send images as multipart/form-data or application/json (base64), not {kind or 'no content type'!r}",
        )
    out: dict[str, list[Upload]] = {}
    for name in (*fields, *([array] if array else [])):
        items = raw.get(name, [])
        if not items:
            raise ServiceError("missing_image", f"the request has no image in field {name!r}")
        if name != array and len(items) > 1:
            raise ServiceError(
                "invalid_request", f"field {name!r} takes one image, got {len(items)}"
            )
        if len(items) > max_items:
            raise ServiceError(
                "too_many_images",
                f"field {name!r} has {len(items)} images; at most {max_items} per request",
            )
        out[name] = items
    return out


async def _multipart(
    request: Request, fields: tuple[str, ...], array: str | None, max_items: int
) -> dict[str, list[Upload]]:
    try:
        form = await request.form(max_files=max_items + len(fields), max_fields=50)
    except ServiceError:
        raise
    except Exception as exc:  # python-multipart's and Starlette's parse errors
        raise ServiceError("invalid_request", f"malformed multipart body: {exc}") from exc
    out: dict[str, list[Upload]] = {}
    try:
        for name in (*fields, *([array] if array else [])):
            for index, value in enumerate(form.getlist(name)):
                if isinstance(value, UploadFile):
                    data = await value.read()
                    filename = value.filename or f"{name}[{index}]"
                else:
                    raise ServiceError(
                        "invalid_request",
                        f"field {name!r} must be a file upload (or send base64 in JSON)",
                    )
                out.setdefault(name, []).append(Upload(filename=filename, data=data))
    finally:
        await form.close()
    return out


async def _json(
    request: Request, fields: tuple[str, ...], array: str | None
) -> dict[str, list[Upload]]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ServiceError("invalid_request", f"malformed JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise ServiceError("invalid_request", "the JSON body must be an object")
    out: dict[str, list[Upload]] = {}
    for name in (*fields, *([array] if array else [])):
        value = body.get(name)
        if value is None:
            continue
        values = value if name == array and isinstance(value, list) else [value]
        for index, item in enumerate(values):
            label = f"{name}[{index}]" if name == array else name
            out.setdefault(name, []).append(Upload(filename=label, data=_b64(item, label)))
    return out


def _b64(value: object, label: str) -> bytes:
    if not isinstance(value, str):
        raise ServiceError("invalid_base64", f"{label} must be a base64 string")
    text = value.strip()
    if text.startswith("data:") and "," in text:  # a data URL from a browser
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ServiceError("invalid_base64", f"{label} is not valid base64: {exc}") from exc
