"""``/v1/collections/{collection_id}/persons``: persons and their enrolled faces."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from faceprint.core.quality import QualityPolicy
from faceprint.errors import NotFoundError
from faceprint.recognition import ImageInput, enroll_images, verify_claim
from faceprint.service import schemas as s
from faceprint.service.deps import Key, state_of
from faceprint.service.routes import access, render
from faceprint.service.routes.params import (
    CollectionId,
    Fmr,
    PersonId,
    Preset,
    Similarity,
    preset_fmr,
)
from faceprint.service.uploads import image_body, read_images

router = APIRouter(prefix="/collections/{collection_id}/persons", tags=["persons"])


@router.post("", status_code=201)
async def create_person(
    request: Request, key: Key, collection_id: CollectionId, body: s.PersonIn
) -> s.PersonOut:
    """Create a person without faces (adding faces also creates one)."""
    state = state_of(request)

    def work() -> s.PersonOut:
        access.writable(state.gallery, key, collection_id)
        state.gallery.create_person(body.person_id, collection=collection_id)
        return render.person(state.gallery.person(body.person_id, collection=collection_id))

    return await state.io(work)


@router.get("")
async def list_persons(request: Request, key: Key, collection_id: CollectionId) -> s.PersonList:
    state = state_of(request)

    def work() -> s.PersonList:
        access.visible(state.gallery, key, collection_id)
        infos = state.gallery.persons(collection=collection_id)
        return s.PersonList(persons=[render.person(i) for i in infos])

    return await state.io(work)


@router.get("/{person_id}")
async def get_person(
    request: Request, key: Key, collection_id: CollectionId, person_id: PersonId
) -> s.PersonDetail:
    """A person and their enrolled faces (metadata, never vectors)."""
    state = state_of(request)

    def work() -> s.PersonDetail:
        access.visible(state.gallery, key, collection_id)
        info = state.gallery.person(person_id, collection=collection_id)
        faces = state.gallery.faces(person_id, collection=collection_id)
        return s.PersonDetail(
            **render.person(info).model_dump(),
            enrolled_faces=[
                s.EnrolledFaceOut(
                    face_id=f.id,
                    source=f.source,
                    box=None if f.bbox_xyxy is None else render.box(f.bbox_xyxy),
                    det_score=f.det_score,
                    enrolled_at=f.enrolled_at,
                )
                for f in faces
            ],
        )

    return await state.io(work)


@router.delete("/{person_id}")
async def delete_person(
    request: Request, key: Key, collection_id: CollectionId, person_id: PersonId
) -> s.PersonDeleted:
    state = state_of(request)

    def work() -> s.PersonDeleted:
        access.writable(state.gallery, key, collection_id)
        removed = state.gallery.remove_person(person_id, collection=collection_id)
        return s.PersonDeleted(
            collection_id=collection_id, person_id=person_id, faces_removed=removed
        )

    return await state.io(work)


@router.post("/{person_id}/faces", openapi_extra=image_body(array="images"))
async def add_faces(
    request: Request,
    key: Key,
    collection_id: CollectionId,
    person_id: PersonId,
    quality: Annotated[
        bool | None,
        Query(description="Refuse faces that fail the default quality policy."),
    ] = None,
    allow_shared_images: Annotated[
        bool,
        Query(
            description="Accept an image already enrolled for another person of the "
            "collection (refused as `enrolled_as_other_person` by default)."
        ),
    ] = False,
) -> s.FacesAdded:
    """Enroll the most prominent face of each image; each is accepted or rejected.

    The person is created if new (only if at least one face is accepted). An image
    already enrolled for this person is rejected as `already_enrolled` (re-sending a
    request never duplicates faces); one enrolled for another person as
    `enrolled_as_other_person` unless `allow_shared_images`.
    """
    state = state_of(request)
    await state.io(access.writable, state.gallery, key, collection_id)
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
            allow_shared_images=allow_shared_images,
            workers=0,
        )
        index = {label: i for i, label in enumerate(labels)}
        accepted = [
            s.Accepted(
                index=index[e.source],
                filename=names[index[e.source]],
                face_id=e.face_id,
                box=render.box(e.bbox_xyxy),
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


@router.delete("/{person_id}/faces/{face_id}")
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
        access.writable(state.gallery, key, collection_id)
        try:
            face = state.gallery.face(face_id)
        except NotFoundError:
            face = None
        if face is None or (face.collection, face.person) != (collection_id, person_id):
            # the same answer for a face of another person or collection: no oracle
            raise NotFoundError(
                f"no face {face_id} of {person_id!r} in collection {collection_id!r}"
            )
        state.gallery.remove_face(face_id)
        return s.FaceDeleted(face_id=face_id, removed=True)

    return await state.io(work)


@router.post("/{person_id}/verify", openapi_extra=image_body("image"))
async def verify_person(
    request: Request,
    key: Key,
    collection_id: CollectionId,
    person_id: PersonId,
    fmr: Fmr = None,
    threshold: Similarity = None,
    preset: Preset = None,
) -> s.ClaimOut:
    """1:1 claim: is the image's most prominent face this enrolled person?

    The face is compared with each of the person's enrolled faces (the best counts) at
    the service's preset threshold (FMR 1e-3 unless configured), or ``preset``, ``fmr``
    or ``threshold``. Similarities are rounded, or withheld for decision-only keys.

    Guarded (docs/security.md): counts against the key's daily budget; each failed claim
    spends the key's budget for this person (20 a day by default, then 429); near-duplicate
    probes whose scores climb get the key throttled and an alert logged.
    """
    state = state_of(request)
    await state.io(access.visible, state.gallery, key, collection_id)
    target = (collection_id, person_id)
    state.defences.admit(key, endpoint="verify_person", target=target)
    fmr = preset_fmr(preset, fmr, threshold, state.settings.verify_fmr)
    (upload,) = (await read_images(request, "image"))["image"]

    def work() -> s.ClaimOut:
        result = verify_claim(
            state.pipeline,
            state.gallery,
            upload.source(state.settings),
            person_id,
            collection=collection_id,
            threshold=threshold,
            fmr=fmr,
        )
        state.defences.record(
            key,
            endpoint="verify_person",
            target=target,
            probe=result.face.embedding.vector,
            similarity=result.similarity,
            matched=result.is_match,
            threshold=result.threshold.similarity,
        )
        return s.ClaimOut(
            collection_id=collection_id,
            person_id=person_id,
            similarity=render.key_score(state.settings, key, result.similarity),
            threshold=result.threshold.similarity,
            fmr=result.threshold.fmr,
            is_match=result.is_match,
            model_id=state.pipeline.model_id,
            face=render.detected(result.face.detection),
        )

    return await state.run(work)
