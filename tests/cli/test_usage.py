"""Bad invocations, as a user types them: exit 2 (or the error kind's code), one line on
stderr, JSON on stdout with --json, no traceback — and before any model loads.

The environment points the model store at an empty cache with no mirror, offline: had
any command tried to load a model, it would fail with model_not_available (exit 5)
instead of the code asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.shared_paths import SAMPLES
from typer.testing import CliRunner

from faceprint.cli.main import app
from faceprint.gallery import Gallery
from faceprint.gallery.records import FaceRecord
from faceprint.types import Embedding

KNOWN = SAMPLES / "known"
PROBE = SAMPLES / "probes" / "obama1.jpg"


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "FACEPRINT_HOME": str(tmp_path / "empty-home"),
        "FACEPRINT_MODEL_MIRROR": str(tmp_path / "no-mirror"),
        "FACEPRINT_OFFLINE": "1",
        "FACEPRINT_GALLERY": str(tmp_path / "default.db"),
    }


@pytest.fixture()
def pinned(tmp_path: Path) -> Path:
    """A gallery pinned to sface with one random face (made without any model)."""
    path = tmp_path / "pinned.db"
    vector = np.random.default_rng(0).standard_normal(128).astype(np.float32)
    with Gallery.open(path) as gallery:
        gallery.add_faces(
            "someone", [FaceRecord(Embedding(vector / np.linalg.norm(vector), "sface"))]
        )
    return path


def _cases(tmp: Path, pinned: Path) -> list[tuple[list[str], int, str]]:
    return [
        (["enroll", str(tmp / "nosuchdir")], 2, "no such file or folder"),
        (["enroll", "--person", "x", str(KNOWN)], 2, "drop --person"),
        (["enroll", str(SAMPLES)], 2, "nested deeper"),
        (["enroll", str(SAMPLES / "probes")], 2, "top level"),
        (["enroll", str(PROBE)], 2, "without --person"),
        (["enroll", str(KNOWN), str(KNOWN)], 2, "one folder"),
        (["enroll", str(KNOWN), "--json", "--jsonl"], 2, "--json and --jsonl"),
        (["enroll", "--bogus", str(KNOWN)], 2, "No such option"),
        (["identify", str(tmp / "nosuch.jpg")], 2, "no such file or folder"),
        (["identify", str(PROBE), "--gallery", str(tmp / "missing.db")], 6, "no gallery"),
        (
            ["identify", str(PROBE), "--gallery", str(pinned), "--embedder", "sface+reid-0095"],
            6,
            "pinned to model 'sface'",
        ),
        (["enroll", str(KNOWN), "--gallery", str(pinned), "--embedder", "reid-0095"], 6, "pinned"),
        (["verify", str(PROBE)], 2, "Missing argument"),
        (["verify", str(PROBE), str(tmp / "nope.jpg")], 2, "no such file"),
        (["detect"], 2, "Missing argument"),
        (["eval", "identify", "--root", str(tmp / "nosuch")], 2, "no such file or folder"),
        (["eval", "lfw", "--root", str(tmp), "--pairs", str(tmp / "p.txt")], 2, "p.txt"),
        (["gallery", "remove", "--gallery", str(pinned)], 2, "PERSON or --face-id"),
        (["gallery", "list", "--gallery", str(tmp / "missing.db")], 6, "no gallery"),
        (["serve", "--score-decimals", "lots"], 2, "--score-decimals"),
        (["keys", "list", "--keys", str(tmp / "nokeys.db")], 6, "keys"),
        (["identify", str(PROBE), "--top", "0"], 2, "--top"),
    ]


def test_bad_invocations_fail_fast_in_one_line(tmp_path: Path, env, pinned) -> None:
    runner = CliRunner()
    for args, code, needle in _cases(tmp_path, pinned):
        result = runner.invoke(app, args, env=env)
        where = f"faceprint {' '.join(args)}"
        assert result.exit_code == code, f"{where}: exit {result.exit_code}\n{result.output}"
        assert "Traceback" not in result.output, where
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("error (")]
        assert len(errors) == 1, f"{where}: {lines}"
        assert needle.lower() in errors[0].lower(), f"{where}: {errors[0]}"
        assert "model_not_available" not in result.output, f"{where} loaded a model"


def test_errors_are_json_on_stdout_with_json(tmp_path: Path, env, pinned) -> None:
    runner = CliRunner()
    for args, code, _ in _cases(tmp_path, pinned):
        if args[0] in ("serve", "detect", "verify") or "--jsonl" in args:
            continue  # commands without --json, or the --json/--jsonl clash itself
        result = runner.invoke(app, [*args, "--json"], env=env)
        payload = json.loads(result.stdout)
        assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}, args
        assert result.exit_code == code, args


def test_malformed_environment_is_a_configuration_error(tmp_path: Path, env) -> None:
    result = CliRunner().invoke(
        app, ["identify", str(PROBE)], env={**env, "FACEPRINT_OFFLINE": "maybe"}
    )
    assert result.exit_code == 8, result.output
    assert "FACEPRINT_OFFLINE" in result.stderr


def test_every_error_class_has_an_exit_code() -> None:
    from faceprint import errors
    from faceprint.cli.errors import EXIT_CODES, EXIT_USAGE, exit_code_for

    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, Exception)]
    assert errors.LayoutError in classes
    for cls in classes:
        assert exit_code_for(cls("x")) in set(EXIT_CODES.values()), cls
    assert exit_code_for(errors.LayoutError("x")) == EXIT_USAGE
    assert exit_code_for(errors.ImageNotFoundError("x")) == 3
    assert exit_code_for(RuntimeError("x")) == 70


@pytest.mark.parametrize("module", ["faceprint", "faceprint.cli.main"])
def test_python_dash_m_has_every_command(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, check=True
    )
    for name in ("enroll", "identify", "gallery", "eval", "serve", "keys", "video"):
        assert name in result.stdout, name
    version = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("faceprint ")


def test_shell_completion_is_offered() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.output and "--show-completion" in result.output


def test_a_missing_extra_names_the_install_command(tmp_path: Path, env, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if faceprint[service] were absent
    for name in [m for m in sys.modules if m.startswith("faceprint.service")]:
        monkeypatch.delitem(sys.modules, name)
    result = CliRunner().invoke(app, ["serve", "--keys", str(tmp_path / "k.db")], env=env)
    assert result.exit_code == 8, result.output
    assert "pip install 'faceprint[service]'" in result.stderr


def test_completion_lists_subcommands() -> None:
    env = {**os.environ, "_FACEPRINT_COMPLETE": "complete_bash", "COMP_CWORD": "2"}
    env["COMP_WORDS"] = "faceprint gallery ex"
    done = subprocess.run(
        [sys.executable, "-m", "faceprint"], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["export"]


@pytest.mark.parametrize(
    ("args", "variable", "expected"),
    [
        ([], "", None),
        ([], "sface-gender-thresholds", "sface-gender-thresholds"),
        (["--fairness", "mine.json"], "sface-faircal-20", "mine.json"),
    ],
)
def test_serve_passes_the_fairness_adjuster_to_the_service(
    tmp_path: Path, env, monkeypatch, args: list[str], variable: str, expected: str | None
) -> None:
    import importlib

    server = importlib.import_module("faceprint.service.server")  # what serve imports
    seen = []
    monkeypatch.setattr(server, "serve", lambda settings, **kw: seen.append(settings))
    result = CliRunner().invoke(
        app,
        ["serve", "--keys", str(tmp_path / "k.db"), *args],
        env={**env, "FACEPRINT_FAIRNESS": variable},
    )
    assert result.exit_code == 0, result.output
    assert seen[0].pipeline.fairness == expected
