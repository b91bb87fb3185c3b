"""``/v1/collections``: create, list, show and delete collections."""

from __future__ import annotations

from fastapi import APIRouter, Request

from faceprint.service import schemas as s
from faceprint.service.deps import Key, state_of
from faceprint.service.problems import ServiceError
from faceprint.service.routes import access, render
from faceprint.service.routes.params import CollectionId

router = APIRouter(tags=["collections"])


@router.post("/collections", status_code=201)
async def create_collection(request: Request, key: Key, body: s.CollectionIn) -> s.CollectionOut:
    """Create an empty collection (needs ``write`` on its name or ``*``)."""
    state = state_of(request)
    name = body.collection_id
    if not key.can(name, "write"):
        raise ServiceError("forbidden", f"this key may not create collection {name!r}")

    def work() -> s.CollectionOut:
        state.gallery.create_collection(name)
        return render.collection(access.readable(state.gallery, key, name))

    return await state.io(work)


@router.get("/collections")
async def list_collections(request: Request, key: Key) -> s.CollectionList:
    """The collections this key can read."""
    state = state_of(request)
    infos = await state.io(state.gallery.collections)
    return s.CollectionList(
        collections=[render.collection(i) for i in infos if key.can(i.name, "read")]
    )


@router.get("/collections/{collection_id}")
async def get_collection(
    request: Request, key: Key, collection_id: CollectionId
) -> s.CollectionOut:
    state = state_of(request)
    return render.collection(await state.io(access.readable, state.gallery, key, collection_id))


@router.delete("/collections/{collection_id}")
async def delete_collection(
    request: Request, key: Key, collection_id: CollectionId
) -> s.CollectionDeleted:
    """Delete a collection with all its persons and faces."""
    state = state_of(request)

    def work() -> s.CollectionDeleted:
        access.writable(state.gallery, key, collection_id)
        removed = state.gallery.remove_collection(collection_id)
        return s.CollectionDeleted(collection_id=collection_id, faces_removed=removed)

    return await state.io(work)
