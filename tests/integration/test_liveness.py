"""Passive presentation-attack detection on the shared anti-spoofing samples.

Four images are enough to show the wiring works, not to claim error rates."""

from __future__ import annotations

import json

import pytest
from tests.shared_paths import DATASETS

from faceprint.media.images import load_image

pytestmark = pytest.mark.integration
ANTISPOOF = DATASETS / "antispoof"


@pytest.mark.parametrize(
    ("name", "live"),
    [
        ("real_T1.jpg", True),
        ("spoof_print_F1.jpg", False),
        ("spoof_replay_F2.jpg", False),
        ("spoof_rgb_fake.jpg", False),
    ],
)
def test_antispoof_samples(pipeline, name, live):
    faces = pipeline.analyze(load_image(ANTISPOOF / name), liveness=True)
    assert len(faces) == 1
    verdict = faces[0].liveness
    assert verdict is not None and verdict.threshold == 0.5
    assert verdict.is_live is live
    # clear margins, not coin flips
    assert (verdict.score > 0.9) if live else (verdict.score < 0.35)


def test_liveness_is_opt_in(pipeline):
    faces = pipeline.analyze(load_image(ANTISPOOF / "real_T1.jpg"))
    assert faces[0].liveness is None


def test_cli_analyze_json(tmp_path):
    from tests.shared_paths import MODELS
    from typer.testing import CliRunner

    from faceprint.cli.main import app

    env = {
        "FACEPRINT_HOME": str(tmp_path / "home"),
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
    }
    result = CliRunner().invoke(app, ["analyze", str(ANTISPOOF), "--json"], env=env)
    assert result.exit_code == 0, result.output
    by_name = {r["image"].rsplit("/", 1)[-1]: r for r in json.loads(result.stdout)}
    assert by_name["real_T1.jpg"]["faces"][0]["liveness"]["is_live"] is True
    assert by_name["spoof_replay_F2.jpg"]["faces"][0]["liveness"]["is_live"] is False


def test_gallery_liveness_policy_rejects_spoofs_at_enroll_and_identify(pipeline):
    from faceprint.gallery import Gallery
    from faceprint.recognition import enroll_images, identify_faces

    with Gallery.open(":memory:") as gallery:
        assert gallery.require_liveness is False
        enroll_images(pipeline, gallery, "subject", [ANTISPOOF / "real_T1.jpg"])
        # Without the policy, the replayed photo of the same person is identified.
        (found,) = identify_faces(pipeline, gallery, load_image(ANTISPOOF / "spoof_replay_F2.jpg"))
        assert found.identification.person == "subject" and found.rejected is None
        gallery.set_require_liveness(True)
        assert gallery.require_liveness is True
        (found,) = identify_faces(pipeline, gallery, load_image(ANTISPOOF / "spoof_replay_F2.jpg"))
        assert found.identification.person is None and found.rejected == "spoof_suspected"
        assert found.identification.best is not None  # the candidate is still shown
        (real,) = identify_faces(pipeline, gallery, load_image(ANTISPOOF / "real_T1.jpg"))
        assert real.identification.person == "subject" and real.rejected is None
        report = enroll_images(pipeline, gallery, "fake", [ANTISPOOF / "spoof_print_F1.jpg"])
        assert [s.reason for s in report.skipped] == ["spoof_suspected"]
        assert report.enrolled == ()
