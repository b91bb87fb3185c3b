"""1:1 claims against an enrolled person: "is the face in this image person P?".

The probe's most prominent face is compared with every enrolled face of the claimed
person (a person scores their best face) at a 1:1 threshold — the operation behind
access control and log-in, and the one a score-driven attacker targets (see
docs/security.md). Under the gallery's liveness policy a suspected spoof never matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceprint.batch import analyze_images
from faceprint.errors import ModelMismatchError, NoFaceError
from faceprint.gallery import Gallery
from faceprint.media.sources import Source
from faceprint.pipeline import FacePipeline
from faceprint.types import Face, ImageArray, Threshold

__all__ = ["ClaimVerification", "verify_claim"]


@dataclass(frozen=True, slots=True)
class ClaimVerification:
    """The outcome of one claim.

    ``similarity`` is the best cosine over the person's faces (``face_id`` the face that
    gave it); ``is_match`` is false for a suspected spoof whatever the similarity
    (``rejected`` then says why).
    """

    face: Face
    person: str
    collection: str
    similarity: float
    face_id: int | None
    threshold: Threshold
    is_match: bool
    rejected: str | None = None


def verify_claim(
    pipeline: FacePipeline,
    gallery: Gallery,
    image: ImageArray | Source,
    person: str,
    *,
    collection: str = "default",
    threshold: float | Threshold | None = None,
    fmr: float | None = None,
) -> ClaimVerification:
    """Check that the most prominent face of ``image`` is ``person``.

    The threshold is ``threshold`` as given, else the calibrated one for ``fmr``
    (default 1e-3; see :data:`faceprint.core.thresholds.VERIFY_PRESETS`).

    Raises:
        faceprint.errors.NotFoundError: no such collection or person.
        faceprint.errors.ImageError: the image cannot be read.
        faceprint.errors.NoFaceError: no face in the image.
        faceprint.errors.ModelMismatchError: the gallery holds another model's templates.
        faceprint.errors.CalibrationError: the FMR is outside the calibration.
    """
    face_ids, templates = gallery.person_templates(person, collection=collection)
    chosen = (
        threshold
        if isinstance(threshold, Threshold)
        else pipeline.verification_threshold(threshold=threshold, fmr=fmr)
    )
    pinned = gallery.model_id
    if pinned is not None and pinned != pipeline.model_id:
        raise ModelMismatchError(
            f"the gallery holds templates of model {pinned!r}, the pipeline makes "
            f"{pipeline.model_id!r}; use the gallery's model (--embedder) to check claims"
        )
    (result,) = analyze_images(
        pipeline, [image], embed="primary", liveness=gallery.require_liveness, workers=0
    )
    if result.error is not None:
        raise result.error
    face = result.primary_face
    if face is None:
        raise NoFaceError(f"{result.source}: no face found")
    if len(templates) == 0:
        similarity, face_id = -1.0, None
    else:
        scores = templates @ face.embedding.vector
        best = int(np.argmax(scores))
        similarity = float(scores[best])
        face_id = face_ids[best]
    spoof = face.liveness is not None and not face.liveness.is_live
    return ClaimVerification(
        face=face,
        person=person,
        collection=collection,
        similarity=similarity,
        face_id=face_id,
        threshold=chosen,
        is_match=not spoof and similarity >= chosen.similarity,
        rejected="spoof_suspected" if spoof else None,
    )
