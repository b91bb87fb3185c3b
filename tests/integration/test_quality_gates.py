"""Quality gates on real faces: deliberately bad copies of a good photo are refused at
enrollment with the right reason."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from tests.shared_paths import SAMPLES

from faceprint.core.quality import QualityPolicy
from faceprint.gallery import Gallery
from faceprint.media.images import load_image
from faceprint.recognition import enroll_images

pytestmark = pytest.mark.integration


def _save(path, pixels):
    Image.fromarray(pixels).save(path)
    return path


def test_bad_copies_are_rejected_with_reasons(pipeline, tmp_path):
    good = load_image(SAMPLES / "probes" / "obama1.jpg")
    height, width = good.shape[:2]
    files = {
        "good": _save(tmp_path / "good.png", good),
        "tiny": _save(
            tmp_path / "tiny.png",
            cv2.resize(good, (width // 12, height // 12), interpolation=cv2.INTER_AREA),
        ),
        "blurred": _save(tmp_path / "blurred.png", cv2.GaussianBlur(good, (0, 0), 0.008 * width)),
        "dark": _save(tmp_path / "dark.png", (good.astype(np.float32) * 0.1).astype(np.uint8)),
    }
    with Gallery.open(":memory:") as gallery:
        report = enroll_images(
            pipeline, gallery, "obama", list(files.values()), quality=QualityPolicy()
        )
    enrolled = {e.source for e in report.enrolled}
    reasons = {s.source.rsplit("/", 1)[-1]: s.reason for s in report.skipped}
    assert enrolled == {str(files["good"])}
    assert reasons == {
        "tiny.png": "face_too_small",
        "blurred.png": "blurry",
        "dark.png": "too_dark",
    }


def test_analyze_reports_quality(pipeline):
    faces = pipeline.analyze(load_image(SAMPLES / "groups" / "two_people.jpg"), quality=True)
    assert len(faces) == 2
    for f in faces:
        q = f.quality
        assert q is not None and q.acceptable
        assert q.face_size > 100 and 0.3 < q.score <= 1.0
        assert q.yaw is not None and abs(q.yaw) < 30
