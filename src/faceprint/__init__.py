"""faceprint: face detection, embedding, verification and identification.

``import faceprint`` does no I/O, loads no model and imports no inference runtime: the
names below are resolved on first use.

The public API is what this module exports — every result type, every error, and the
functions and classes that produce them — plus :mod:`faceprint.testing` (fakes for
tests), :mod:`faceprint.service` (``create_app``, ``ServiceSettings``) and
:mod:`faceprint.video`. Every other module is internal: its names may move between
releases (``docs/architecture.md``, "Public API").
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "FacePipeline": "faceprint.pipeline",
    "PipelineConfig": "faceprint.config",
    "StoreConfig": "faceprint.config",
    "Environment": "faceprint.environment",
    "ModelStore": "faceprint.models.store",
    "ModelCard": "faceprint.models.card",
    "load_catalog": "faceprint.models.card",
    "DecodedImage": "faceprint.media.images",
    "decode_image": "faceprint.media.images",
    "load_image": "faceprint.media.images",
    "ImageInput": "faceprint.media.sources",
    "ImageResult": "faceprint.batch",
    "analyze_images": "faceprint.batch",
    "Gallery": "faceprint.gallery",
    "FaceRecord": "faceprint.gallery",
    "CollectionInfo": "faceprint.gallery",
    "PersonInfo": "faceprint.gallery",
    "FaceInfo": "faceprint.gallery",
    "ArchiveSummary": "faceprint.gallery.archive",
    "ImportSummary": "faceprint.gallery.archive",
    "export_gallery": "faceprint.gallery.archive",
    "import_gallery": "faceprint.gallery.archive",
    "EnrollPlan": "faceprint.recognition",
    "EnrollReport": "faceprint.recognition",
    "EnrolledFace": "faceprint.recognition",
    "Skipped": "faceprint.recognition",
    "FaceIdentification": "faceprint.recognition",
    "IdentifiedImage": "faceprint.recognition",
    "ClaimVerification": "faceprint.recognition",
    "verify_claim": "faceprint.recognition",
    "enroll_images": "faceprint.recognition",
    "enroll_stream": "faceprint.recognition",
    "enroll_stream_ray": "faceprint.recognition",
    "RayOptions": "faceprint.recognition",
    "enroll_tree": "faceprint.recognition",
    "identify_faces": "faceprint.recognition",
    "identify_images": "faceprint.recognition",
    "plan_enrollment": "faceprint.recognition",
    "QualityPolicy": "faceprint.core.quality",
    "CalibrationCurve": "faceprint.core.calibration",
    "EmbeddedSet": "faceprint.eval.embedding",
    "LFWReport": "faceprint.eval.lfw",
    "run_lfw": "faceprint.eval.lfw",
    "IdentifyReport": "faceprint.eval.identification",
    "run_identify": "faceprint.eval.identification",
    "ErrorRejectReport": "faceprint.eval.quality",
    "RejectPoint": "faceprint.eval.quality",
    "run_error_vs_reject": "faceprint.eval.quality",
    "LivenessReport": "faceprint.eval.liveness",
    "run_liveness_eval": "faceprint.eval.liveness",
    "Event": "faceprint.video",
    "FrameResult": "faceprint.video",
    "SourceInfo": "faceprint.video",
    "TrackResult": "faceprint.video",
    "TrackSummary": "faceprint.video",
    "VideoOptions": "faceprint.video",
    "VideoStats": "faceprint.video",
    "VideoSource": "faceprint.video",
    "recognize_video": "faceprint.video",
    "AlignedFace": "faceprint.types",
    "Attributes": "faceprint.types",
    "Detection": "faceprint.types",
    "Embedding": "faceprint.types",
    "Face": "faceprint.types",
    "FaceIssue": "faceprint.types",
    "Identification": "faceprint.types",
    "Liveness": "faceprint.types",
    "Match": "faceprint.types",
    "Quality": "faceprint.types",
    "Threshold": "faceprint.types",
    "Verification": "faceprint.types",
    "AlreadyExistsError": "faceprint.errors",
    "CalibrationError": "faceprint.errors",
    "ChecksumMismatchError": "faceprint.errors",
    "ClusterUnavailableError": "faceprint.errors",
    "ConfigError": "faceprint.errors",
    "CorruptImageError": "faceprint.errors",
    "DatasetError": "faceprint.errors",
    "AuditError": "faceprint.errors",
    "EmptyImageError": "faceprint.errors",
    "FaceprintError": "faceprint.errors",
    "GalleryCorruptError": "faceprint.errors",
    "GalleryError": "faceprint.errors",
    "ImageError": "faceprint.errors",
    "ImageNotFoundError": "faceprint.errors",
    "ImageTooLargeError": "faceprint.errors",
    "ImageTooSmallError": "faceprint.errors",
    "KeyUnavailableError": "faceprint.errors",
    "LayoutError": "faceprint.errors",
    "LicenceNotAcceptedError": "faceprint.errors",
    "MissingDependencyError": "faceprint.errors",
    "ModelError": "faceprint.errors",
    "ModelMismatchError": "faceprint.errors",
    "ModelNotAvailableError": "faceprint.errors",
    "ModelRuntimeError": "faceprint.errors",
    "MultipleFacesError": "faceprint.errors",
    "NoFaceError": "faceprint.errors",
    "NotFoundError": "faceprint.errors",
    "UnknownModelError": "faceprint.errors",
    "UnsupportedImageError": "faceprint.errors",
    "UsageError": "faceprint.errors",
    "VideoError": "faceprint.errors",
    "VideoSourceError": "faceprint.errors",
    "WrongKeyError": "faceprint.errors",
    "DegradationReport": "faceprint.types",
    "DegradationLimits": "faceprint.core.degradation",
    "assess_degradation": "faceprint.core.degradation",
    "MotionBlur": "faceprint.core.degradation",
    "RestorationPolicy": "faceprint.core.restoration",
    "Degradation": "faceprint.eval.degrade",
    "DegradeSummary": "faceprint.eval.degrade",
    "degrade": "faceprint.eval.degrade",
    "degrade_tree": "faceprint.eval.degrade",
    "RobustnessReport": "faceprint.eval.robustness",
    "RobustnessRow": "faceprint.eval.robustness",
    "run_robustness": "faceprint.eval.robustness",
}

__all__ = [
    "AlignedFace",
    "AlreadyExistsError",
    "ArchiveSummary",
    "Attributes",
    "AuditError",
    "CalibrationCurve",
    "CalibrationError",
    "ChecksumMismatchError",
    "ClaimVerification",
    "ClusterUnavailableError",
    "CollectionInfo",
    "ConfigError",
    "CorruptImageError",
    "DatasetError",
    "DecodedImage",
    "Degradation",
    "DegradationLimits",
    "DegradationReport",
    "DegradeSummary",
    "Detection",
    "EmbeddedSet",
    "Embedding",
    "EmptyImageError",
    "EnrollPlan",
    "EnrollReport",
    "EnrolledFace",
    "Environment",
    "ErrorRejectReport",
    "Event",
    "Face",
    "FaceIdentification",
    "FaceInfo",
    "FaceIssue",
    "FacePipeline",
    "FaceRecord",
    "FaceprintError",
    "FrameResult",
    "Gallery",
    "GalleryCorruptError",
    "GalleryError",
    "Identification",
    "IdentifiedImage",
    "IdentifyReport",
    "ImageError",
    "ImageInput",
    "ImageNotFoundError",
    "ImageResult",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "ImportSummary",
    "KeyUnavailableError",
    "LFWReport",
    "LayoutError",
    "LicenceNotAcceptedError",
    "Liveness",
    "LivenessReport",
    "Match",
    "MissingDependencyError",
    "ModelCard",
    "ModelError",
    "ModelMismatchError",
    "ModelNotAvailableError",
    "ModelRuntimeError",
    "ModelStore",
    "MotionBlur",
    "MultipleFacesError",
    "NoFaceError",
    "NotFoundError",
    "PersonInfo",
    "PipelineConfig",
    "Quality",
    "QualityPolicy",
    "RayOptions",
    "RejectPoint",
    "RestorationPolicy",
    "RobustnessReport",
    "RobustnessRow",
    "Skipped",
    "SourceInfo",
    "StoreConfig",
    "Threshold",
    "TrackResult",
    "TrackSummary",
    "UnknownModelError",
    "UnsupportedImageError",
    "UsageError",
    "Verification",
    "VideoError",
    "VideoOptions",
    "VideoSource",
    "VideoSourceError",
    "VideoStats",
    "WrongKeyError",
    "analyze_images",
    "assess_degradation",
    "decode_image",
    "degrade",
    "degrade_tree",
    "enroll_images",
    "enroll_stream",
    "enroll_stream_ray",
    "enroll_tree",
    "export_gallery",
    "identify_faces",
    "identify_images",
    "import_gallery",
    "load_catalog",
    "load_image",
    "plan_enrollment",
    "recognize_video",
    "run_error_vs_reject",
    "run_identify",
    "run_lfw",
    "run_liveness_eval",
    "run_robustness",
    "verify_claim",
]

if TYPE_CHECKING:
    from faceprint.batch import (
        ImageResult,
        analyze_images,
    )
    from faceprint.config import (
        PipelineConfig,
        StoreConfig,
    )
    from faceprint.core.calibration import (
        CalibrationCurve,
    )
    from faceprint.core.degradation import (
        DegradationLimits,
        MotionBlur,
        assess_degradation,
    )
    from faceprint.core.quality import (
        QualityPolicy,
    )
    from faceprint.core.restoration import (
        RestorationPolicy,
    )
    from faceprint.environment import (
        Environment,
    )
    from faceprint.errors import (
        AlreadyExistsError,
        AuditError,
        CalibrationError,
        ChecksumMismatchError,
        ClusterUnavailableError,
        ConfigError,
        CorruptImageError,
        DatasetError,
        EmptyImageError,
        FaceprintError,
        GalleryCorruptError,
        GalleryError,
        ImageError,
        ImageNotFoundError,
        ImageTooLargeError,
        ImageTooSmallError,
        LayoutError,
        LicenceNotAcceptedError,
        MissingDependencyError,
        ModelError,
        ModelMismatchError,
        ModelNotAvailableError,
        ModelRuntimeError,
        MultipleFacesError,
        NoFaceError,
        NotFoundError,
        UnknownModelError,
        UnsupportedImageError,
        UsageError,
        VideoError,
        VideoSourceError,
    )
    from faceprint.eval.degrade import (
        Degradation,
        DegradeSummary,
        degrade,
        degrade_tree,
    )
    from faceprint.eval.embedding import (
        EmbeddedSet,
    )
    from faceprint.eval.identification import (
        IdentifyReport,
        run_identify,
    )
    from faceprint.eval.lfw import (
        LFWReport,
        run_lfw,
    )
    from faceprint.eval.liveness import (
        LivenessReport,
        run_liveness_eval,
    )
    from faceprint.eval.quality import (
        ErrorRejectReport,
        RejectPoint,
        run_error_vs_reject,
    )
    from faceprint.eval.robustness import (
        RobustnessReport,
        RobustnessRow,
        run_robustness,
    )
    from faceprint.gallery import (
        CollectionInfo,
        FaceInfo,
        FaceRecord,
        Gallery,
        PersonInfo,
    )
    from faceprint.gallery.archive import (
        ArchiveSummary,
        ImportSummary,
        export_gallery,
        import_gallery,
    )
    from faceprint.media.images import (
        DecodedImage,
        decode_image,
        load_image,
    )
    from faceprint.media.sources import (
        ImageInput,
    )
    from faceprint.models.card import (
        ModelCard,
        load_catalog,
    )
    from faceprint.models.store import (
        ModelStore,
    )
    from faceprint.pipeline import (
        FacePipeline,
    )
    from faceprint.recognition import (
        ClaimVerification,
        EnrolledFace,
        EnrollPlan,
        EnrollReport,
        FaceIdentification,
        IdentifiedImage,
        RayOptions,
        Skipped,
        enroll_images,
        enroll_stream,
        enroll_stream_ray,
        enroll_tree,
        identify_faces,
        identify_images,
        plan_enrollment,
        verify_claim,
    )
    from faceprint.types import (
        AlignedFace,
        Attributes,
        DegradationReport,
        Detection,
        Embedding,
        Face,
        FaceIssue,
        Identification,
        Liveness,
        Match,
        Quality,
        Threshold,
        Verification,
    )
    from faceprint.video import (
        Event,
        FrameResult,
        SourceInfo,
        TrackResult,
        TrackSummary,
        VideoOptions,
        VideoSource,
        VideoStats,
        recognize_video,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'faceprint' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
