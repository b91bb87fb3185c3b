"""The CLI as a user runs it: real models, real faces, JSON and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tests.bad_images import bad_images
from tests.shared_paths import LFW, MODELS, SAMPLES
from typer.testing import CliRunner

from faceprint.cli.main import app

pytestmark = pytest.mark.integration


@pytest.fixture()
def run(tmp_path_factory):
    home = tmp_path_factory.getbasetemp() / "cli-home"
    env = {
        "FACEPRINT_HOME": str(home),
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
        "FACEPRINT_GALLERY": str(tmp_path_factory.getbasetemp() / "cli-gallery.db"),
    }
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)

    return invoke


def _small_pairs(tmp_path, *, folds, per):
    """A View-2 style pairs file of ``folds`` folds × (``per`` matched + ``per`` mismatched)
    pairs taken from the start of the real LFW folds."""
    lines = (LFW / "pairs.txt").read_text().splitlines()[1:]
    same = [line for line in lines if len(line.split()) == 3]
    diff = [line for line in lines if len(line.split()) == 4]
    body = [f"{folds} {per}"]
    for fold in range(folds):
        start = fold * 300
        body += same[start : start + per] + diff[start : start + per]
    path = tmp_path / "pairs.txt"
    path.write_text("\n".join(body) + "\n")
    return path


def _bad_files(tmp_path):
    files = bad_images()
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return files


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("empty.jpg", "empty_image"),
        ("truncated.jpg", "corrupt_image"),
        ("text.jpg", "unsupported_image"),
        ("one_pixel.png", "image_too_small"),
        ("bomb.png", "image_too_large"),
    ],
)
def test_bad_input_is_a_typed_error_with_exit_code(run, tmp_path, name, code):
    _bad_files(tmp_path)
    result = run("detect", str(tmp_path / name), "--json")
    assert result.exit_code == 3, result.output
    payload = json.loads(result.stdout)
    assert payload[0]["error"] == code
    assert "Traceback" not in result.output
    verify = run("verify", str(tmp_path / name), str(SAMPLES / "probes" / "obama1.jpg"))
    assert verify.exit_code == 3
    assert f"({code})" in verify.stderr


@pytest.mark.parametrize("mode", ["CMYK", "I;16", "L"])
def test_unusual_colour_modes_are_read(run, tmp_path, mode):
    rgb = Image.open(SAMPLES / "probes" / "obama1.jpg").convert("RGB")
    if mode == "CMYK":
        path = tmp_path / "cmyk.jpg"
        rgb.convert("CMYK").save(path, format="JPEG", quality=95)
    elif mode == "I;16":
        path = tmp_path / "gray16.png"
        grey = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(grey).save(path)  # uint16 → a 16-bit PNG
    else:
        path = tmp_path / "grey.jpg"
        rgb.convert("L").save(path, quality=95)
    result = run("detect", str(path), "--json")
    assert result.exit_code == 0, result.output
    faces = json.loads(result.stdout)[0]["faces"]
    assert len(faces) == 1 and faces[0]["score"] > 0.8


def test_verify_json(run):
    result = run(
        "verify",
        str(SAMPLES / "probes" / "obama1.jpg"),
        str(SAMPLES / "probes" / "obama3.jpg"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["is_match"] is True
    assert payload["threshold"]["fmr"] == pytest.approx(1e-3)
    assert payload["similarity"] > payload["threshold"]["similarity"]
    strict = run(
        "verify",
        str(SAMPLES / "probes" / "obama1.jpg"),
        str(SAMPLES / "probes" / "obama3.jpg"),
        "--preset",
        "high-security",
        "--json",
    )
    tight = json.loads(strict.stdout)["threshold"]
    assert tight["fmr"] == pytest.approx(1e-5)
    assert tight["similarity"] > payload["threshold"]["similarity"]
    bad = run("verify", "a.jpg", "b.jpg", "--preset", "lax")
    assert bad.exit_code == 2 and "high-security" in bad.output


def test_no_face_exit_code(run, tmp_path):
    path = tmp_path / "grey.png"
    Image.new("RGB", (320, 240), (128, 128, 128)).save(path)
    result = run("verify", str(path), str(SAMPLES / "probes" / "obama1.jpg"))
    assert result.exit_code == 4
    assert "(no_face)" in result.stderr


def test_enroll_identify_list_remove(run, tmp_path):
    gallery = str(tmp_path / "g.db")
    result = run("enroll", str(SAMPLES / "known"), "--gallery", gallery, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["enrolled"]) >= 6 and report["skipped"] == []

    result = run(
        "identify", str(SAMPLES / "groups" / "two_people.jpg"), "--gallery", gallery, "--json"
    )
    assert result.exit_code == 0, result.output
    faces = sorted(json.loads(result.stdout)[0]["faces"], key=lambda f: f["bbox_xyxy"][0])
    assert [f["person"] for f in faces] == ["barack_obama", "joe_biden"]
    assert all(f["threshold"]["fpir"] == pytest.approx(0.01) for f in faces)

    text = run("identify", str(SAMPLES / "groups" / "two_people.jpg"), "--gallery", gallery)
    lines = [line for line in text.stdout.splitlines() if "two_people.jpg" in line]
    assert len(lines) == 2 and "similarity=" in lines[0] and "threshold=" in lines[0]

    listed = json.loads(run("gallery", "list", "--gallery", gallery, "--json").stdout)
    assert listed["model_id"] == "sface"
    assert {p["name"] for p in listed["persons"]} >= {"barack_obama", "joe_biden"}

    removed = run("gallery", "remove", "joe_biden", "--gallery", gallery, "--json")
    assert removed.exit_code == 0 and json.loads(removed.stdout)["faces_removed"] >= 1
    result = run(
        "identify", str(SAMPLES / "groups" / "two_people.jpg"), "--gallery", gallery, "--json"
    )
    faces = sorted(json.loads(result.stdout)[0]["faces"], key=lambda f: f["bbox_xyxy"][0])
    assert [f["person"] for f in faces] == ["barack_obama", None]

    missing = run("gallery", "remove", "nobody", "--gallery", gallery)
    assert missing.exit_code == 6


def test_gallery_refuses_other_model(run, tmp_path):
    gallery = str(tmp_path / "g.db")
    assert (
        run(
            "enroll",
            str(SAMPLES / "known" / "barack_obama"),
            "--person",
            "obama",
            "--gallery",
            gallery,
        ).exit_code
        == 0
    )
    result = run(
        "identify",
        str(SAMPLES / "probes" / "obama1.jpg"),
        "--gallery",
        gallery,
        "--embedder",
        "sface+reid-0095",
    )
    assert result.exit_code == 6
    assert "model_mismatch" in result.stderr


def test_models_list_and_verify(run):
    listed = json.loads(run("models", "list", "--json").stdout)
    names = {m["name"]: m for m in listed}
    assert names["sface"]["default"] and names["sface"]["commercial"]
    assert not names["scrfd-2.5g"]["commercial"]
    assert run("models", "pull", "--default").exit_code == 0
    verified = json.loads(run("models", "verify", "sface", "yunet", "--json").stdout)
    assert {v["state"] for v in verified} == {"ok"}


def test_non_commercial_model_needs_opt_in(run):
    result = run("models", "pull", "scrfd-2.5g")
    assert result.exit_code == 5
    assert "non-commercial" in result.stderr.lower()


def test_eval_lfw_small(run, tmp_path):
    # Two folds of 5 matched + 5 mismatched pairs taken from the real pairs file.
    pairs = _small_pairs(tmp_path, folds=2, per=5)
    out, plot = tmp_path / "r.json", tmp_path / "roc.png"
    result = run(
        "eval",
        "lfw",
        "--root",
        str(LFW / "images"),
        "--pairs",
        str(pairs),
        "--output",
        str(out),
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["pairs"] == 20 and report["folds"] == 2
    assert report["accuracy_mean"] >= 0.9
    assert report["no_face_images"] == []
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "accuracy" in result.stdout


def test_eval_identify_on_an_lfw_tree(run, tmp_path):
    """Open-set 1:N on a small tree built from LFW: persons with 2+ images are enrolled
    (first image), the rest are mated probes; single-image persons are non-mated."""
    root = tmp_path / "tree"
    people = sorted(p for p in (LFW / "images").iterdir() if p.is_dir())
    multi = [p for p in people if len(list(p.glob("*.jpg"))) >= 2][:25]
    single = [p for p in people if len(list(p.glob("*.jpg"))) == 1][:25]
    for person in multi + single:
        (root / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*.jpg"))[:3]:
            (root / person.name / image.name).symlink_to(image)
    out = tmp_path / "id.json"
    result = run("eval", "identify", "--root", str(root), "--output", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["gallery_size"] == 25 and report["nonmated_probes"] == 25
    assert report["rank1"] >= 0.95
    assert 0.0 <= report["fnir"] <= 0.2
    assert "rank-1" in result.stdout


def test_eval_quality_small(run, tmp_path):
    pairs = _small_pairs(tmp_path, folds=1, per=10)
    out, plot = tmp_path / "erc.json", tmp_path / "erc.png"
    result = run(
        "eval",
        "quality",
        "--root",
        str(LFW / "images"),
        "--pairs",
        str(pairs),
        "--output",
        str(out),
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    points = report["points"]
    assert [p["pairs"] for p in points] == [20, 20, 20, 19, 18, 16]
    assert all(0.0 <= p["fnmr"] <= 1.0 and 0.0 <= p["fmr"] <= 1.0 for p in points)
    assert report["threshold_fmr"] == pytest.approx(1e-3)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_liveness_small(run, tmp_path):
    out = tmp_path / "live.json"
    result = run("eval", "liveness", "--images", str(SAMPLES / "known"), "--output", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["bona_fide"] == 10 and report["threshold"] == 0.5
    assert [name for name, _, _ in report["apcer"]] == [
        "screen_replay",
        "printed_photo",
        "photo_of_photo",
    ]
    assert all(0.0 <= rate <= 1.0 for _, _, rate in report["apcer"])
    assert 0.0 <= report["bpcer"] <= 1.0


def test_keys_create_list_revoke(run, tmp_path):
    keys = str(tmp_path / "keys.db")
    created = run(
        "keys", "create", "ci", "--scope", "team:write", "-s", "*:read", "--keys", keys, "--json"
    )
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    assert key["scopes"] == ["team:write", "*:read"] and key["token"].startswith("fp_")
    listed = run("keys", "list", "--keys", keys, "--json")
    assert [k["key_id"] for k in json.loads(listed.stdout)] == [key["key_id"]]
    assert "token" not in listed.stdout and key["token"] not in listed.stdout
    plain = run("keys", "create", "other", "-s", "x:read", "--keys", keys)
    assert plain.exit_code == 0 and "cannot be shown again" in plain.output
    assert run("keys", "revoke", "ci", "--keys", keys).exit_code == 0
    assert len(json.loads(run("keys", "list", "--keys", keys, "--json").stdout)) == 1
    assert len(json.loads(run("keys", "list", "--all", "--keys", keys, "--json").stdout)) == 2
    bad = run("keys", "create", "x", "-s", "team:admin", "--keys", keys)
    assert bad.exit_code == 8 and "COLLECTION:ROLE" in bad.output
    assert run("keys", "revoke", "nobody", "--keys", keys).exit_code == 6


def test_keys_carry_response_mode_and_budget_and_events_are_listed(run, tmp_path):
    keys = str(tmp_path / "keys.db")
    made = run(
        "keys", "create", "kiosk", "-s", "door:read", "--responses", "decision",
        "--daily-budget", "500", "--keys", keys, "--json",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    key = json.loads(made.stdout)
    assert (key["responses"], key["daily_budget"]) == ("decision", 500)
    bad = run("keys", "create", "x", "-s", "a:read", "--responses", "all", "--keys", keys)
    assert bad.exit_code == 8 and "responses" in bad.output
    assert "no security events" in run("keys", "events", "--keys", keys).output
    from faceprint.service.defences import AuditLog

    AuditLog(tmp_path / "audit.jsonl").write("throttled", key_id=key["key_id"])
    AuditLog(tmp_path / "audit.jsonl").write("throttled", key_id="other")
    listed = run("keys", "events", "--key", key["key_id"], "--keys", keys, "--json")
    assert [e["key_id"] for e in json.loads(listed.stdout)] == [key["key_id"]]


def test_serve_refuses_bad_options_before_starting(run, tmp_path):
    result = run("serve", "--score-decimals", "lots", "--keys", str(tmp_path / "k.db"))
    assert result.exit_code == 2 and "--score-decimals" in result.output


def test_identify_streams_json_lines_in_input_order(run, tmp_path):
    gallery = str(tmp_path / "g.db")
    assert run("enroll", str(SAMPLES / "known"), "--gallery", gallery).exit_code == 0
    probes = tmp_path / "probes"
    probes.mkdir()
    names = sorted(p.name for p in (SAMPLES / "probes").iterdir())
    for name in names:
        (probes / name).symlink_to(SAMPLES / "probes" / name)
    (probes / "zz_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    lines = run("identify", str(probes), "--gallery", gallery, "--jsonl")
    assert lines.exit_code == 0, lines.output
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert [r["image"].rsplit("/", 1)[-1] for r in rows] == [*names, "zz_broken.jpg"]
    assert rows[-1]["error"] == "corrupt_image"
    by_name = {r["image"].rsplit("/", 1)[-1]: r for r in rows}
    assert by_name["obama1.jpg"]["faces"][0]["person"] == "barack_obama"
    array = run("identify", str(probes), "--gallery", gallery, "--json")
    assert json.loads(array.stdout) == rows
    text = run("identify", str(probes), "--gallery", gallery)
    assert "corrupt_image" in text.stderr and "obama1.jpg" in text.stdout


def test_enroll_dry_run_loads_nothing_and_writes_nothing(run, tmp_path):
    gallery = tmp_path / "g.db"
    first = run("enroll", str(SAMPLES / "known"), "--gallery", str(gallery), "--dry-run", "--json")
    assert first.exit_code == 0, first.output
    plan = json.loads(first.stdout)
    assert plan["would_enroll"] == 10 and plan["would_skip"] == 0 and not gallery.exists()
    assert (
        run(
            "enroll",
            str(SAMPLES / "known" / "barack_obama"),
            "-p",
            "barack_obama",
            "--gallery",
            str(gallery),
        ).exit_code
        == 0
    )
    again = json.loads(
        run(
            "enroll", str(SAMPLES / "known"), "--gallery", str(gallery), "--dry-run", "--json"
        ).stdout
    )
    skips = {i["image"].rsplit("/", 1)[-1]: i["skip"] for i in again["items"] if i["skip"]}
    assert skips == {"obama.jpg": "already_enrolled", "obama2.jpg": "already_enrolled"}


def test_identify_takes_the_embedder_from_the_gallery(run, tmp_path):
    gallery = str(tmp_path / "fused.db")
    enrolled = run(
        "enroll",
        str(SAMPLES / "known" / "barack_obama"),
        "-p",
        "obama",
        "--gallery",
        gallery,
        "--embedder",
        "sface+reid-0095",
    )
    assert enrolled.exit_code == 0, enrolled.output
    found = run("identify", str(SAMPLES / "probes" / "obama1.jpg"), "--gallery", gallery, "--json")
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)[0]["faces"][0]["person"] == "obama"
