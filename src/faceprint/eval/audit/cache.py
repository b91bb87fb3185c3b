"""Cached audit inputs: the embedded faces of a folder and the attacker's face space.

Embedding 7,701 LFW images takes minutes; an audit re-run (another part, another
budget) reuses them. A cache entry is named by what made it — the model (or, for the
face space, the detector and landmarks), the image paths with their sizes and
modification times — so a changed folder or model is embedded afresh; an unreadable
entry is rebuilt, never trusted. Files are ``.npz`` without pickled objects, written
to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from faceprint.errors import DatasetError
from faceprint.eval.audit.dataset import AuditSet, build_audit_set, lfw_images
from faceprint.eval.audit.facespace import FaceSpace, build_face_space
from faceprint.pipeline import FacePipeline
from faceprint.types import Progress

__all__ = ["cached_audit_set", "cached_face_space"]


def _fingerprint(parts: Sequence[object], files: Sequence[Path]) -> str:
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def cached_audit_set(
    pipeline: FacePipeline, root: Path, cache: Path, *, progress: Progress | None = None
) -> AuditSet:
    """Every face of ``root`` (``root/<person>/<images>``), embedded with age and gender
    by ``pipeline`` — from ``cache`` when the same images were embedded by the same
    model before.

    Raises:
        DatasetError: ``root`` holds no images in that layout.
    """
    files = lfw_images(root)
    if not files:
        raise DatasetError(f"{root}: no images in the layout DIR/<person>/<images>")
    key = _fingerprint([pipeline.model_id, root.resolve()], files)
    path = cache / f"faces-{_safe(pipeline.model_id)}-{key}.npz"
    if path.is_file():
        try:
            return AuditSet.load(path, model_id=pipeline.model_id)
        except DatasetError:
            pass
    built = build_audit_set(pipeline, root, files, progress=progress)
    partial = path.with_suffix(".incomplete")
    built.save(partial)
    os.replace(partial, path)
    return built


def cached_face_space(
    pipeline: FacePipeline,
    photos: Sequence[Path],
    cache: Path,
    *,
    progress: Progress | None = None,
) -> FaceSpace:
    """The eigenface space of ``photos`` (:func:`build_face_space`), cached by the
    detector, landmarks and photos it was built from."""
    models = [type(pipeline.detector).__name__, type(pipeline.landmarks).__name__]
    key = _fingerprint([*models, len(photos)], list(photos))
    path = cache / f"space-{key}.npz"
    if path.is_file():
        try:
            return FaceSpace.load(path)
        except (OSError, ValueError):
            pass
    built = build_face_space(pipeline, list(photos), progress=progress)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".incomplete.npz")
    built.save(partial)
    os.replace(partial, path)
    return built
