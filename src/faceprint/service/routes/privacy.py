"""``/v1/privacy/keys`` and ``/v1/collections/{collection_id}/private-search``: 1:N over an
encrypted probe (CKKS), the server never decrypting anything.

A client registers its public keys once (``PUT /v1/privacy/keys``, the bytes of
``faceprint privacy keygen``'s ``.pub`` file, ~18 MB: the Galois keys the server rotates
with), then posts encrypted probes (``faceprint privacy encrypt-probe`` or
:meth:`faceprint.privacy.ckks.KeySet.encrypt_probe`) and gets back a result only its
secret key opens. Bodies and responses are ``application/octet-stream`` frames of
:mod:`faceprint.privacy.wire`. Keys live in the server's memory (re-register after a
restart; registering twice is harmless).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from faceprint.service import schemas as s
from faceprint.service.deps import Key, ServiceState, state_of
from faceprint.service.problems import ServiceError
from faceprint.service.routes import access
from faceprint.service.routes.params import CollectionId, Fpir, Similarity

router = APIRouter(tags=["privacy"])

OCTETS = "application/octet-stream"


def _binary_body(description: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}},
        }
    }


_made = threading.Lock()


def _private(state: ServiceState) -> Any:
    """The state's encrypted-search server, made on first use (needs ``[privacy]``)."""
    with _made:
        if state.private is None:
            from faceprint.privacy.server import PrivateSearch

            state.private = PrivateSearch(state.gallery)
        return state.private


@router.put(
    "/privacy/keys",
    status_code=201,
    openapi_extra=_binary_body("A public key file (`faceprint privacy keygen`'s .pub)."),
)
async def register_keys(request: Request, key: Key) -> s.PrivacyKeysOut:
    """Register a client's public CKKS keys; returns their id (probes name it)."""
    state = state_of(request)
    body = await request.body()
    keys = await state.run(lambda: _private(state).register(body))
    return s.PrivacyKeysOut(key_id=keys.key_id, dim=keys.dim)


@router.post(
    "/collections/{collection_id}/private-search",
    openapi_extra=_binary_body("An encrypted probe (`faceprint privacy encrypt-probe`)."),
    response_class=Response,
    responses={200: {"content": {OCTETS: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def private_search(
    request: Request,
    key: Key,
    collection_id: CollectionId,
    mode: Annotated[
        Literal["decision", "scores"],
        Query(description="decision: only pass/fail per face can be decrypted (default)."),
    ] = "decision",
    fpir: Fpir = None,
    threshold: Similarity = None,
) -> Response:
    """1:N of an encrypted probe against the collection; the encrypted result.

    ``decision`` (default, ``read`` scope): the client can decrypt only which faces pass
    the threshold. ``scores`` needs ``write`` on the collection: raw similarities for
    chosen probes let their holder rebuild the gallery's templates.

    The threshold defaults to FPIR 1 % for the collection's size, as in ``search``; the
    response headers ``X-Faceprint-Threshold``, ``X-Faceprint-FPIR`` and
    ``X-Faceprint-Gallery-Size`` say which was used.
    """
    state = state_of(request)
    state.defences.admit(key, endpoint="private_search")
    await state.io(access.visible, state.gallery, key, collection_id)
    if mode == "scores" and not key.can(collection_id, "write"):
        # raw scores for chosen probes rebuild the gallery's templates: owners only
        raise ServiceError(
            "forbidden",
            f"mode=scores needs write on {collection_id!r} (raw similarities let their "
            "holder rebuild the templates); use mode=decision",
        )
    body = await request.body()

    def work() -> Any:
        return _private(state).search(
            body, collection=collection_id, mode=mode, threshold=threshold, fpir=fpir
        )

    answer = await state.run(work)
    headers = {
        "X-Faceprint-Threshold": f"{answer.threshold.similarity:.6f}",
        "X-Faceprint-Gallery-Size": str(answer.gallery_size),
        "X-Faceprint-Mode": answer.mode,
    }
    if answer.threshold.fpir is not None:
        headers["X-Faceprint-FPIR"] = f"{answer.threshold.fpir:g}"
    return Response(content=answer.result, media_type=OCTETS, headers=headers)
