"""Enrollment and identification: the pipeline and the gallery working together.

This layer turns files into gallery entries and images into open-set decisions, one
batched, streaming pass over the inputs (:func:`faceprint.batch.analyze_images`). It
loses nothing: every input that could not be used is reported with a reason.
"""

from faceprint.media.sources import ImageInput, Source
from faceprint.recognition.enroll import (
    Claims,
    enroll_images,
    enroll_stream,
    enroll_tree,
    preview_enrollment,
)
from faceprint.recognition.identify import (
    choose_threshold,
    identify_faces,
    identify_images,
    identify_result,
)
from faceprint.recognition.layout import EnrollPlan, plan_enrollment
from faceprint.recognition.results import (
    EnrolledFace,
    EnrollReport,
    FaceIdentification,
    IdentifiedImage,
    Skipped,
)

__all__ = [
    "Claims",
    "EnrollPlan",
    "EnrollReport",
    "EnrolledFace",
    "FaceIdentification",
    "IdentifiedImage",
    "ImageInput",
    "Skipped",
    "Source",
    "choose_threshold",
    "enroll_images",
    "enroll_stream",
    "enroll_tree",
    "identify_faces",
    "identify_images",
    "identify_result",
    "plan_enrollment",
    "preview_enrollment",
]
