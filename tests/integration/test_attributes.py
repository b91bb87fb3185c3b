"""Age, gender, expression and head pose on the shared sample photos."""

from __future__ import annotations

import pytest
from tests.shared_paths import SAMPLES

from faceprint.media.images import load_image

pytestmark = pytest.mark.integration


def _by_x(pipeline, path, **kwargs):
    faces = pipeline.analyze(load_image(path), attributes=True, **kwargs)
    return sorted(faces, key=lambda f: f.detection.bbox_xyxy[0])


@pytest.mark.parametrize(
    ("path", "genders"),
    [
        ("groups/two_people.jpg", ["male", "male"]),
        ("probes/kit_with_rose.jpg", ["female", "male"]),
        ("known/rose_leslie/img1.jpg", ["female"]),
        ("probes/obama1.jpg", ["male"]),
    ],
)
def test_gender_of_known_people(pipeline, path, genders):
    faces = _by_x(pipeline, SAMPLES / path)
    assert [f.attributes.gender for f in faces] == genders
    assert all(f.attributes.gender_score > 0.9 for f in faces)


def test_group_photo_attributes(pipeline):
    faces = _by_x(pipeline, SAMPLES / "groups" / "multiface.jpg")
    attrs = [f.attributes for f in faces]
    assert sorted(a.gender for a in attrs) == ["female"] * 3 + ["male"] * 3
    assert sum(a.expression == "happy" for a in attrs) >= 3  # a smiling cast photo
    for a in attrs:
        assert 15 < a.age < 60
        assert abs(a.yaw) < 35 and abs(a.pitch) < 35 and abs(a.roll) < 35
        assert abs(sum(p for _, p in a.expressions) - 1.0) < 1e-3


def test_age_is_plausible_for_a_president(pipeline):
    (face,) = _by_x(pipeline, SAMPLES / "probes" / "obama1.jpg")
    assert 35 < face.attributes.age < 65


def test_liveness_and_attributes_on_several_faces(pipeline):
    faces = _by_x(pipeline, SAMPLES / "groups" / "two_people.jpg", liveness=True)
    assert len(faces) == 2
    assert all(f.liveness is not None and f.attributes is not None for f in faces)
