"""Enrollment and identification: the pipeline and the gallery working together.

This layer turns files into gallery entries and images into open-set decisions, one
batched, streaming pass over the inputs (:func:`faceprint.batch.analyze_images`). It
loses nothing: every input that could not be used is reported with a reason. Enrollment
also runs with the models in Ray actors (:mod:`faceprint.recognition.distributed`,
``pip install 'faceprint[ray]'``), through the same claims, verdicts and commits.
"""

from faceprint.media.sources import ImageInput, Source
from faceprint.recognition.claims import ClaimVerification, verify_claim
from faceprint.recognition.distributed import RayAnalyzer, RayOptions, enroll_stream_ray
from faceprint.recognition.enroll import (
    Analyzer,
    Candidate,
    Claims,
    PipelineAnalyzer,
    collect_report,
    enroll_images,
    enroll_stream,
    enroll_tree,
    preview_enrollment,
    run_enrollment,
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
    "Analyzer",
    "Candidate",
    "ClaimVerification",
    "Claims",
    "EnrollPlan",
    "EnrollReport",
    "EnrolledFace",
    "FaceIdentification",
    "IdentifiedImage",
    "ImageInput",
    "PipelineAnalyzer",
    "RayAnalyzer",
    "RayOptions",
    "Skipped",
    "Source",
    "choose_threshold",
    "collect_report",
    "enroll_images",
    "enroll_stream",
    "enroll_stream_ray",
    "enroll_tree",
    "identify_faces",
    "identify_images",
    "identify_result",
    "plan_enrollment",
    "preview_enrollment",
    "run_enrollment",
    "verify_claim",
]
