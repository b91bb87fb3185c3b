"""Security audit of a face pipeline: master embeddings and wolves, attribute-matched
impersonation, non-face inputs, score-only model inversion against a service, and the
report (``faceprint audit``; docs/security.md).

Names resolve lazily, so importing this package loads no model and no scikit-image.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "AuditSet": "dataset",
    "build_audit_set": "dataset",
    "lfw_images": "dataset",
    "MasterResult": "masters",
    "Wolf": "masters",
    "find_master_embeddings": "masters",
    "wolves": "masters",
    "ImpersonationReport": "impersonation",
    "ImpersonationResult": "impersonation",
    "attribute_impersonation": "impersonation",
    "wilson_interval": "impersonation",
    "NonFaceDetection": "nonface",
    "NonFaceInput": "nonface",
    "NonFaceResult": "nonface",
    "NonFaceRow": "nonface",
    "audit_nonface": "nonface",
    "nonface_inputs": "nonface",
    "FaceSpace": "facespace",
    "build_face_space": "facespace",
    "render": "facespace",
    "Answer": "inversion",
    "Checkpoint": "inversion",
    "InversionRun": "inversion",
    "Judgement": "inversion",
    "Oracle": "inversion",
    "PipelineOracle": "inversion",
    "answer_for": "inversion",
    "invert": "inversion",
    "judge": "inversion",
    "reference_embeddings": "inversion",
    "ServiceOracle": "service_oracle",
    "AUDIT_FMRS": "run",
    "MODES": "run",
    "InversionTarget": "run",
    "ModeSummary": "run",
    "audit_thresholds": "run",
    "choose_targets": "run",
    "run_inversion": "run",
    "space_images": "run",
    "markdown": "report",
    "write_report": "report",
    "cached_audit_set": "cache",
    "cached_face_space": "cache",
}

__all__ = [
    "AUDIT_FMRS",
    "MODES",
    "Answer",
    "AuditSet",
    "Checkpoint",
    "FaceSpace",
    "ImpersonationReport",
    "ImpersonationResult",
    "InversionRun",
    "InversionTarget",
    "Judgement",
    "MasterResult",
    "ModeSummary",
    "NonFaceDetection",
    "NonFaceInput",
    "NonFaceResult",
    "NonFaceRow",
    "Oracle",
    "PipelineOracle",
    "ServiceOracle",
    "Wolf",
    "answer_for",
    "attribute_impersonation",
    "audit_nonface",
    "audit_thresholds",
    "build_audit_set",
    "build_face_space",
    "cached_audit_set",
    "cached_face_space",
    "choose_targets",
    "find_master_embeddings",
    "invert",
    "judge",
    "lfw_images",
    "markdown",
    "nonface_inputs",
    "reference_embeddings",
    "render",
    "run_inversion",
    "space_images",
    "wilson_interval",
    "wolves",
    "write_report",
]

if TYPE_CHECKING:
    from faceprint.eval.audit.cache import cached_audit_set, cached_face_space
    from faceprint.eval.audit.dataset import AuditSet, build_audit_set, lfw_images
    from faceprint.eval.audit.facespace import FaceSpace, build_face_space, render
    from faceprint.eval.audit.impersonation import (
        ImpersonationReport,
        ImpersonationResult,
        attribute_impersonation,
        wilson_interval,
    )
    from faceprint.eval.audit.inversion import (
        Answer,
        Checkpoint,
        InversionRun,
        Judgement,
        Oracle,
        PipelineOracle,
        answer_for,
        invert,
        judge,
        reference_embeddings,
    )
    from faceprint.eval.audit.masters import MasterResult, Wolf, find_master_embeddings, wolves
    from faceprint.eval.audit.nonface import (
        NonFaceDetection,
        NonFaceInput,
        NonFaceResult,
        NonFaceRow,
        audit_nonface,
        nonface_inputs,
    )
    from faceprint.eval.audit.report import markdown, write_report
    from faceprint.eval.audit.run import (
        AUDIT_FMRS,
        MODES,
        InversionTarget,
        ModeSummary,
        audit_thresholds,
        choose_targets,
        run_inversion,
        space_images,
    )
    from faceprint.eval.audit.service_oracle import ServiceOracle


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
