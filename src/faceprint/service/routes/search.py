"""``/v1/collections/{collection_id}/search``: 1:N identification against a collection."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from faceprint.recognition import FaceIdentification, identify_faces
from faceprint.service import schemas as s
from faceprint.service.deps import Key, state_of
from faceprint.service.routes import access, render
from faceprint.service.routes.params import CollectionId, Fpir, Similarity
from faceprint.service.settings import ServiceSettings
from faceprint.service.uploads import image_body, read_images

router = APIRouter(tags=["search"])


@router.post("/collections/{collection_id}/search", openapi_extra=image_body("image"))
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
    await state.io(access.visible, state.gallery, key, collection_id)
    state.defences.admit(key, endpoint="search")
    (upload,) = (await read_images(request, "image"))["image"]

    def work() -> s.SearchOut:
        pipeline, gallery = state.pipeline, state.gallery
        size = gallery.size(collection=collection_id)
        chosen = pipeline.identification_threshold(
            gallery_size=size, threshold=threshold, fpir=fpir
        )
        results = identify_faces(  # the same threshold the response reports
            pipeline,
            gallery,
            upload.source(state.settings),
            k=k,
            collection=collection_id,
            threshold=chosen,
        )[:max_faces]
        for r in results:  # each face's best candidate is what a climber would target
            best = r.identification.candidates[0] if r.identification.candidates else None
            if best is not None:
                state.defences.record(
                    key,
                    endpoint="search",
                    target=(collection_id, best.person),
                    probe=r.face.embedding.vector,
                    similarity=best.similarity,
                    matched=r.identification.person is not None,
                    threshold=chosen.similarity,
                )
        scores = render.reveals_scores(state.settings, key)
        return s.SearchOut(
            collection_id=collection_id,
            model_id=pipeline.model_id,
            gallery_size=size,
            threshold=chosen.similarity,
            fpir=chosen.fpir,
            faces=[_searched(state.settings, r, scores=scores) for r in results],
        )

    return await state.run(work)


def _searched(
    settings: ServiceSettings, result: FaceIdentification, *, scores: bool
) -> s.SearchFace:
    """One face's answer; without ``scores`` (a decision-only key) no similarity and no
    candidate list (their order would leak a ranking)."""
    found = result.identification
    best = found.candidates[0] if found.candidates else None
    decision: Literal["known", "unknown", "rejected"] = (
        "rejected" if result.rejected else "known" if found.person else "unknown"
    )
    return s.SearchFace(
        box=render.box(result.face.detection.bbox_xyxy),
        score=result.face.detection.score,
        decision=decision,
        person_id=found.person,
        similarity=None if best is None or not scores else render.score(settings, best.similarity),
        reason=result.rejected,
        matches=[
            s.MatchOut(
                person_id=m.person,
                similarity=render.score(settings, m.similarity),
                face_id=m.face_id,
            )
            for m in (found.candidates if scores else ())
        ],
    )
