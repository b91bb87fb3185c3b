"""The ``/v1`` endpoints: each one parses, checks the key's scope, and calls the library."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from faceprint import __version__
from faceprint.core.quality import QualityPolicy
from faceprint.errors import ImageError, NoFaceError, NotFoundError
from faceprint.gallery.records import CollectionInfo, PersonInfo
from faceprint.media.images import DecodedImage, decode_image
from faceprint.recognition import ImageInput, enroll_images, identify_faces
from faceprint.service import schemas as s
from faceprint.service.app import Key, ServiceState, state_of
from faceprint.service.keys import ApiKey
from faceprint.service.problems import ServiceError
from faceprint.service.uploads import Upload, image_body, read_images
from faceprint.types import BBox, Detection, Face

router = APIRouter()

NAME = r"^[^\x00-\x1f/]{1,128}$"
CollectionId = Annotated[str, Path(pattern=NAME, description="Collection name.")]
PersonId = Annotated[str, Path(pattern=NAME, description="Person name (unique per collection).")]
Fmr = Annotated[
    float | None, Query(gt=0, lt=1, description="False-match rate of the threshold (1:1).")
]
Fpir = Annotated[
    float | None,
    Query(gt=0, lt=1, description="False-positive identification rate (default 0.01)."),
]
Similarity = Annotated[
    float | None, Query(ge=-1, le=1, description="Explicit similarity threshold.")
]


# --- helpers -------------------------------------------------------------------------


def _box(box: BBox) -> s.Box:
    return s.Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3])


def _detected(det: Detection) -> s.DetectedFace:
    return s.DetectedFace(
        box=_box(det.bbox_xyxy),
        score=det.score,
        landmarks=[[float(x), float(y)] for x, y in det.landmarks_array().tolist()],
        issues=[str(i.value) if hasattr(i, "value") else str(i) for i in det.issues],
    )


def _score(state: ServiceState, value: float) -> float:
    decimals = state.settings.score_decimals
    return float(value) if decimals is None else round(float(value), decimals)


def _decode(state: ServiceState, upload: Upload) -> DecodedImage:
    try:
        return decode_image(
            upload.data,
            max_pixels=state.settings.max_image_pixels,
            max_bytes=state.settings.max_request_bytes,
        )
    except ImageError as exc:
        raise type(exc)(str(exc).replace("<bytes>", upload.filename)) from None


def _visible(state: ServiceState, key: ApiKey, collection: str) -> None:
    """Pass if the collection exists and the key may read it; 404 alike otherwise."""
    if not (key.can(collection, "read") and state.gallery.has_collection(collection)):
        raise NotFoundError(f"no collection {collection!r}")


def _readable(state: ServiceState, key: ApiKey, collection: str) -> CollectionInfo:
    """The collection (with its counts) if the key may read it; 404 alike otherwise."""
    _visible(state, key, collection)
    for info in state.gallery.collections():
        if info.name == collection:
            return info
    raise NotFoundError(f"no collection {collection!r}")  # removed meanwhile


def _writable(state: ServiceState, key: ApiKey, collection: str) -> None:
    """Pass if the key may change the collection; 404 if it may not even see it."""
    _visible(state, key, collection)
    if not key.can(collection, "write"):
        raise ServiceError("forbidden", f"this key may read but not change {collection!r}")


def _collection_out(info: CollectionInfo) -> s.CollectionOut:
    return s.CollectionOut(
        collection_id=info.name, persons=info.persons, faces=info.faces, created_at=info.created_at
    )


def _person_out(info: PersonInfo) -> s.PersonOut:
    return s.PersonOut(
        person_id=info.name,
        collection_id=info.collection,
        faces=info.faces,
        created_at=info.created_at,
    )


# --- service --------------------------------------------------------------------------


@router.get("/health", tags=["service"])
async def health() -> s.Health:
    """Liveness probe (no key needed)."""
    return s.Health(status="ok", version=__version__)


@router.get("/models", tags=["service"])
async def models(request: Request, key: Key) -> s.Models:
    """The models this service runs, their licences and the default 1:1 threshold."""
    state = state_of(request)
    config = state.settings.pipeline
    threshold = state.pipeline.verification_threshold()
    return s.Models(
        detector=config.detector,
        landmarks=config.landmarks,
        embedder=config.embedder,
        model_id=state.pipeline.model_id,
        embedding_dim=getattr(state.pipeline.embedder, "dimension", None),
        licences=state.licences,
        verification_threshold=s.ThresholdInfo(similarity=threshold.similarity, fmr=threshold.fmr),
        score_decimals=state.settings.score_decimals,
    )


# --- faces ----------------------------------------------------------------------------


@router.post("/detect", tags=["faces"], openapi_extra=image_body("image"))
async def detect(request: Request, key: Key) -> s.Detections:
    """Every face in an image: box, score, five landmarks and issue flags."""
    state = state_of(request)
    (upload,) = (await read_images(request, "image"))["image"]

    def work() -> s.Detections:
        image = _decode(state, upload)
        found = state.pipeline.detect(image.pixels)
        return s.Detections(
            width=image.width, height=image.height, faces=[_detected(d) for d in found]
        )

    return await state.run(work)


@router.post("/analyze", tags=["faces"], openapi_extra=image_body("image"))
async def analyze(
    request: Request,
    key: Key,
    liveness: bool = True,
    attributes: bool = True,
    quality: bool = True,
) -> s.Analysis:
    """Every face with liveness (presentation attack), quality and attributes."""
    state = state_of(request)
    (upload,) = (await read_images(request, "image"))["image"]

    def work() -> s.Analysis:
        image = _decode(state, upload)
        faces = state.pipeline.analyze(
            image.pixels, liveness=liveness, attributes=attributes, quality=quality
        )
        return s.Analysis(
            width=image.width, height=image.height, faces=[_analyzed(f) for f in faces]
        )

    return await state.run(work)


def _analyzed(face: Face) -> s.AnalyzedFace:
    a = face.attributes
    return s.AnalyzedFace(
        **_detected(face.detection).model_dump(),
        liveness=None
        if face.liveness is None
        else s.LivenessOut.model_validate(face.liveness, from_attributes=True),
        quality=None
        if face.quality is None
        else s.QualityOut.model_validate(face.quality, from_attributes=True),
        attributes=None
        if a is None
        else s.AttributesOut.model_validate(
            {**dataclasses.asdict(a), "expressions": dict(a.expressions)}
        ),
    )


@router.post("/verify", tags=["faces"], openapi_extra=image_body("image_a", "image_b"))
async def verify(
    request: Request, key: Key, fmr: Fmr = None, threshold: Similarity = None
) -> s.VerifyOut:
    """1:1: are the most prominent faces of two images the same person?

    The threshold defaults to the calibrated one at FMR 1e-3; pass ``fmr`` or an
    explicit ``threshold``. Similarities are rounded as configured (``score_decimals``);
    the decision uses the exact value.
    """
    state = state_of(request)
    images = await read_images(request, "image_a", "image_b")
    a, b = images["image_a"][0], images["image_b"][0]

    def work() -> s.VerifyOut:
        pipeline = state.pipeline
        decoded = [_decode(state, a), _decode(state, b)]
        found = pipeline.detect_batch([d.pixels for d in decoded])
        primaries = []
        for upload, image, dets in zip((a, b), decoded, found, strict=True):
            if not dets:
                raise NoFaceError(f"{upload.filename}: no face found")
            primaries.append(pipeline.primary_detection(image.pixels, detections=dets))
        fa, fb = pipeline.embed_many(
            [(image.pixels, det) for image, det in zip(decoded, primaries, strict=True)]
        )
        result = pipeline.verify(fa, fb, threshold=threshold, fmr=fmr)
        return s.VerifyOut(
            similarity=_score(state, result.similarity),
            threshold=result.threshold.similarity,
            fmr=result.threshold.fmr,
            is_match=result.is_match,
            model_id=pipeline.model_id,
            face_a=_detected(fa.detection),
            face_b=_detected(fb.detection),
        )

    return await state.run(work)


# --- collections ----------------------------------------------------------------------


@router.post("/collections", status_code=201, tags=["collections"])
async def create_collection(request: Request, key: Key, body: s.CollectionIn) -> s.CollectionOut:
    """Create an empty collection (needs ``write`` on its name or ``*``)."""
    state = state_of(request)
    name = body.collection_id
    if not key.can(name, "write"):
        raise ServiceError("forbidden", f"this key may not create collection {name!r}")

    def work() -> s.CollectionOut:
        state.gallery.create_collection(name)
        return _collection_out(_readable(state, key, name))

    return await state.io(work)


@router.get("/collections", tags=["collections"])
async def list_collections(request: Request, key: Key) -> s.CollectionList:
    """The collections this key can read."""
    state = state_of(request)
    infos = await state.io(state.gallery.collections)
    return s.CollectionList(
        collections=[_collection_out(i) for i in infos if key.can(i.name, "read")]
    )


@router.get("/collections/{collection_id}", tags=["collections"])
async def get_collection(
    request: Request, key: Key, collection_id: CollectionId
) -> s.CollectionOut:
    state = state_of(request)
    return _collection_out(await state.io(_readable, state, key, collection_id))


@router.delete("/collections/{collection_id}", tags=["collections"])
async def delete_collection(
    request: Request, key: Key, collection_id: CollectionId
) -> s.CollectionDeleted:
    """Delete a collection with all its persons and faces."""
    state = state_of(request)

    def work() -> s.CollectionDeleted:
        _writable(state, key, collection_id)
        removed = state.gallery.remove_collection(collection_id)
        return s.CollectionDeleted(collection_id=collection_id, faces_removed=removed)

    return await state.io(work)


# --- persons and faces ------------------------------------------------------------------


@router.post("/collections/{collection_id}/persons", status_code=201, tags=["persons"])
async def create_person(
    request: Request, key: Key, collection_id: CollectionId, body: s.PersonIn
) -> s.PersonOut:
    """Create a person without faces (adding faces also creates one)."""
    state = state_of(request)

    def work() -> s.PersonOut:
        _writable(state, key, collection_id)
        state.gallery.create_person(body.person_id, collection=collection_id)
        for info in state.gallery.persons(collection=collection_id):
            if info.name == body.person_id:
                return _person_out(info)
        raise NotFoundError(f"no person {body.person_id!r}")  # removed concurrently

    return await state.io(work)


@router.get("/collections/{collection_id}/persons", tags=["persons"])
async def list_persons(request: Request, key: Key, collection_id: CollectionId) -> s.PersonList:
    state = state_of(request)

    def work() -> s.PersonList:
        _visible(state, key, collection_id)
        infos = state.gallery.persons(collection=collection_id)
        return s.PersonList(persons=[_person_out(i) for i in infos])

    return await state.io(work)


@router.get("/collections/{collection_id}/persons/{person_id}", tags=["persons"])
async def get_person(
    request: Request, key: Key, collection_id: CollectionId, person_id: PersonId
) -> s.PersonDetail:
    """A person and their enrolled faces (metadata, never vectors)."""
    state = state_of(request)

    def work() -> s.PersonDetail:
        _visible(state, key, collection_id)
        infos = {i.name: i for i in state.gallery.persons(collection=collection_id)}
        if person_id not in infos:
            raise NotFoundError(f"no person {person_id!r} in collection {collection_id!r}")
        faces = state.gallery.faces(person_id, collection=collection_id)
        return s.PersonDetail(
            **_person_out(infos[person_id]).model_dump(),
            enrolled_faces=[
                s.EnrolledFaceOut(
                    face_id=f.id,
                    source=f.source,
                    box=None if f.bbox_xyxy is None else _box(f.bbox_xyxy),
                    det_score=f.det_score,
                    enrolled_at=f.enrolled_at,
                )
                for f in faces
            ],
        )

    return await state.io(work)


@router.delete("/collections/{collection_id}/persons/{person_id}", tags=["persons"])
async def delete_person(
    request: Request, key: Key, collection_id: CollectionId, person_id: PersonId
) -> s.PersonDeleted:
    state = state_of(request)

    def work() -> s.PersonDeleted:
        _writable(state, key, collection_id)
        removed = state.gallery.remove_person(person_id, collection=collection_id)
        return s.PersonDeleted(
            collection_id=collection_id, person_id=person_id, faces_removed=removed
        )

    return await state.io(work)


@router.post(
    "/collections/{collection_id}/persons/{person_id}/faces",
    tags=["persons"],
    openapi_extra=image_body(array="images"),
)
async def add_faces(
    request: Request,
    key: Key,
    collection_id: CollectionId,
    person_id: PersonId,
    quality: Annotated[
        bool | None,
        Query(description="Refuse faces that fail the default quality policy."),
    ] = None,
) -> s.FacesAdded:
    """Enroll the most prominent face of each image; each is accepted or rejected.

    The person is created if new (only if at least one face is accepted).
    """
    state = state_of(request)
    await state.io(_writable, state, key, collection_id)
    limit = state.settings.max_images_per_request
    uploads = (await read_images(request, array="images", max_items=limit))["images"]
    names = [u.filename for u in uploads]
    labels = [name if names.count(name) == 1 else f"{name}#{i}" for i, name in enumerate(names)]
    inputs = [
        ImageInput(name=label, data=u.data, max_pixels=state.settings.max_image_pixels)
        for label, u in zip(labels, uploads, strict=True)
    ]
    use_quality = state.settings.enroll_quality if quality is None else quality

    def work() -> s.FacesAdded:
        report = enroll_images(
            state.pipeline,
            state.gallery,
            person_id,
            inputs,
            collection=collection_id,
            quality=QualityPolicy() if use_quality else None,
        )
        index = {label: i for i, label in enumerate(labels)}
        accepted = [
            s.Accepted(
                index=index[e.source],
                filename=names[index[e.source]],
                face_id=e.face_id,
                box=_box(e.bbox_xyxy),
                score=e.score,
                faces_in_image=e.faces_in_image,
            )
            for e in report.enrolled
        ]
        rejected = [
            s.Rejected(
                index=index[k.source],
                filename=names[index[k.source]],
                code=k.reason,
                message=k.message,
            )
            for k in report.skipped
        ]
        return s.FacesAdded(
            collection_id=collection_id,
            person_id=person_id,
            accepted=sorted(accepted, key=lambda x: x.index),
            rejected=sorted(rejected, key=lambda x: x.index),
        )

    return await state.run(work)


@router.delete("/collections/{collection_id}/persons/{person_id}/faces/{face_id}", tags=["persons"])
async def delete_face(
    request: Request,
    key: Key,
    collection_id: CollectionId,
    person_id: PersonId,
    face_id: Annotated[int, Path(ge=1, le=2**62)],
) -> s.FaceDeleted:
    """Remove one enrolled face (a person left without faces is removed too)."""
    state = state_of(request)

    def work() -> s.FaceDeleted:
        _writable(state, key, collection_id)
        persons = {i.name for i in state.gallery.persons(collection=collection_id)}
        ids = (
            {f.id for f in state.gallery.faces(person_id, collection=collection_id)}
            if person_id in persons
            else set()
        )
        if face_id not in ids:
            raise NotFoundError(
                f"no face {face_id} of {person_id!r} in collection {collection_id!r}"
            )
        state.gallery.remove_face(face_id)
        return s.FaceDeleted(face_id=face_id, removed=True)

    return await state.io(work)


# --- search -----------------------------------------------------------------------------


@router.post(
    "/collections/{collection_id}/search", tags=["search"], openapi_extra=image_body("image")
)
async def search(
    request: Request,
    key: Key,
    collection_id: CollectionId,
    k: Annotated[int, Query(ge=1, le=100, description="Candidates per face.")] = 5,
    fpir: Fpir = None,
    threshold: Similarity = None,
    max_faces: Annotated[int, Query(ge=1, le=100, description="Faces searched, best first.")] = 20,
) -> s.SearchOut:
    """1:N: every face of the image against the collection, with an open-set decision.

    The threshold defaults to FPIR 1 % for the collection's size (its number of face
    templates); ``fpir`` or ``threshold`` override it. A face is ``known`` when its best
    match reaches the threshold, ``unknown`` otherwise, and ``rejected`` (with a
    ``reason``) when the gallery's liveness policy refuses it.
    """
    state = state_of(request)
    await state.io(_visible, state, key, collection_id)
    (upload,) = (await read_images(request, "image"))["image"]

    def work() -> s.SearchOut:
        pipeline, gallery = state.pipeline, state.gallery
        image = _decode(state, upload)
        size = gallery.size(collection=collection_id)
        chosen = pipeline.identification_threshold(
            gallery_size=size, threshold=threshold, fpir=fpir
        )
        results = identify_faces(  # the same threshold the response reports
            pipeline, gallery, image.pixels, k=k, collection=collection_id, threshold=chosen
        )[:max_faces]
        faces = []
        for result in results:
            found = result.identification
            best = found.candidates[0] if found.candidates else None
            decision: Literal["known", "unknown", "rejected"] = (
                "rejected" if result.rejected else "known" if found.person else "unknown"
            )
            faces.append(
                s.SearchFace(
                    box=_box(result.face.detection.bbox_xyxy),
                    score=result.face.detection.score,
                    decision=decision,
                    person_id=found.person,
                    similarity=None if best is None else _score(state, best.similarity),
                    reason=result.rejected,
                    matches=[
                        s.MatchOut(
                            person_id=m.person,
                            similarity=_score(state, m.similarity),
                            face_id=m.face_id,
                        )
                        for m in found.candidates
                    ],
                )
            )
        return s.SearchOut(
            collection_id=collection_id,
            model_id=pipeline.model_id,
            gallery_size=size,
            threshold=chosen.similarity,
            fpir=chosen.fpir,
            faces=faces,
        )

    return await state.run(work)
