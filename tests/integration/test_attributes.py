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


def test_analyze_batch_matches_per_image_analysis(pipeline):
    from tests.shared_paths import DATASETS

    images = [
        load_image(SAMPLES / "groups" / "two_people.jpg"),
        load_image(DATASETS / "antispoof" / "spoof_print_F1.jpg"),
        load_image(SAMPLES / "groups" / "multiface.jpg"),
    ]
    options = {"liveness": True, "attributes": True, "quality": True}
    batched = pipeline.analyze_batch(images, **options)
    assert [len(f) for f in batched] == [2, 1, 6]
    for image, faces in zip(images, batched, strict=True):
        single = pipeline.analyze(image, **options)
        for a, b in zip(faces, single, strict=True):
            assert a.liveness.score == pytest.approx(b.liveness.score, abs=1e-5)
            assert a.attributes.gender == b.attributes.gender
            assert a.attributes.age == pytest.approx(b.attributes.age, abs=1e-3)
            assert a.quality.reasons == b.quality.reasons
    assert batched[1][0].quality.reasons == ("spoof_suspected",)
