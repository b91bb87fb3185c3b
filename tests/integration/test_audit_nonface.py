"""Non-face inputs through the real pipeline, matched against a small real gallery."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.errors import ModelMismatchError
from faceprint.eval.audit.dataset import AuditSet, build_audit_set
from faceprint.eval.audit.nonface import (
    DRAWN_FACE,
    EXCLUDED_SAMPLES,
    KINDS,
    NonFaceInput,
    audit_nonface,
    nonface_inputs,
)
from faceprint.media.images import load_image

pytestmark = pytest.mark.integration
pytest.importorskip("skimage")

PERSONS = 6


@pytest.fixture(scope="module")
def gallery(pipeline) -> AuditSet:
    images = LFW / "images"
    if not images.is_dir():
        pytest.skip(f"LFW not found at {LFW}")
    people = sorted(p for p in images.iterdir() if p.is_dir())[:PERSONS]
    paths = [sorted(p.glob("*.jpg"))[0] for p in people]
    return build_audit_set(pipeline, images, paths)


@pytest.fixture(scope="module")
def thresholds(pipeline) -> dict[str, float]:
    return {
        "default (FMR 1e-3)": pipeline.verification_threshold().similarity,
        "FMR 1e-5": pipeline.verification_threshold(fmr=1e-5).similarity,
    }


@pytest.fixture(scope="module")
def inputs() -> list[NonFaceInput]:
    return nonface_inputs(seed=0, sizes=(160,))


def test_inputs_are_rgb_seeded_and_free_of_human_samples(inputs):
    names = [i.name for i in inputs]
    assert len(names) == len(set(names))
    assert not any(n.removeprefix("skimage:") in EXCLUDED_SAMPLES for n in names)
    assert sum(n.startswith("skimage:") for n in names) >= 10
    assert {i.kind for i in inputs} == set(KINDS)
    for item in inputs:
        assert item.pixels.dtype == np.uint8 and item.pixels.ndim == 3
        assert item.pixels.shape[2] == 3
    again = nonface_inputs(seed=0, sizes=(160,))
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(inputs, again, strict=True))
    other = nonface_inputs(seed=1, sizes=(160,))
    noise = [i for i, item in enumerate(inputs) if item.name.startswith("uniform_noise")]
    assert not np.array_equal(inputs[noise[0]].pixels, other[noise[0]].pixels)


def test_nonface_audit_counts_add_up(pipeline, inputs, gallery, thresholds):
    result = audit_nonface(pipeline, inputs, gallery, thresholds)
    assert result.inputs == len(result.rows) == len(inputs)
    assert [r.name for r in result.rows] == [i.name for i in inputs]
    plain = [r for r in result.rows if r.kind != DRAWN_FACE]
    assert result.false_detections == sum(r.detections for r in plain)
    assert result.drawn_inputs == sum(r.kind == DRAWN_FACE for r in result.rows)
    for row in result.rows:
        assert row.error is None
        assert len(row.faces) == row.detections
        assert (row.best_score is None) == (row.detections == 0)
        for face in row.faces:
            assert -1.0 <= face.best_similarity <= 1.0
            assert face.best_identity in gallery.identities
    by_name = {r.name: r for r in result.rows}
    for flat in ("gradient@160", "stripes@160", "uniform_noise@160", "gaussian_noise@160"):
        assert by_name[flat].detections == 0, flat  # nothing face-like in there
    # at FMR 1e-5 against a handful of identities, nothing that is not a face gets in
    assert dict(result.false_matches)["FMR 1e-5"] == 0
    data = json.loads(json.dumps(result.to_dict()))
    assert set(data["excluded"]) == set(EXCLUDED_SAMPLES)
    assert len(data["rows"]) == len(inputs)


def test_a_real_face_matches_itself_through_the_same_path(pipeline, gallery, thresholds):
    """Positive control: an enrolled photo, passed as an array, matches its identity."""
    person = gallery.persons[0]
    pixels = load_image(LFW / "images" / gallery.paths[0])
    control = [NonFaceInput("control", "photo", pixels)]
    result = audit_nonface(pipeline, control, gallery, thresholds)
    (row,) = result.rows
    assert row.detections >= 1
    best = max(row.faces, key=lambda f: f.best_similarity)
    assert best.best_identity == person and best.best_similarity > 0.95
    assert all(person in ids for _, ids in best.matches)
    assert result.false_detections == row.detections


def test_a_gallery_of_another_model_is_refused(pipeline, gallery, thresholds):
    other = AuditSet("reid-0095", gallery.paths, gallery.persons, gallery.vectors,
                     gallery.gender, gallery.age)  # fmt: skip
    with pytest.raises(ModelMismatchError):
        audit_nonface(pipeline, nonface_inputs(sizes=(64,))[-2:], other, thresholds)
