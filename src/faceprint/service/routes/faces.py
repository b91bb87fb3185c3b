"""``/v1/detect``, ``/v1/analyze`` and ``/v1/verify``: faces in uploaded images, no gallery."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request

from faceprint.errors import NoFaceError
from faceprint.service import schemas as s
from faceprint.service.deps import Key, state_of
from faceprint.service.routes import render
from faceprint.service.routes.params import Fmr, Preset, Similarity, preset_fmr
from faceprint.service.uploads import image_body, read_images
from faceprint.types import Face

router = APIRouter(tags=["faces"])


@router.post("/detect", openapi_extra=image_body("image"))
async def detect(request: Request, key: Key) -> s.Detections:
    """Every face in an image: box, score, five landmarks and issue flags."""
    state = state_of(request)
    (upload,) = (await read_images(request, "image"))["image"]

    def work() -> s.Detections:
        (image,) = state.analyze([upload], embed="none")
        return s.Detections(
            width=image.width,
            height=image.height,
            faces=[render.detected(d) for d in image.detections],
        )

    return await state.run(work)


@router.post("/analyze", openapi_extra=image_body("image"))
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
        (image,) = state.analyze(
            [upload], liveness=liveness, attributes=attributes, quality=quality
        )
        return s.Analysis(
            width=image.width, height=image.height, faces=[_analyzed(f) for f in image.faces]
        )

    return await state.run(work)


def _analyzed(face: Face) -> s.AnalyzedFace:
    a = face.attributes
    return s.AnalyzedFace(
        **render.detected(face.detection).model_dump(),
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


@router.post("/verify", openapi_extra=image_body("image_a", "image_b"))
async def verify(
    request: Request,
    key: Key,
    fmr: Fmr = None,
    threshold: Similarity = None,
    preset: Preset = None,
) -> s.VerifyOut:
    """1:1: are the most prominent faces of two images the same person?

    The threshold defaults to the service's preset (FMR 1e-3 unless configured); pass
    ``preset``, ``fmr`` or an explicit ``threshold``. Similarities are rounded as
    configured (``score_decimals``), or withheld for decision-only keys; the decision
    uses the exact value. Counts against the key's daily budget.
    """
    state = state_of(request)
    state.defences.admit(key, endpoint="verify")
    fmr = preset_fmr(preset, fmr, threshold, state.settings.verify_fmr)
    images = await read_images(request, "image_a", "image_b")
    a, b = images["image_a"][0], images["image_b"][0]

    def work() -> s.VerifyOut:
        pipeline = state.pipeline
        faces = []
        for image in state.analyze([a, b], embed="primary"):
            if image.primary_face is None:
                raise NoFaceError(f"{image.source}: no face found")
            faces.append(image.primary_face)
        fa, fb = faces
        result = pipeline.verify(fa, fb, threshold=threshold, fmr=fmr)
        return s.VerifyOut(
            similarity=render.key_score(state.settings, key, result.similarity),
            threshold=result.threshold.similarity,
            fmr=result.threshold.fmr,
            is_match=result.is_match,
            model_id=pipeline.model_id,
            face_a=render.detected(fa.detection),
            face_b=render.detected(fb.detection),
        )

    return await state.run(work)
