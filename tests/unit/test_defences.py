"""The hill-climbing detector's statistics, the keys file's added columns and the
defence settings from the environment (pure code, no weights)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from faceprint.environment import Environment
from faceprint.errors import ConfigError
from faceprint.service.defences import AuditLog, HillClimbDetector, _spearman, read_events
from faceprint.service.keys import KeyStore
from faceprint.service.settings import ServiceSettings

TARGET = ("team", "alice")


def _walk(rng: np.random.Generator, n: int, step: float, dim: int = 128) -> np.ndarray:
    """Unit probes, each a small perturbation of the one before (near-duplicates)."""
    start = rng.standard_normal(dim)
    out = [start / np.linalg.norm(start)]
    for _ in range(n - 1):
        nxt = out[-1] + step * rng.standard_normal(dim) / np.sqrt(dim)
        out.append(nxt / np.linalg.norm(nxt))
    return np.array(out, dtype=np.float32)


def _run(detector: HillClimbDetector, probes: np.ndarray, scores: np.ndarray) -> list[int]:
    return [
        i
        for i, (p, s) in enumerate(zip(probes, scores, strict=True))
        if detector.observe("key", TARGET, p, float(s), matched=False) is not None
    ]


def test_spearman_matches_its_definition() -> None:
    assert _spearman(np.arange(10.0)) == pytest.approx(1.0)
    assert _spearman(-np.arange(10.0)) == pytest.approx(-1.0)
    assert _spearman(np.ones(10)) == 0.0
    values = np.array([0.1, 0.3, 0.2, 0.2, 0.5])
    ranks = np.array([0, 3, 1.5, 1.5, 4])
    assert _spearman(values) == pytest.approx(np.corrcoef(np.arange(5), ranks)[0, 1])


def test_a_climbing_run_of_near_duplicates_is_flagged_within_its_window() -> None:
    rng = np.random.default_rng(0)
    probes = _walk(rng, 200, step=0.2)
    scores = 0.05 + 0.001 * np.arange(200) + rng.normal(0, 0.01, 200)  # slow, noisy rise
    flags = _run(HillClimbDetector(), probes, scores)
    assert flags and flags[0] < 64


def test_quantised_and_stalling_climbs_are_still_flagged() -> None:
    rng = np.random.default_rng(1)
    probes = _walk(rng, 300, step=0.2)
    scores = np.round(0.1 + 0.0015 * np.arange(300) + rng.normal(0, 0.01, 300), 2)
    assert _run(HillClimbDetector(), probes, scores)


def test_resent_images_whose_scores_rise_as_the_gallery_grows_are_not_climbing() -> None:
    rng = np.random.default_rng(3)
    photos = _walk(rng, 3, step=0.2)  # a client cycling three photos, each sent in a row
    detector = HillClimbDetector()
    flagged = [
        detector.observe("k", TARGET, photos[(i // 5) % 3], 0.1 + 0.004 * i, matched=False)
        for i in range(200)
    ]
    assert not any(flagged)


@pytest.mark.parametrize("case", ["repeats", "wandering", "distinct_rising"])
def test_legitimate_sequences_are_not_flagged(case: str) -> None:
    """False alarms over many runs stay near the test's 0.1 % level."""
    rng = np.random.default_rng(2)
    flagged = 0
    for _ in range(100):
        detector = HillClimbDetector()
        if case == "repeats":  # one photo re-sent: identical probe and score
            probes = np.repeat(_walk(rng, 1, 0.0), 64, axis=0)
            scores = np.full(64, 0.21)
        elif case == "wandering":  # a camera's frames of someone unenrolled
            probes = _walk(rng, 64, step=0.2)
            scores = rng.normal(0.2, 0.03, 64)
        else:  # many different people, scores happening to rise
            probes = np.array([_walk(rng, 1, 0.0)[0] for _ in range(64)])
            scores = np.linspace(0.0, 0.3, 64)
        flagged += bool(_run(detector, probes, scores))
    assert flagged <= 2


def test_matches_are_not_recorded_and_memory_is_bounded() -> None:
    detector = HillClimbDetector(max_traces=3)
    probe = np.ones(8, dtype=np.float32) / np.sqrt(8)
    for i in range(64):
        assert detector.observe("k", TARGET, probe, 0.9 + i * 1e-3, matched=True) is None
    for i in range(10):
        detector.observe("k", ("c", f"p{i}"), probe, 0.1, matched=False)
    assert len(detector._traces) == 3


def test_audit_log_appends_json_lines(tmp_path) -> None:
    log = AuditLog(tmp_path / "sub" / "audit.jsonl")
    log.write("throttled", key_id="abc")
    log.write("budget_exhausted", key_id="abc", retry_after=3.0)
    (tmp_path / "sub" / "audit.jsonl").open("a").write('{"torn": ')
    events = read_events(tmp_path / "sub" / "audit.jsonl")
    assert [e["event"] for e in events] == ["throttled", "budget_exhausted"]
    assert all("time" in e for e in events)


def test_an_older_keys_file_gains_the_new_columns(tmp_path) -> None:
    path = tmp_path / "keys.db"
    with KeyStore.open(path) as store:
        _, token = store.create("old", ["*:read"])
    conn = sqlite3.connect(path)  # as an older release wrote it: without the columns
    conn.executescript(
        "CREATE TABLE k2 AS SELECT key_id, name, secret_sha256, scopes, rate_limit, "
        "created_at, revoked_at FROM keys; DROP TABLE keys; ALTER TABLE k2 RENAME TO keys;"
    )
    conn.close()
    with KeyStore.open(path) as store:
        key = store.authenticate(token)
        assert key is not None and key.responses is None and key.daily_budget is None
        made, _ = store.create("new", ["*:read"], responses="decision", daily_budget=5)
        assert [k for k in store.list() if k.name == "new"] == [made]
        assert made.responses == "decision"
        with pytest.raises(ConfigError, match="responses"):
            store.create("bad", ["*:read"], responses="everything")
        with pytest.raises(ConfigError, match="budget"):
            store.create("bad", ["*:read"], daily_budget=0)


def test_defence_settings_from_the_environment(tmp_path) -> None:
    env = Environment.read(
        {
            "FACEPRINT_HOME": str(tmp_path),
            "FACEPRINT_SERVICE_RESPONSES": "decision",
            "FACEPRINT_SERVICE_DAILY_BUDGET": "none",
            "FACEPRINT_SERVICE_TARGET_BUDGET": "5",
            "FACEPRINT_SERVICE_HILL_CLIMB": "off",
            "FACEPRINT_SERVICE_VERIFY_PRESET": "high-security",
        }
    )
    settings = ServiceSettings.from_env(env)
    assert settings.responses == "decision" and settings.daily_budget is None
    assert settings.target_budget == 5 and settings.hill_climb is False
    assert settings.verify_fmr == 1e-5
    assert settings.audit_log_path == tmp_path / "audit.jsonl"
    defaults = ServiceSettings.from_env(Environment.read({"FACEPRINT_HOME": str(tmp_path)}))
    assert (defaults.daily_budget, defaults.target_budget, defaults.hill_climb) == (
        10_000,
        20,
        True,
    )
    with pytest.raises(ConfigError, match="preset"):
        ServiceSettings.from_env(Environment.read({"FACEPRINT_SERVICE_VERIFY_PRESET": "lax"}))
