"""Identification: every face of every probe image against the gallery (open set)."""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import replace

from faceprint.batch import BATCH_SIZE, ImageResult, analyze_images
from faceprint.gallery import Gallery
from faceprint.gallery.gallery import Rescore
from faceprint.media.sources import DecodeLimits, Source
from faceprint.pipeline import FacePipeline
from faceprint.recognition.results import FaceIdentification, IdentifiedImage
from faceprint.types import ImageArray, Threshold

__all__ = ["choose_threshold", "identify_faces", "identify_images", "identify_result"]


def choose_threshold(
    pipeline: FacePipeline,
    gallery: Gallery,
    *,
    collection: str | None = None,
    threshold: float | Threshold | None = None,
    fmr: float | None = None,
    fpir: float | None = None,
) -> Threshold:
    """The open-set threshold: ``threshold`` as given, else from ``fmr``, else from
    ``fpir`` (default 1 %) for the gallery's current size.

    Raises:
        faceprint.errors.CalibrationError: the error rate is outside the calibration.
        faceprint.errors.NotFoundError: ``collection`` does not exist.
    """
    if isinstance(threshold, Threshold):
        return threshold
    return pipeline.identification_threshold(
        gallery_size=gallery.size(collection=collection),
        threshold=threshold,
        fmr=fmr,
        fpir=fpir,
    )


def identify_result(
    gallery: Gallery,
    result: ImageResult,
    *,
    threshold: Threshold,
    k: int = 5,
    collection: str | None = None,
    rescore: Rescore | None = None,
) -> IdentifiedImage:
    """Search every embedded face of an analysed image; a face that failed the
    liveness check is never named (``rejected="spoof_suspected"``). ``rescore``: a
    score adjuster's re-scoring (:meth:`FacePipeline.rescore`)."""
    faces = []
    for face in result.faces:
        found = gallery.identify(
            face.embedding, threshold=threshold, k=k, collection=collection, rescore=rescore
        )
        if face.liveness is not None and not face.liveness.is_live:
            faces.append(
                FaceIdentification(face, replace(found, person=None), rejected="spoof_suspected")
            )
        else:
            faces.append(FaceIdentification(face, found))
    return IdentifiedImage(result=result, faces=tuple(faces), threshold=threshold)


def identify_images(
    pipeline: FacePipeline,
    gallery: Gallery,
    sources: Iterable[Source],
    *,
    k: int = 5,
    collection: str | None = None,
    threshold: float | Threshold | None = None,
    fmr: float | None = None,
    fpir: float | None = None,
    batch_size: int = BATCH_SIZE,
    workers: int = 2,
    limits: DecodeLimits | None = None,
) -> Generator[IdentifiedImage, None, None]:
    """Identify every face of every source, yielding per image in input order.

    The threshold is chosen once, before the first image (see :func:`choose_threshold`);
    under the gallery's liveness policy every face is also checked for presentation
    attacks.

    Raises:
        faceprint.errors.ModelMismatchError: the gallery holds another model's embeddings.
        faceprint.errors.CalibrationError: the error rate is outside the calibration.
        faceprint.errors.NotFoundError: ``collection`` does not exist.
    """
    chosen = choose_threshold(
        pipeline, gallery, collection=collection, threshold=threshold, fmr=fmr, fpir=fpir
    )
    rescore = pipeline.rescore if pipeline.score_adjuster is not None else None
    results = analyze_images(
        pipeline,
        sources,
        liveness=gallery.require_liveness,
        batch_size=batch_size,
        workers=workers,
        limits=limits,
    )
    try:
        for result in results:
            yield identify_result(
                gallery, result, threshold=chosen, k=k, collection=collection, rescore=rescore
            )
    finally:
        results.close()


def identify_faces(
    pipeline: FacePipeline,
    gallery: Gallery,
    image: ImageArray | Source,
    *,
    k: int = 5,
    collection: str | None = None,
    threshold: float | Threshold | None = None,
    fmr: float | None = None,
    fpir: float | None = None,
) -> list[FaceIdentification]:
    """Identify every face in one image — RGB pixels, a path or encoded bytes — decoded
    in the calling thread (see :func:`identify_images`).

    Raises:
        faceprint.errors.ImageError: the image cannot be read (or is not H×W×3 uint8).
        Otherwise as :func:`identify_images`.
    """
    (found,) = identify_images(
        pipeline,
        gallery,
        [image],
        k=k,
        collection=collection,
        threshold=threshold,
        fmr=fmr,
        fpir=fpir,
        workers=0,
    )
    if found.result.error is not None:
        raise found.result.error
    return list(found.faces)
