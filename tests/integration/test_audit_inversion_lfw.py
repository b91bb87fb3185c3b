"""Model inversion with the real models, small: a face space from 40 LFW strangers,
60 exact-score queries against SFace in this process, the other embedder's verdict."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from tests.shared_paths import LFW

from faceprint.eval.audit.facespace import FaceSpace, build_face_space, render
from faceprint.eval.audit.inversion import (
    Answer,
    PipelineOracle,
    invert,
    judge,
    reference_embeddings,
)

pytestmark = pytest.mark.integration

STRANGERS = 40  # LFW people with one photo: the attacker's face space
QUERIES = 60


def _people() -> tuple[list[Path], list[Path]]:
    """The strangers' photos and the target's (first person with four or more photos)."""
    if not (LFW / "images").is_dir():
        pytest.skip(f"LFW not found at {LFW}")
    images: dict[str, list[Path]] = defaultdict(list)
    for path in sorted((LFW / "images").glob("*/*.jpg")):
        images[path.parent.name].append(path)
    single = [n for n in sorted(images) if len(images[n]) == 1][:STRANGERS]
    target = next(n for n in sorted(images) if len(images[n]) >= 4)
    return [images[n][0] for n in single], images[target]


class Counting:
    """Passes queries through and remembers every answer."""

    def __init__(self, inner: PipelineOracle) -> None:
        self.inner = inner
        self.answers: list[Answer] = []

    def query(self, image: NDArray[np.uint8]) -> Answer:
        answer = self.inner.query(image)
        self.answers.append(answer)
        return answer


def test_renders_are_faces_and_the_score_rises(pipeline, store, tmp_path) -> None:
    from faceprint.config import PipelineConfig
    from faceprint.pipeline import FacePipeline

    strangers, target = _people()
    space = build_face_space(pipeline, strangers)
    assert space.dimension == 2 * STRANGERS - 1  # mirrored: 80 crops, 79 directions
    space = FaceSpace.load(space.save(tmp_path / "space.npz"))

    # random faces from the space are faces to the service's detector
    rng = np.random.default_rng(0)
    found = sum(
        bool(pipeline.detect(render(space, rng.standard_normal(space.dimension))))
        for _ in range(10)
    )
    assert found >= 9

    threshold = pipeline.verification_threshold(fmr=1e-3).similarity
    oracle = Counting(
        PipelineOracle(pipeline, reference_embeddings(pipeline, target[:3]), threshold)
    )
    run = invert(oracle, space, budget=QUERIES, checkpoints=(20, QUERIES), seed=0, mode="exact")
    assert run.queries_sent == len(oracle.answers) == QUERIES
    assert sum(a.no_face for a in oracle.answers) <= QUERIES // 5  # faces most of the time
    start = oracle.answers[0].score  # the mean face
    assert start is not None
    final = run.checkpoints[-1]
    assert final.best_score is not None and final.best_score > start + 0.1  # seen: +0.27…0.34
    assert pipeline.detect(final.image)

    check = FacePipeline.from_config(PipelineConfig(embedder="reid-0095"), store=store)
    check_threshold = check.verification_threshold(fmr=1e-3).similarity
    references = reference_embeddings(check, target[:3])
    from faceprint.media.images import load_image

    real = judge(check, load_image(target[3]), references, check_threshold)
    assert real.detected and real.match  # a genuine photo of the target passes
    mean = judge(check, render(space, np.zeros(space.dimension)), references, check_threshold)
    assert mean.detected and not mean.match
    verdict = judge(check, final.image, references, check_threshold)
    assert verdict.detected and verdict.similarity is not None
