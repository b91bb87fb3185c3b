"""The catalog's fairness score adjusters: listed, digest-checked, tied to their model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceprint.environment import Environment
from faceprint.errors import ChecksumMismatchError, ConfigError, ModelMismatchError
from faceprint.models.adjusters import AdjusterCard, adjuster_cards, load_adjuster
from faceprint.service.settings import ServiceSettings


def test_every_catalog_adjuster_loads_and_keeps_scores_finite_and_ordered() -> None:
    cards = adjuster_cards()
    assert {"sface-faircal-20", "sface-gender-thresholds", "sface-gender-centroid"} <= set(cards)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    for name, card in cards.items():
        adjuster = load_adjuster(name, model_id=card.model)
        assert adjuster.method == card.method and adjuster.model_id == card.model
        scores = adjuster.scores(x, x)
        assert np.all(np.isfinite(scores))
        # one probe against faces that differ only in similarity: order is kept.
        ramp = np.linspace(-0.2, 0.9, 12)
        probe = x[0]
        other = x[1] - (x[1] @ probe) * probe
        other /= np.linalg.norm(other)
        rows = ramp[:, None] * probe + np.sqrt(1 - ramp**2)[:, None] * other
        if not hasattr(adjuster, "transform"):  # partition: same parts along the ramp
            parts = adjuster.assign(rows.astype(np.float32))
            if len(set(parts.tolist())) == 1:
                assert np.all(np.diff(adjuster.scores(probe[None], rows)[0]) > 0)


def test_a_tampered_file_fails_its_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = adjuster_cards()["sface-faircal-20"]
    copy = tmp_path / "copy.json"
    copy.write_text(card.path.read_text("utf-8").replace("0.", "0.0", 1), "utf-8")
    monkeypatch.setattr(AdjusterCard, "path", property(lambda self: copy))
    with pytest.raises(ChecksumMismatchError, match="sha256"):
        load_adjuster("sface-faircal-20", model_id="sface")


def test_wrong_model_unknown_name_and_user_files(tmp_path: Path) -> None:
    with pytest.raises(ModelMismatchError, match="fitted for 'sface'"):
        load_adjuster("sface-faircal-20", model_id="reid-0095")
    with pytest.raises(ConfigError, match="the catalog has"):
        load_adjuster("no-such-adjuster", model_id="sface")
    own = tmp_path / "mine.json"
    own.write_text(adjuster_cards()["sface-gender-centroid"].path.read_text("utf-8"), "utf-8")
    assert load_adjuster(str(own), model_id="sface").method == "centroid-1"
    with pytest.raises(ModelMismatchError):
        load_adjuster(str(own), model_id="other")
    own.write_text(json.dumps({"format": "x"}), "utf-8")
    with pytest.raises(ConfigError, match="not a faceprint score adjuster"):
        load_adjuster(str(own), model_id="sface")
    with pytest.raises(ConfigError, match="no score adjuster file"):
        load_adjuster(str(tmp_path / "missing.json"), model_id="sface")


def test_the_environment_names_the_services_adjuster() -> None:
    env = Environment.read({"FACEPRINT_FAIRNESS": "sface-gender-thresholds"})
    assert env.fairness == "sface-gender-thresholds"
    assert ServiceSettings.from_env(env).pipeline.fairness == "sface-gender-thresholds"
    assert ServiceSettings.from_env(Environment.read({})).pipeline.fairness is None
