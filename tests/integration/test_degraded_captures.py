"""Degraded captures on real faces with the real models: degradations are measured per
face, motion blur is undone, faces lost in dark noisy photos are found again, and clean
photos are embedded exactly as without restoration."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tests.shared_paths import LFW, MODELS
from typer.testing import CliRunner

from faceprint.eval.datasets import read_pairs
from faceprint.eval.degrade import degrade, image_seed
from faceprint.media.images import load_image
from faceprint.pipeline import FacePipeline

pytestmark = pytest.mark.integration

ROOT = LFW / "images"


@pytest.fixture(scope="module")
def raw(pipeline):
    """The same models with restoration off."""
    return FacePipeline(
        detector=pipeline.detector,
        embedder=pipeline.embedder,
        landmarks=pipeline.landmarks,
        calibration=pipeline.calibration,
    )


def _matched(n: int):
    pairs = [p for p in read_pairs(LFW / "pairs.txt", root=ROOT) if p.same and p.fold == 0]
    return pairs[:n]


def _degraded(path, chain: str):
    relative = path.relative_to(ROOT).as_posix()
    return degrade(load_image(path), chain, seed=image_seed(0, relative))


def _primary(pipe, image):
    face = pipe.primary_face(image)
    return face


def test_clean_photos_are_embedded_exactly_as_without_restoration(pipeline, raw):
    paths = [p.path_a for p in _matched(12)]
    for path in paths:
        image = load_image(path)
        restored = _primary(pipeline, image).embedding.vector
        plain = _primary(raw, image).embedding.vector
        assert np.array_equal(restored, plain), path.name


def test_motion_blur_is_measured_per_face_and_undone(pipeline, raw):
    pairs = _matched(10)
    gain, lengths = [], []
    for pair in pairs:
        a, b = (_degraded(p, "motion_blur:2") for p in (pair.path_a, pair.path_b))
        fixed = [_primary(pipeline, x).embedding.vector for x in (a, b)]
        plain = [_primary(raw, x).embedding.vector for x in (a, b)]
        gain.append(float(fixed[0] @ fixed[1]) - float(plain[0] @ plain[1]))
        report = pipeline.analyze(a, quality=True)[0].quality.degradation
        lengths.append(report.motion_length if "motion_blur" in report.detected else 0.0)
    # a 15-px kernel: measured 14.2–15.3 px on these faces
    assert sum(13.0 <= v <= 17.0 for v in lengths) >= 9, lengths
    # same-person similarity rises on average (measured +0.16: 7 of 10 pairs by 0.12 to
    # 0.31, the other three within ±0.04)
    assert np.mean(gain) > 0.08, gain
    assert sum(g > 0.1 for g in gain) >= 6, gain
    assert min(gain) > -0.1, gain


def test_a_face_lost_in_a_dark_noisy_photo_is_found_again(pipeline, raw):
    path = ROOT / "Bobby_Jackson" / "Bobby_Jackson_0001.jpg"
    dark = _degraded(path, "low_light:2")
    assert raw.detect(dark) == []
    found = pipeline.detect(dark)
    assert len(found) == 1
    x1, y1, x2, y2 = found[0].bbox_xyxy
    assert 60 < (x1 + x2) / 2 < 190 and 40 < (y1 + y2) / 2 < 190  # the centred face


def test_clean_faces_report_no_degradation(pipeline):
    for pair in _matched(6):
        report = pipeline.analyze(load_image(pair.path_a), quality=True)[0].quality.degradation
        assert report is not None
        assert "motion_blur" not in report.detected and "noise" not in report.detected
        assert report.noise < 8.0


@pytest.fixture()
def run(tmp_path_factory):
    env = {
        "FACEPRINT_HOME": str(tmp_path_factory.getbasetemp() / "cli-home"),
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
    }
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app(), list(args), env=env, catch_exceptions=False)

    return invoke


def app():
    from faceprint.cli.main import app as main

    return main


def test_analyze_shows_why_a_face_is_degraded(run, tmp_path):
    path = _matched(1)[0].path_a
    blurred = tmp_path / "blurred.png"
    Image.fromarray(_degraded(path, "motion_blur:2")).save(blurred)
    result = run("analyze", str(blurred))
    assert result.exit_code == 0, result.output
    assert "degraded: motion_blur (" in result.output
    result = run("analyze", str(blurred), "--json")
    face = json.loads(result.stdout)[0]["faces"][0]
    degradation = face["quality"]["degradation"]
    assert "motion_blur" in degradation["detected"]
    assert 13.0 <= degradation["motion_length"] <= 17.0


def test_eval_robustness_as_a_user_runs_it(run, tmp_path):
    lines = (LFW / "pairs.txt").read_text().splitlines()[1:]
    same = [line for line in lines if len(line.split()) == 3]
    diff = [line for line in lines if len(line.split()) == 4]
    body = ["2 4"]
    for fold in range(2):
        body += same[fold * 300 : fold * 300 + 4] + diff[fold * 300 : fold * 300 + 4]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(body) + "\n")
    report, chart = tmp_path / "report.json", tmp_path / "chart.png"
    args = (
        "eval", "robustness", "--root", str(ROOT), "--pairs", str(pairs),
        "--kinds", "motion_blur,noise", "--output", str(report), "--plot", str(chart),
    )  # fmt: skip
    result = run("-q", *args, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    rows = {(r["kind"], r["severity"]): r for r in data["rows"]}
    assert set(rows) == {("clean", 0), ("motion_blur", 2), ("noise", 2)}
    assert data["pairs"] == 16 and data["folds"] == [1, 2]
    assert rows[("clean", 0)]["accuracy"] >= 0.9
    for key in [("motion_blur", 2), ("noise", 2)]:
        row = rows[key]
        assert row["accuracy_drop"] == pytest.approx(
            rows[("clean", 0)]["accuracy"] - row["accuracy"]
        )
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads(report.read_text())
    assert saved["rows"] == data["rows"]
    # the same command again resumes from the report: nothing is measured twice
    again = run("-q", *args, "--json")
    assert again.exit_code == 0
    assert [r["seconds"] for r in json.loads(again.stdout)["rows"]] == [
        r["seconds"] for r in data["rows"]
    ]


def test_enrollment_can_refuse_degraded_captures(run, tmp_path):
    pair = _matched(1)[0]
    folder = tmp_path / "people" / "someone"
    folder.mkdir(parents=True)
    Image.fromarray(load_image(pair.path_a)).save(folder / "sharp.png")
    Image.fromarray(_degraded(pair.path_b, "motion_blur:2")).save(folder / "blurred.png")
    gallery = tmp_path / "g.db"
    result = run(
        "enroll", str(tmp_path / "people"), "-g", str(gallery),
        "--refuse-degraded", "motion_blur", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [e["source"].rsplit("/", 1)[-1] for e in report["enrolled"]] == ["sharp.png"]
    (skipped,) = report["skipped"]
    assert skipped["source"].endswith("blurred.png")
    assert "motion_blur" in skipped["message"]  # the policy's reasons, each named
    bad = run("enroll", str(tmp_path / "people"), "-g", str(gallery), "--refuse-degraded", "fog")
    assert bad.exit_code == 2 and "unknown degradation fog" in bad.output


def test_a_noisy_face_is_low_passed_before_embedding(pipeline, raw):
    """The low-pass brings a noisy face's embedding back towards the clean photo's
    (measured: +0.037 on average, 7 of these 10 photos closer)."""
    chain = "noise:2"
    closer = []
    for pair in _matched(10):
        clean = _primary(raw, load_image(pair.path_a)).embedding.vector
        degraded = _degraded(pair.path_a, chain)
        fixed = _primary(pipeline, degraded).embedding.vector
        plain = _primary(raw, degraded).embedding.vector
        closer.append(float(clean @ fixed) - float(clean @ plain))
    assert np.mean(closer) > 0.015, closer
    assert sum(c > 0 for c in closer) >= 6, closer


def test_a_defocused_face_is_refocused_before_embedding(pipeline, raw):
    """The Gaussian deconvolution brings a defocused face's embedding back towards the
    clean photo's (measured: +0.065 on average, 8 of these 10 photos closer; the gates
    leave the other two alone)."""
    closer = []
    for pair in _matched(10):
        clean = _primary(raw, load_image(pair.path_a)).embedding.vector
        degraded = _degraded(pair.path_a, "defocus:2")
        fixed = _primary(pipeline, degraded).embedding.vector
        plain = _primary(raw, degraded).embedding.vector
        closer.append(float(clean @ fixed) - float(clean @ plain))
    assert np.mean(closer) > 0.03, closer
    assert sum(c > 0 for c in closer) >= 7, closer
    assert min(closer) > -0.01, closer  # none is pushed away
