"""``faceprint degrade``: a folder tree through synthetic degradations (no models load).

The environment points the model store at an empty cache with no mirror, offline: a
command that tried to load a model would fail with model_not_available (exit 5).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli.app import COMMANDS, build
from faceprint.cli.main import app
from faceprint.eval.degrade import KINDS, degrade, image_seed
from faceprint.media.images import load_image


@pytest.fixture()
def run(offline_run):
    return offline_run


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """photos/<person>/<image>: two PNGs, one JPEG, one file that is not an image."""
    root = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i, name in enumerate(["ada/a.png", "ada/b.jpg", "bob/c.png"]):
        coarse = rng.uniform(20, 230, (8, 6 + i, 3)).astype(np.float32)
        pixels = cv2.resize(coarse, (48 + 8 * i, 64), interpolation=cv2.INTER_CUBIC)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), np.clip(pixels, 0, 255).astype(np.uint8))
    return root


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_degrade_writes_the_tree_then_keeps_it(run, photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("degrade", str(photos), str(out), "--chain", "motion_blur:2+noise:1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines() == [
        f"motion_blur:2+noise:1: 3 image(s) written, 0 kept (already there), 0 failed -> {out}"
    ]
    assert set(_tree(out)) == {"ada/a.png", "ada/b.jpg", "bob/c.png"}
    for name in ("ada/a.png", "bob/c.png"):  # PNG is lossless: exactly the library's result
        expected = degrade(
            load_image(photos / name), "motion_blur:2+noise:1", seed=image_seed(0, name)
        )
        assert np.array_equal(load_image(out / name), expected), name
    first = _tree(out)

    again = run("degrade", str(photos), str(out), "--chain", "motion_blur:2+noise:1", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {
        "source": str(photos),
        "target": str(out),
        "chain": "motion_blur:2+noise:1",
        "seed": 0,
        "written": 0,
        "kept": 3,
        "failed": [],
    }
    assert _tree(out) == first

    redone = run("degrade", str(photos), str(out), "--chain", "fog:3", "--overwrite", "--json")
    assert redone.exit_code == 0, redone.output
    assert (json.loads(redone.stdout)["written"], json.loads(redone.stdout)["kept"]) == (3, 0)
    assert all(_tree(out)[n] != first[n] for n in first)


def test_the_seed_decides_the_result(run, photos: Path, tmp_path: Path) -> None:
    for name, seed in (("s1", "1"), ("s1-again", "1"), ("s2", "2")):
        result = run(
            "degrade", str(photos), str(tmp_path / name), "--chain", "noise", "--seed", seed
        )
        assert result.exit_code == 0, result.output
    assert _tree(tmp_path / "s1") == _tree(tmp_path / "s1-again")
    assert all(_tree(tmp_path / "s1")[n] != b for n, b in _tree(tmp_path / "s2").items())


def test_unreadable_images_are_listed_not_fatal(run, photos: Path, tmp_path: Path) -> None:
    (photos / "bob" / "broken.jpg").write_text("not a JPEG")
    out = tmp_path / "out"
    text = run("degrade", str(photos), str(out), "--chain", "jpeg:1")
    assert text.exit_code == 0, text.output
    assert "3 image(s) written" in text.stdout and "1 failed" in text.stdout
    failures = [line for line in text.stderr.splitlines() if line.startswith("failed: ")]
    assert len(failures) == 1 and "broken.jpg" in failures[0]
    assert "Traceback" not in text.output

    as_json = run("degrade", str(photos), str(tmp_path / "j"), "--chain", "jpeg:1", "--json")
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["written"] == 3 and len(payload["failed"]) == 1
    assert set(payload["failed"][0]) == {"path", "message"}
    assert payload["failed"][0]["path"].endswith("broken.jpg")


def test_kinds_lists_every_kind_with_its_parameter_per_severity(run) -> None:
    text = run("degrade", "--kinds")
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert len(lines) == 1 + len(KINDS)
    for kind, (_, values, meaning) in KINDS.items():
        row = next(line for line in lines if line.split()[0] == kind)
        assert " / ".join(f"{v:.3g}" for v in values) in row and meaning in row, row
    as_json = run("degrade", "--kinds", "--json")
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == [
        {
            "kind": kind,
            "parameter": meaning,
            "severity": {str(s): v for s, v in zip((1, 2, 3), values, strict=True)},
        }
        for kind, (_, values, meaning) in KINDS.items()
    ]


def _bad(photos: Path, tmp: Path) -> list[tuple[list[str], int, str]]:
    out = str(tmp / "out")
    return [
        (["degrade", str(photos), out, "--chain", "nois:1"], 2, "unknown degradation 'nois'"),
        (["degrade", str(photos), out, "--chain", "noise:4"], 2, "severity"),
        (["degrade", str(photos), out, "--chain", "noise:x"], 2, "severity"),
        (["degrade", str(photos), str(photos / "sub"), "--chain", "noise"], 2, "inside"),
        (["degrade", str(photos), str(photos), "--chain", "noise"], 2, "inside"),
        (["degrade", str(tmp / "nosuch"), out, "--chain", "noise"], 2, "no such file or folder"),
        (["degrade", str(photos), out], 2, "--chain"),
        (["degrade", str(photos), "--chain", "noise"], 2, "SRC and DST"),
        (["degrade", "--chain", "noise"], 2, "SRC and DST"),
        (["degrade", str(photos), out, "--kinds"], 2, "--kinds"),
        (["degrade", str(photos), out, "--chain", "noise", "--seed", "-1"], 2, "--seed"),
        (["degrade", str(photos), out, "--chain", "noise", "--bogus"], 2, "No such option"),
    ]


def test_bad_invocations_fail_in_one_line_and_write_nothing(run, photos, tmp_path) -> None:
    for args, code, needle in _bad(photos, tmp_path):
        result = run(*args)
        where = f"faceprint {' '.join(args)}"
        assert result.exit_code == code, f"{where}: exit {result.exit_code}\n{result.output}"
        assert "Traceback" not in result.output, where
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error ("), f"{where}: {lines}"
        assert needle.lower() in lines[0].lower(), f"{where}: {lines[0]}"
        as_json = run(*args, "--json")
        payload = json.loads(as_json.stdout)
        assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}, where
        assert as_json.exit_code == code, where
    assert not (tmp_path / "out").exists() and not (photos / "sub").exists()


def test_degrade_is_a_registered_command() -> None:
    assert COMMANDS["degrade"] == "degrade"
    result = CliRunner().invoke(app, ["--help"])
    assert "degrade" in result.stdout
    alone = build(["degrade", "--kinds"])  # the fast path registers just this command
    assert [c.name for c in alone.registered_commands] == ["degrade"]
