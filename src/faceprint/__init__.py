"""faceprint: face detection, embedding, verification and identification.

``import faceprint`` does no I/O, loads no model and imports no inference runtime: the
names below are resolved on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "FacePipeline": "faceprint.pipeline",
    "PipelineConfig": "faceprint.config",
    "StoreConfig": "faceprint.config",
    "ModelStore": "faceprint.models.store",
    "load_catalog": "faceprint.models.card",
    "Gallery": "faceprint.gallery",
    "load_image": "faceprint.media.images",
    "decode_image": "faceprint.media.images",
    "enroll_images": "faceprint.recognition",
    "enroll_tree": "faceprint.recognition",
    "identify_faces": "faceprint.recognition",
    "Detection": "faceprint.types",
    "Embedding": "faceprint.types",
    "Face": "faceprint.types",
    "Match": "faceprint.types",
    "Identification": "faceprint.types",
    "Threshold": "faceprint.types",
    "Verification": "faceprint.types",
    "FaceprintError": "faceprint.errors",
}

__all__ = [
    "Detection",
    "Embedding",
    "Face",
    "FacePipeline",
    "FaceprintError",
    "Gallery",
    "Identification",
    "Match",
    "ModelStore",
    "PipelineConfig",
    "StoreConfig",
    "Threshold",
    "Verification",
    "decode_image",
    "enroll_images",
    "enroll_tree",
    "identify_faces",
    "load_catalog",
    "load_image",
]

if TYPE_CHECKING:
    from faceprint.config import PipelineConfig, StoreConfig
    from faceprint.errors import FaceprintError
    from faceprint.gallery import Gallery
    from faceprint.media.images import decode_image, load_image
    from faceprint.models.card import load_catalog
    from faceprint.models.store import ModelStore
    from faceprint.pipeline import FacePipeline
    from faceprint.recognition import enroll_images, enroll_tree, identify_faces
    from faceprint.types import (
        Detection,
        Embedding,
        Face,
        Identification,
        Match,
        Threshold,
        Verification,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'faceprint' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
