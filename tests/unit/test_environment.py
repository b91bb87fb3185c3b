"""The environment is read in one module, documented in one table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faceprint.environment import VARIABLES, Environment
from faceprint.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_and_parsing(tmp_path: Path) -> None:
    empty = Environment.read({})
    assert (empty.home, empty.mirror, empty.offline, empty.device, empty.threads) == (
        None,
        None,
        False,
        "auto",
        0,
    )
    env = Environment.read(
        {
            "FACEPRINT_HOME": str(tmp_path),
            "FACEPRINT_OFFLINE": "yes",
            "FACEPRINT_THREADS": "3",
            "FACEPRINT_DEVICE": "CPU",
            "FACEPRINT_SERVICE_SCORE_DECIMALS": "none",
        }
    )
    assert env.offline and env.threads == 3 and env.device == "cpu"
    assert env.gallery_path() == tmp_path.resolve() / "gallery.db"
    assert env.keys_path() == tmp_path.resolve() / "keys.db"
    assert env.gallery_path(tmp_path / "g.db") == tmp_path / "g.db"
    assert env.store_config().home == tmp_path and env.store_config().offline
    assert env.service_score_decimals == "none"
    assert Environment.read({"FACEPRINT_SERVICE_SCORE_DECIMALS": "3"}).service_score_decimals == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FACEPRINT_OFFLINE", "maybe"),
        ("FACEPRINT_THREADS", "two"),
        ("FACEPRINT_THREADS", "-1"),
        ("FACEPRINT_SERVICE_MAX_REQUEST_MB", "lots"),
        ("FACEPRINT_SERVICE_SCORE_DECIMALS", "x"),
    ],
)
def test_malformed_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Environment.read({name: value})


def test_one_module_reads_the_environment_and_the_readme_lists_every_variable() -> None:
    names = {v.name for v in VARIABLES}
    readme = (ROOT / "README.md").read_text()
    table = set(re.findall(r"^\| `(FACEPRINT_[A-Z_]+)`", readme, flags=re.M))
    assert table == names
    src = ROOT / "src" / "faceprint"
    for path in src.rglob("*.py"):
        text = path.read_text()
        if path.name == "environment.py":
            continue
        code = re.sub(r'"""(.|\n)*?"""', "", text)  # docstrings may name variables
        assert not re.search(r"os\.environ|getenv\(", code), path
        for used in re.findall(r"[\"'](FACEPRINT_[A-Z_]+)[\"']", code):
            assert used in names, (path, used)


def test_service_settings_come_from_the_environment(tmp_path: Path) -> None:
    from faceprint.service.settings import MIB, ServiceSettings

    env = Environment.read(
        {
            "FACEPRINT_HOME": str(tmp_path),
            "FACEPRINT_KEYS": str(tmp_path / "k.db"),
            "FACEPRINT_SERVICE_MAX_REQUEST_MB": "5",
            "FACEPRINT_SERVICE_MAX_MEGAPIXELS": "2.5",
            "FACEPRINT_SERVICE_SCORE_DECIMALS": "none",
            "FACEPRINT_SERVICE_RATE_LIMIT": "7/second",
        }
    )
    settings = ServiceSettings.from_env(env, enroll_quality=True, rate_limit=None)
    assert settings.gallery_path == tmp_path.resolve() / "gallery.db"
    assert settings.keys_path == tmp_path / "k.db"
    assert settings.max_request_bytes == 5 * MIB and settings.max_image_pixels == 2_500_000
    assert settings.score_decimals is None and settings.rate_limit == "7/second"
    assert settings.enroll_quality is True  # overrides win; None overrides are ignored
