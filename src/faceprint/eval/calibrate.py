"""Threshold calibration: similarity→FMR curves from every cross-identity pair."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from faceprint.core.calibration import (
    CalibrationCurve,
    fit_calibration,
    genuine_similarities,
    impostor_similarities,
)
from faceprint.eval.datasets import identity_of, pair_images, read_pairs
from faceprint.eval.embedding import EmbeddedSet, embed_images
from faceprint.pipeline import FacePipeline
from faceprint.types import Progress

__all__ = ["calibrate_embeddings", "calibrate_models"]


def calibrate_embeddings(emb: EmbeddedSet, *, dataset: str) -> CalibrationCurve:
    """Fit a similarity→FMR curve from every cross-identity pair of an embedded set."""
    ids = np.array([identity_of(p) for p in emb.paths])
    vectors = emb.vectors[emb.found]
    ids = ids[emb.found]
    impostor = impostor_similarities(vectors, ids)
    genuine = genuine_similarities(vectors, ids)
    return fit_calibration(impostor, dataset=dataset, genuine=genuine)


def calibrate_models(
    names: Sequence[str],
    *,
    store: object,
    root: str | Path,
    pairs_file: str | Path,
    out: str | Path,
    accept_licence: bool = False,
    progress: Progress | None = None,
) -> dict[str, CalibrationCurve]:
    """Calibrate each named embedder on the images of an LFW pairs file and merge the
    curves into the JSON file ``out`` (``{"models": {name: curve}}``).

    Detection runs once with the default detector; each embedder reuses those faces.
    """
    from faceprint.config import PipelineConfig
    from faceprint.models.store import ModelStore

    if not isinstance(store, ModelStore):
        raise TypeError("store must be a ModelStore")
    pairs = read_pairs(Path(pairs_file), root=Path(root))
    paths = pair_images(pairs)
    dataset = (
        f"LFW View 2 images ({len(paths)} images of {len({identity_of(p) for p in paths})} "
        "people), all cross-identity pairs; default detector and landmarks"
    )
    base = FacePipeline.from_config(
        PipelineConfig(embedder=names[0]), store=store, accept_licence=accept_licence
    )
    first = embed_images(base, paths, progress=progress)
    curves = {names[0]: calibrate_embeddings(first, dataset=dataset)}
    for name in names[1:]:
        pipe = FacePipeline.from_config(
            PipelineConfig(embedder=name), store=store, accept_licence=accept_licence
        )
        emb = embed_images(pipe, paths, detections=first.detections, progress=progress)
        curves[name] = calibrate_embeddings(emb, dataset=dataset)
    out_path = Path(out)
    data: dict[str, object] = {"models": {}}
    if out_path.is_file():
        data = json.loads(out_path.read_text("utf-8"))
    models = data.setdefault("models", {})
    assert isinstance(models, dict)
    for name, curve in curves.items():
        models[name] = curve.to_dict()
    out_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
    return curves
