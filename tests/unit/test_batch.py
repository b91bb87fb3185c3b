"""The shared batched path (faceprint.batch) and enrollment on it, with fake models."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceprint.batch import analyze_images
from faceprint.gallery import Gallery
from faceprint.media.sources import ImageInput
from faceprint.pipeline import FacePipeline
from faceprint.recognition import enroll_images, enroll_stream, identify_images
from faceprint.testing import FakeDetector, FakeEmbedder, fake_calibration, fake_image

RED, GREEN, BLUE = (200, 0, 0), (0, 200, 0), (0, 0, 200)


class CountingDetector(FakeDetector):
    """Counts images per detector call, to see batching."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def detect_batch(self, images):  # type: ignore[no-untyped-def]
        self.batches.append(len(images))
        return [self.detect(image) for image in images]


@pytest.fixture()
def detector() -> CountingDetector:
    return CountingDetector()


@pytest.fixture()
def pipeline(detector) -> FacePipeline:
    return FacePipeline(
        detector=detector, embedder=FakeEmbedder(), calibration=fake_calibration(dimension=64)
    )


def _png(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path)
    return path


def test_results_come_in_input_order_with_errors_in_place(pipeline, tmp_path) -> None:
    good = _png(
        tmp_path / "a.png", fake_image((RED, (10, 10, 60, 60)), (GREEN, (100, 10, 160, 70)))
    )
    empty = _png(tmp_path / "b.png", fake_image())
    broken = tmp_path / "c.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n-not-really")
    upload = ImageInput("upload.png", good.read_bytes())
    array = fake_image((BLUE, (20, 20, 80, 80)))
    results = list(
        analyze_images(pipeline, [good, empty, broken, upload, array], batch_size=2, workers=2)
    )
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.source for r in results] == [
        str(good),
        str(empty),
        str(broken),
        "upload.png",
        "<array #4>",
    ]
    assert [len(r.faces) for r in results] == [2, 0, 0, 2, 1]
    assert results[2].error is not None and results[2].error.code == "corrupt_image"
    assert results[0].sha256 == results[3].sha256  # same bytes, path or upload
    assert results[0].primary is not None
    assert results[0].primary_face is results[0].faces[results[0].primary]


def test_models_run_once_per_batch(pipeline, detector) -> None:
    images = [fake_image((RED, (10, 10, 60, 60))) for _ in range(10)]
    results = list(analyze_images(pipeline, images, batch_size=4, workers=0))
    assert len(results) == 10 and detector.batches == [4, 4, 2]


def test_primary_and_detect_only_modes(pipeline) -> None:
    two = fake_image((RED, (10, 10, 40, 40)), (GREEN, (80, 10, 190, 110)))
    (primary,) = analyze_images(pipeline, [two], embed="primary", workers=0)
    assert len(primary.detections) == 2 and len(primary.faces) == 1
    assert primary.primary_face is not None
    assert primary.primary_face.detection.bbox_xyxy == (80.0, 10.0, 190.0, 110.0)
    (detected,) = analyze_images(pipeline, [two], embed="none", workers=0)
    assert len(detected.detections) == 2 and detected.faces == ()


def test_streams_lazily_from_an_endless_source(pipeline) -> None:
    endless = (fake_image((RED, (10, 10, 60, 60))) for _ in itertools.count())
    stream = analyze_images(pipeline, endless, batch_size=8, workers=2)
    first = list(itertools.islice(stream, 20))
    stream.close()
    assert [r.index for r in first] == list(range(20))


def test_a_screen_skips_before_any_model_runs(pipeline, detector) -> None:
    images = [fake_image((RED, (10, 10, 60, 60))), fake_image((GREEN, (10, 10, 60, 60)))]
    results = list(
        analyze_images(
            pipeline, images, screen=lambda chunk: ["nope", None][: len(chunk)], workers=0
        )
    )
    assert results[0].skipped == "nope" and results[0].faces == ()
    assert results[1].skipped is None and len(results[1].faces) == 1
    assert detector.batches == [1]


def test_enrollment_skips_images_already_enrolled(pipeline) -> None:
    red, green = fake_image((RED, (10, 10, 60, 60))), fake_image((GREEN, (10, 10, 60, 60)))
    with Gallery.open(":memory:") as gallery:
        first = enroll_images(pipeline, gallery, "ada", [red, green], workers=0)
        assert len(first.enrolled) == 2
        again = enroll_images(pipeline, gallery, "ada", [red, green, red], workers=0)
        assert again.enrolled == ()
        assert [s.reason for s in again.skipped] == ["already_enrolled"] * 3
        other = enroll_images(pipeline, gallery, "bob", [red], workers=0)
        assert [s.reason for s in other.skipped] == ["enrolled_as_other_person"]
        assert "'ada'" in other.skipped[0].message
        shared = enroll_images(pipeline, gallery, "bob", [red], allow_shared_images=True)
        assert len(shared.enrolled) == 1
        elsewhere = enroll_images(pipeline, gallery, "ada", [red], collection="other", workers=0)
        assert len(elsewhere.enrolled) == 1  # collections are separate galleries of names
        assert gallery.size() == 4


def test_one_run_never_enrolls_the_same_image_twice(pipeline) -> None:
    red = fake_image((RED, (10, 10, 60, 60)))
    with Gallery.open(":memory:") as gallery:
        outcomes = list(
            enroll_stream(pipeline, gallery, [("ada", red), ("ada", red), ("bob", red)], workers=0)
        )
        assert [getattr(o, "reason", "enrolled") for o in outcomes] == [
            "enrolled",
            "already_enrolled",
            "enrolled_as_other_person",
        ]
        assert gallery.size() == 1


def test_identify_streams_every_face_at_one_threshold(pipeline) -> None:
    with Gallery.open(":memory:") as gallery:
        enroll_images(pipeline, gallery, "red", [fake_image((RED, (10, 10, 60, 60)))], workers=0)
        probes = [
            fake_image((RED, (50, 50, 100, 100)), (GREEN, (120, 10, 180, 70))),
            fake_image(),
        ]
        found = list(identify_images(pipeline, gallery, probes, workers=0))
        assert [len(f.faces) for f in found] == [2, 0]
        people = sorted(
            (f.face.detection.bbox_xyxy[0], f.identification.person) for f in found[0].faces
        )
        assert people == [(50.0, "red"), (120.0, None)]
        assert found[0].threshold is found[1].threshold
        assert found[0].threshold.gallery_size == 1


def test_a_dry_run_reads_images_but_runs_no_model(pipeline, detector, tmp_path) -> None:
    from faceprint.recognition import plan_enrollment, preview_enrollment

    red = fake_image((RED, (10, 10, 60, 60)))
    for name in ("ada/1.png", "ada/2.png", "bob/1.png"):
        (tmp_path / "tree" / name).parent.mkdir(parents=True, exist_ok=True)
        _png(tmp_path / "tree" / name, red if name != "ada/2.png" else fake_image())
    (tmp_path / "tree" / "bob" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    plan = plan_enrollment([tmp_path / "tree"], person=None)
    rows = list(preview_enrollment(plan, None))
    assert [(p, i.name, s.reason if s else None) for p, i, s in rows] == [
        ("ada", "1.png", None),
        ("ada", "2.png", None),
        ("bob", "1.png", "enrolled_as_other_person"),  # the same bytes as ada/1.png
        ("bob", "2.png", "corrupt_image"),
    ]
    with Gallery.open(":memory:") as gallery:
        enroll_images(pipeline, gallery, "ada", [tmp_path / "tree" / "ada" / "1.png"])
        detector.batches.clear()
        rows = list(preview_enrollment(plan, gallery))
        assert rows[0][2] is not None and rows[0][2].reason == "already_enrolled"
        assert detector.batches == []
