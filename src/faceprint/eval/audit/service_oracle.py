"""The attacked service over HTTP: an :class:`~faceprint.eval.audit.inversion.Oracle`
that POSTs each image as a 1:1 claim against one enrolled person.

``POST {base}/v1/collections/{collection}/persons/{person}/verify`` with the image as
a PNG upload, on one kept-alive connection (the standard library's ``http.client``: the
audit needs no web client). 200 → the returned similarity (``null`` for decision-only
keys) and decision; 422 ``no_face`` → no face; 429 → a refusal with its Retry-After.
Anything else is an :class:`~faceprint.errors.AuditError`.
"""

from __future__ import annotations

import http.client
import json
import secrets
import urllib.parse

import cv2
import numpy as np
from numpy.typing import NDArray

from faceprint.errors import AuditError
from faceprint.eval.audit.inversion import Answer

__all__ = ["ServiceOracle"]


class ServiceOracle:
    """1:1 claims against ``person`` of ``collection`` on the service at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        collection: str,
        person: str,
        timeout: float = 60.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise AuditError(f"{base_url!r} is not an http(s) URL of a faceprint service")
        self._secure = parsed.scheme == "https"
        self._host, self._port, self._timeout = parsed.hostname, parsed.port, timeout
        self._conn = self._connect()
        quote = urllib.parse.quote
        prefix = parsed.path.rstrip("/")
        self._path = f"{prefix}/v1/collections/{quote(collection, safe='')}/persons/{quote(person, safe='')}/verify"
        self._token = token
        self.queries = 0

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._secure else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._timeout)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ServiceOracle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def query(self, image: NDArray[np.uint8]) -> Answer:
        ok, png = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 H×W×3 array
            raise AuditError("could not encode the probe as PNG")
        boundary = secrets.token_hex(16)
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                f'filename="probe.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + png.tobytes()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        }
        status, reply, retry = self._post(body, headers)
        self.queries += 1
        if status == 200:
            data = json.loads(reply)
            score = data.get("similarity")
            return Answer(
                score=None if score is None else float(score), match=bool(data["is_match"])
            )
        code = _code(reply)
        if status == 429:
            return Answer(score=None, match=None, refused=True, retry_after=retry)
        if status == 422 and code == "no_face":
            return Answer(score=None, match=None, no_face=True)
        raise AuditError(f"the service answered {status} ({code}): {reply[:300]!r}")

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, float | None]:
        for attempt in (0, 1):  # a kept-alive connection the server closed: reconnect once
            try:
                self._conn.request("POST", self._path, body=body, headers=headers)
                response = self._conn.getresponse()
                reply = response.read()
            except (http.client.HTTPException, ConnectionError) as exc:
                self._conn.close()
                self._conn = self._connect()
                if attempt:
                    raise AuditError(f"cannot reach the service: {exc}") from exc
                continue
            retry = response.getheader("Retry-After")
            return response.status, reply, None if retry is None else float(retry)
        raise AssertionError("unreachable")  # pragma: no cover


def _code(reply: bytes) -> str:
    try:
        return str(json.loads(reply)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "unknown"
