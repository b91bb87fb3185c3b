"""Fixtures for CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.shared_paths import MODELS
from typer.testing import CliRunner

from faceprint.cli.main import app


@pytest.fixture()
def offline_run(tmp_path: Path):
    """Invoke the CLI with no models reachable (an empty home, a missing mirror,
    offline): for argument checks that must fail before any model loads."""
    env = {
        "FACEPRINT_HOME": str(tmp_path / "empty-home"),
        "FACEPRINT_MODEL_MIRROR": str(tmp_path / "no-mirror"),
        "FACEPRINT_OFFLINE": "1",
    }

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args), env=env)

    return invoke


@pytest.fixture()
def model_run(tmp_path: Path):
    """Invoke the CLI with the shared model mirror, offline, a fresh home and no key
    variables inherited from the caller's environment; keyword arguments add variables."""
    env = {
        "FACEPRINT_HOME": str(tmp_path / "home"),
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
        "FACEPRINT_TEMPLATE_KEY": "",
        "FACEPRINT_TEMPLATE_TENANT": "",
        "FACEPRINT_GALLERY_KEY": "",
        "FACEPRINT_FAIRNESS": "",
    }
    runner = CliRunner()

    def invoke(*args: str, **extra: str):
        return runner.invoke(app, list(args), env={**env, **extra})

    return invoke
