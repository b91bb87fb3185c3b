"""``/v1/people``: review the clusters of a clustering folder and enroll the named ones.

The folder is the service's ``people`` setting (``faceprint serve --people DIR``,
``FACEPRINT_PEOPLE``), made by ``faceprint cluster PHOTOS --out DIR``; the work is
:mod:`faceprint.people`'s. The folder holds the faces of every photo clustered, whatever
collection they end up in, so reading it needs a ``*:read`` key and changing it a
``*:write`` one; enrolling reads the folder (``*:read``) and writes the target collection.

Each request opens the folder's SQLite store in its worker thread and closes it there
(a connection is never shared between threads); edits are serialised and rewrite
``clusters.json`` and the contact sheets afterwards, as the CLI's review commands do.
Members are named by their photo's path relative to the folder the photos were
clustered from, never by a server path.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from faceprint.errors import PeopleStoreError, UnknownClusterError
from faceprint.people import (
    Cluster,
    PeopleStore,
    enroll_clusters,
    list_clusters,
    merge_clusters,
    name_cluster,
    open_folder,
    remove_faces,
    split_faces,
    unname_cluster,
    write_outputs,
)
from faceprint.people.store import DB_NAME
from faceprint.service import people_schemas as p
from faceprint.service.deps import Key, ServiceState, state_of
from faceprint.service.keys import ApiKey
from faceprint.service.problems import ServiceError
from faceprint.service.routes import access, render

log = logging.getLogger(__name__)

router = APIRouter(prefix="/people", tags=["people"])

ClusterId = Annotated[int, Path(ge=1, le=2**62, description="Cluster id.")]
FaceId = Annotated[int, Path(ge=1, le=2**62, description="Face id (of the clustering folder).")]

JPEG = "image/jpeg"

_edits = threading.Lock()
"""One review at a time: each is a transaction, but ``clusters.json`` and the sheets are
rewritten after it, and two rewrites must not interleave."""


# --- the folder ---------------------------------------------------------------------


def _folder(state: ServiceState) -> FilePath:
    folder = state.settings.people
    if folder is None:
        raise ServiceError(
            "not_found",
            "no clustering folder configured: start the service with `faceprint serve "
            "--people DIR` (or FACEPRINT_PEOPLE=DIR), DIR made by `faceprint cluster "
            "PHOTOS… --out DIR`",
        )
    return folder


def _may(key: ApiKey, role: str) -> None:
    if not key.can("*", role):
        raise ServiceError(
            "forbidden",
            f"the clustering folder holds faces of every collection: this needs a key with "
            f"the '*:{role}' scope",
        )


def _hide(folder: FilePath, message: str) -> str:
    for path in sorted({str(folder), str(folder.resolve())}, key=len, reverse=True):
        message = message.replace(path, "the clustering folder")
    return message


@contextmanager
def _opened(folder: FilePath) -> Iterator[PeopleStore]:
    """The folder's store, open for this thread; unknown clusters and faces as 404."""
    try:
        store = open_folder(folder)
    except PeopleStoreError as exc:
        if not (folder / DB_NAME).exists():
            raise ServiceError(
                "not_found",
                "the clustering folder holds no clusters yet: run `faceprint cluster "
                "PHOTOS… --out DIR` on the server with the folder the service was started with",
            ) from None
        log.error("clustering folder %s cannot be opened: %s", folder, exc)
        raise PeopleStoreError(_hide(folder, str(exc))) from None
    try:
        yield store
    except UnknownClusterError as exc:
        raise ServiceError("not_found", str(exc)) from None
    finally:
        store.close()


# --- rendering ----------------------------------------------------------------------


def _photo_names(clusters: Sequence[Cluster]) -> Callable[[str], str]:
    """Photo paths → paths relative to the folder holding every clustered photo."""
    folders = {os.path.dirname(m.path) for c in clusters for m in c.members if m.path}
    try:
        root = os.path.commonpath(sorted(folders)) if folders else ""
    except ValueError:  # absolute and relative paths, or several drives
        root = ""

    def name(path: str) -> str:
        if root and path:
            return os.path.relpath(path, root).replace(os.sep, "/")
        return os.path.basename(path)

    return name


def _cluster(c: Cluster, photo: Callable[[str], str]) -> p.ClusterOut:
    return p.ClusterOut(
        id=c.id,
        name=c.name,
        reviewed=c.reviewed,
        size=c.size,
        representative=c.representative,
        members=[
            p.ClusterFaceOut(
                face_id=m.face_id,
                photo=photo(m.path),
                sha256=m.sha256,
                box=render.box(m.box),
                quality=m.quality,
                reasons=list(m.reasons),
                how=m.how,
                similarity=round(m.similarity, 4),
            )
            for m in c.members
        ],
    )


def _hidden_by_default(c: Cluster) -> bool:
    """A single face nobody has looked at (a split-off face is reviewed: it is listed)."""
    return c.singleton and c.name is None and not c.reviewed


# --- reading ------------------------------------------------------------------------


@router.get("/clusters")
async def list_people_clusters(
    request: Request,
    key: Key,
    singletons: Annotated[
        bool, Query(description="List the single-face clusters nobody reviewed too.")
    ] = False,
) -> p.ClusterList:
    """The clusters of the clustering folder (named first, then by size), each with its
    faces, best match to the representative first. Needs ``*:read``."""
    state = state_of(request)
    _may(key, "read")
    folder = _folder(state)

    def work() -> p.ClusterList:
        with _opened(folder) as store:
            clusters = list_clusters(store)
            counts = store.counts()
            model = store.model_id
        photo = _photo_names(clusters)
        shown = [c for c in clusters if singletons or not _hidden_by_default(c)]
        return p.ClusterList(
            model_id=model,
            images=counts["images"],
            faces=counts["faces"],
            total=len(clusters),
            singletons=sum(1 for c in clusters if _hidden_by_default(c)),
            named=sum(1 for c in clusters if c.name is not None),
            clusters=[_cluster(c, photo) for c in shown],
        )

    return await state.io(work)


@router.get(
    "/faces/{face_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {JPEG: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def face_thumbnail(request: Request, key: Key, face_id: FaceId) -> Response:
    """A face of the folder as a 112×112 JPEG (aligned crop). Needs ``*:read``."""
    state = state_of(request)
    _may(key, "read")
    folder = _folder(state)

    def work() -> bytes | None:
        with _opened(folder) as store:
            return store.thumb(face_id)

    data = await state.io(work)
    if data is None:
        raise ServiceError("not_found", f"face {face_id} has no thumbnail")
    return Response(data, media_type=JPEG, headers={"Cache-Control": "private, no-store"})


# --- reviews ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Done:
    """What one review did, by id (rendered after the outputs are rewritten)."""

    cluster: int
    new_cluster: int | None = None
    merged: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)


async def _review(request: Request, key: Key, edit: Callable[[PeopleStore], _Done]) -> p.PeopleEdit:
    """Run one review on the folder (``*:write``), rewrite its outputs, render the result."""
    state = state_of(request)
    _may(key, "write")
    folder = _folder(state)

    def work() -> p.PeopleEdit:
        with _edits, _opened(folder) as store:
            done = edit(store)
            clusters = write_outputs(store, folder).clusters
        by_id = {c.id: c for c in clusters}
        photo = _photo_names(clusters)
        new = None if done.new_cluster is None else by_id.get(done.new_cluster)
        return p.PeopleEdit(
            cluster=_cluster(by_id[done.cluster], photo),
            new_cluster=None if new is None else _cluster(new, photo),
            merged=done.merged,
            removed=done.removed,
        )

    return await state.io(work)


@router.post("/clusters/{cluster_id}/name")
async def name_people_cluster(
    request: Request, key: Key, cluster_id: ClusterId, body: p.NameIn
) -> p.PeopleEdit:
    """Name a cluster (it becomes reviewed: its faces stay together when the photos are
    clustered again). A cluster already holding the name is merged with it, into the
    older one, whose id ``cluster`` then has."""

    def edit(store: PeopleStore) -> _Done:
        target = name_cluster(store, cluster_id, body.person)
        return _Done(target, merged=[cluster_id] if target != cluster_id else [])

    return await _review(request, key, edit)


@router.post("/clusters/{cluster_id}/unname")
async def unname_people_cluster(request: Request, key: Key, cluster_id: ClusterId) -> p.PeopleEdit:
    """Forget a cluster's name and review (its faces are clustered freely again)."""

    def edit(store: PeopleStore) -> _Done:
        unname_cluster(store, cluster_id)
        return _Done(cluster_id)

    return await _review(request, key, edit)


@router.post("/clusters/merge")
async def merge_people_clusters(request: Request, key: Key, body: p.MergeIn) -> p.PeopleEdit:
    """Merge two or more clusters into the named one (else the first given); two
    different names are refused (400)."""
    ids = list(dict.fromkeys(body.clusters))

    def edit(store: PeopleStore) -> _Done:
        target = merge_clusters(store, ids)
        return _Done(target, merged=[c for c in ids if c != target])

    return await _review(request, key, edit)


@router.post("/clusters/{cluster_id}/split")
async def split_people_cluster(
    request: Request, key: Key, cluster_id: ClusterId, body: p.FacesIn
) -> p.PeopleEdit:
    """Move faces of a cluster into a new reviewed cluster of their own
    (``new_cluster``); at least one face must stay."""
    faces = list(dict.fromkeys(body.faces))

    def edit(store: PeopleStore) -> _Done:
        return _Done(cluster_id, new_cluster=split_faces(store, cluster_id, faces))

    return await _review(request, key, edit)


@router.post("/clusters/{cluster_id}/remove")
async def remove_people_faces(
    request: Request, key: Key, cluster_id: ClusterId, body: p.FacesIn
) -> p.PeopleEdit:
    """Take faces out of a cluster for good: each becomes a cluster of its own and is
    never put back into this one; at least one face must stay."""
    faces = list(dict.fromkeys(body.faces))

    def edit(store: PeopleStore) -> _Done:
        remove_faces(store, cluster_id, faces)
        return _Done(cluster_id, removed=faces)

    return await _review(request, key, edit)


# --- enrollment ---------------------------------------------------------------------


@router.post("/enroll")
async def enroll_people(
    request: Request, key: Key, body: p.PeopleEnrollIn | None = None
) -> p.PeopleEnrolled:
    """Enroll named clusters (every one, or ``clusters``) into a collection of the
    service's gallery, each as the person it is named, with its faces that pass the
    quality gate; enrolling again adds only faces not yet there. Needs ``*:read`` and
    ``write`` on the collection (which is created if new)."""
    state = state_of(request)
    chosen = body or p.PeopleEnrollIn()
    _may(key, "read")
    folder = _folder(state)
    collection = chosen.collection
    clusters = None if chosen.clusters is None else list(dict.fromkeys(chosen.clusters))

    def work() -> p.PeopleEnrolled:
        gallery = state.gallery
        if gallery.has_collection(collection):
            access.writable(gallery, key, collection)
        elif not key.can(collection, "write"):
            raise ServiceError("forbidden", f"this key may not create collection {collection!r}")
        with _edits, _opened(folder) as store:
            photo = _photo_names(list_clusters(store))
            done = enroll_clusters(
                store, gallery, clusters=clusters, collection=collection, source=photo
            )
        return p.PeopleEnrolled(
            collection_id=collection,
            added=sum(e.added for e in done),
            clusters=[
                p.EnrolledClusterOut(
                    cluster=e.cluster,
                    person=e.person,
                    added=e.added,
                    already=e.already,
                    low_quality=e.low_quality,
                )
                for e in done
            ],
        )

    return await state.io(work)
