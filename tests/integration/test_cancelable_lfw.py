"""Cancelable templates with the real model on real LFW pairs: the same scores as the
plain embeddings under one key, impostor-like scores across two tenants' keys."""

from __future__ import annotations

import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.batch import analyze_images
from faceprint.core.cancelable import TemplateKey
from faceprint.eval.datasets import read_pairs
from faceprint.keysource import SecretKey
from faceprint.pipeline import FacePipeline

pytestmark = pytest.mark.integration

PAIRS = 8  # of each kind, from the first fold


def protected(pipeline: FacePipeline, key: TemplateKey) -> FacePipeline:
    """The session pipeline's models (loaded once) under a template key."""
    return FacePipeline(
        detector=pipeline.detector,
        embedder=pipeline.embedder,
        landmarks=pipeline.landmarks,
        calibration=pipeline.calibration,
        restoration=pipeline.restoration,
        templates=key,
    )


def vectors(pipeline: FacePipeline, paths: list) -> np.ndarray:
    out = []
    for result in analyze_images(pipeline, paths, embed="primary"):
        face = result.primary_face
        assert face is not None, result.source
        assert face.embedding.model_id == pipeline.model_id
        out.append(face.embedding.vector)
    return np.stack(out)


def test_scores_are_kept_under_one_key_and_unlinkable_across_tenants(pipeline) -> None:
    pairs = read_pairs(LFW / "pairs.txt", root=LFW / "images")
    mated = [p for p in pairs if p.same][:PAIRS]
    other = [p for p in pairs if not p.same][:PAIRS]
    chosen = mated + other
    paths_a = [p.path_a for p in chosen]
    paths_b = [p.path_b for p in chosen]
    master = SecretKey(material=bytes(range(32)), source="test")
    key_a = TemplateKey.derive(master, "tenant-a")
    key_b = TemplateKey.derive(master, "tenant-b")
    plain = np.sum(vectors(pipeline, paths_a) * vectors(pipeline, paths_b), axis=1)
    under_a = protected(pipeline, key_a)
    ya = vectors(under_a, paths_a)
    same_key = np.sum(ya * vectors(under_a, paths_b), axis=1)
    np.testing.assert_allclose(same_key, plain, atol=1e-5)
    assert plain[:PAIRS].min() > 0.4 > plain[PAIRS:].max()  # the pairs are what they say
    cross = np.sum(ya * vectors(protected(pipeline, key_b), paths_b), axis=1)
    # 128-d templates of independent rotations: scores ~ N(0, 1/128), σ ≈ 0.09
    assert np.abs(cross[:PAIRS]).max() < 0.35
    assert abs(float(cross[:PAIRS].mean())) < 0.15
