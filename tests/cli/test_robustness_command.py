"""``faceprint eval robustness``: bad kinds, severities and folds are refused in one
line with exit 2 before any model loads.

The environment points the model store at an empty cache with no mirror, offline: a
command that got as far as loading a model fails with model_not_available (exit 5),
as the well-formed invocation here shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture()
def run(offline_run):
    return offline_run


@pytest.fixture()
def dataset(tmp_path: Path) -> list[str]:
    """--root and --pairs that exist (the command checks them only after the options)."""
    root = tmp_path / "lfw"
    (root / "Ada").mkdir(parents=True)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("2 1\nAda 1 2\nAda 1 Bob 1\nAda 1 2\nAda 1 Bob 1\n")
    return ["eval", "robustness", "--root", str(root), "--pairs", str(pairs)]


BAD: list[tuple[list[str], str]] = [
    (["--kinds", "nois"], "unknown degradation 'nois'"),
    (["--kinds", "noise,fogg"], "unknown degradation 'fogg'"),
    (["--severity", "4"], "severity must be 1, 2 or 3, got 4"),
    (["--severity", "0"], "severity must be 1, 2 or 3"),
    (["--severity", "x"], "--severity takes 1, 2 or 3"),
    (["--severity", "1,two"], "--severity takes 1, 2 or 3"),
    (["--kinds", "fog", "--severity", "2,5"], "got 5"),
    (["--folds", "a"], "--folds takes numbers and ranges"),
    (["--folds", "1-x"], "not '1-x'"),
    (["--folds", "1,,3"], "--folds takes numbers and ranges"),
    (["--seed", "-1"], "--seed"),
]


@pytest.mark.parametrize(("extra", "needle"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_options_fail_in_one_line_before_any_model_loads(
    run, dataset: list[str], extra: list[str], needle: str
) -> None:
    args = [*dataset, *extra]
    result = run(*args)
    where = f"faceprint {' '.join(args)}"
    assert result.exit_code == 2, f"{where}: exit {result.exit_code}\n{result.output}"
    assert "Traceback" not in result.output, where
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error ("), f"{where}: {lines}"
    assert needle.lower() in lines[0].lower(), f"{where}: {lines[0]}"
    assert "model" not in result.output.lower(), f"{where} got as far as the models"

    as_json = run(*args, "--json")
    assert as_json.exit_code == 2, where
    payload = json.loads(as_json.stdout)
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}, where
    assert needle.lower() in payload["error"]["message"].lower(), where


def test_bad_options_win_over_a_missing_dataset(run, tmp_path: Path) -> None:
    result = run(
        "eval", "robustness", "--root", str(tmp_path / "nosuch"), "--pairs",
        str(tmp_path / "nosuch.txt"), "--kinds", "nois",
    )  # fmt: skip
    assert result.exit_code == 2 and "unknown degradation 'nois'" in result.stderr


def test_well_formed_options_get_as_far_as_the_models(run, dataset: list[str]) -> None:
    """The control: with valid options the command goes on to load its models, which
    this environment cannot provide (so the refusals above came first)."""
    result = run(*dataset, "--kinds", "noise,fog", "--severity", "1,3", "--folds", "1-2")
    assert result.exit_code == 5, result.output
    assert "model_not_available" in result.stderr
