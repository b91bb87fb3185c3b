"""Pipeline, enrollment and identification logic with fake backends (no weights)."""

from __future__ import annotations

import pytest
from PIL import Image

from faceprint.errors import ModelMismatchError, MultipleFacesError, NoFaceError
from faceprint.gallery import Gallery
from faceprint.pipeline import FacePipeline
from faceprint.recognition import enroll_images, enroll_tree, identify_faces
from faceprint.testing import FakeDetector, FakeEmbedder, fake_calibration, fake_image

RED, GREEN, BLUE = (200, 0, 0), (0, 200, 0), (0, 0, 200)


@pytest.fixture()
def pipeline():
    return FacePipeline(
        detector=FakeDetector(), embedder=FakeEmbedder(), calibration=fake_calibration(dimension=64)
    )


def test_analyze_batch_keeps_image_order(pipeline):
    a = fake_image((RED, (10, 10, 60, 60)), (GREEN, (100, 10, 150, 60)))
    b = fake_image()
    c = fake_image((BLUE, (40, 40, 90, 90)))
    faces = pipeline.analyze_batch([a, b, c])
    assert [len(f) for f in faces] == [2, 0, 1]
    assert faces[2][0].detection.bbox_xyxy == (40.0, 40.0, 90.0, 90.0)
    assert all(f.embedding.model_id == "fake" for f in faces[0])


def test_verify_decides_with_calibrated_threshold(pipeline):
    a = pipeline.primary_face(fake_image((RED, (10, 10, 60, 60))))
    b = pipeline.primary_face(fake_image((RED, (80, 20, 140, 90))))
    c = pipeline.primary_face(fake_image((GREEN, (10, 10, 60, 60))))
    same, diff = pipeline.verify(a, b), pipeline.verify(a, c)
    assert same.is_match and same.similarity == pytest.approx(1.0)
    assert not diff.is_match and diff.similarity < diff.threshold.similarity
    assert same.threshold.fmr == pytest.approx(1e-3)
    assert pipeline.verify(a, c, threshold=-1.0).is_match


def test_primary_face_errors(pipeline):
    with pytest.raises(NoFaceError):
        pipeline.primary_face(fake_image())
    two = fake_image((RED, (10, 10, 60, 60)), (GREEN, (100, 10, 190, 100)))
    with pytest.raises(MultipleFacesError):
        pipeline.primary_face(two, strict=True)
    assert pipeline.primary_face(two).detection.bbox_xyxy == (100.0, 10.0, 190.0, 100.0)


def test_similarity_refuses_other_models(pipeline):
    other = FacePipeline(detector=FakeDetector(), embedder=FakeEmbedder(model_id="other"))
    img = fake_image((RED, (10, 10, 60, 60)))
    with pytest.raises(ModelMismatchError):
        pipeline.similarity(pipeline.primary_face(img).embedding, other.primary_face(img).embedding)


def _save(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def test_enroll_tree_and_identify(tmp_path, pipeline):
    root = tmp_path / "people"
    _save(root / "ann" / "1.png", fake_image((RED, (10, 10, 60, 60))))
    _save(root / "ann" / "2.png", fake_image((RED, (50, 30, 100, 90))))
    _save(root / "bob" / "1.png", fake_image((GREEN, (10, 10, 60, 60))))
    _save(root / "bob" / "blank.png", fake_image())  # no face
    (root / "bob" / "notes.jpg").write_text("not an image")
    with Gallery.open(tmp_path / "g.db") as gallery:
        report = enroll_tree(pipeline, gallery, root)
        assert report.persons == ["ann", "bob"]
        assert len(report.enrolled) == 3
        assert sorted((s.source.rsplit("/", 1)[-1], s.reason) for s in report.skipped) == [
            ("blank.png", "no_face"),
            ("notes.jpg", "unsupported_image"),
        ]
        assert gallery.model_id == "fake" and gallery.size() == 3
        probe = fake_image((GREEN, (5, 5, 50, 50)), (BLUE, (120, 20, 180, 80)))
        found = identify_faces(pipeline, gallery, probe)
        by_x = sorted(found, key=lambda f: f.face.detection.bbox_xyxy[0])
        assert [f.identification.person for f in by_x] == ["bob", None]
        assert by_x[0].identification.threshold.gallery_size == 3


def test_enroll_images_reports_progress(tmp_path, pipeline):
    paths = [
        _save(tmp_path / f"{i}.png", fake_image((BLUE, (10 + i, 10, 60 + i, 60)))) for i in range(3)
    ]
    seen = []
    with Gallery.open(":memory:") as gallery:
        report = enroll_images(
            pipeline, gallery, "cy", paths, progress=lambda d, t, s: seen.append((d, t))
        )
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert [e.person for e in report.enrolled] == ["cy"] * 3


def test_gallery_pinned_to_other_model_is_refused(tmp_path, pipeline):
    path = _save(tmp_path / "a.png", fake_image((RED, (10, 10, 60, 60))))
    with (
        Gallery.open(tmp_path / "g.db", model_id="another-model") as gallery,
        pytest.raises(ModelMismatchError),
    ):
        enroll_images(pipeline, gallery, "ann", [path])
