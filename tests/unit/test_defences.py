"""The hill-climbing detector's statistics, the keys file's added columns and the
defence settings from the environment (pure code, no weights)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from faceprint.environment import Environment
from faceprint.errors import ConfigError
from faceprint.service.defences import AuditLog, HillClimbDetector, read_events, trend_test
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


def test_trend_test_on_plain_series() -> None:
    rising = trend_test(np.arange(20.0))
    assert rising.tau == pytest.approx(1.0) and rising.z > 5 and rising.slope == pytest.approx(1)
    assert rising.level == pytest.approx(19.0)
    assert trend_test(-np.arange(20.0)).z < -5
    assert trend_test(np.ones(20)).z == 0.0


def test_trend_test_agrees_with_pymannkendall() -> None:
    """Hamed and Rao's corrected Mann–Kendall test, checked against the reference
    implementation (where its correction factor is ≥ 1: ours is floored there)."""
    mk = pytest.importorskip("pymannkendall")
    rng = np.random.default_rng(8)
    checked = 0
    for i in range(40):
        n = int(rng.integers(20, 80))
        x = rng.normal(size=n) + 0.03 * i % 5 * np.arange(n) / n
        if i % 3 == 0:
            x = np.cumsum(x)  # strongly autocorrelated
        if i % 4 == 0:
            x = np.round(x, 1)  # ties
        ours, ref = trend_test(x), mk.hamed_rao_modification_test(x)
        assert ours.tau == pytest.approx(ref.Tau)
        assert ours.slope == pytest.approx(ref.slope)
        plain = mk.original_test(x)
        if ref.var_s >= plain.var_s:  # the correction widened the variance: no floor
            assert ours.z == pytest.approx(ref.z, rel=1e-9, abs=1e-9)
            checked += 1
        else:
            assert ours.z == pytest.approx(plain.z)
    assert checked >= 10


def test_autocorrelated_drift_is_discounted() -> None:
    """Scores that drift together (a camera's frames as the head turns) — the plain
    rank test calls such drifts trends; the corrected test mostly does not."""
    rng = np.random.default_rng(6)
    flagged = 0
    for _ in range(200):
        e = rng.normal(0, 0.02, 64)
        drift = np.zeros(64)
        for t in range(1, 64):  # AR(1), φ = 0.9
            drift[t] = 0.9 * drift[t - 1] + e[t]
        flagged += trend_test(drift).z >= 3.09
    assert flagged <= 12  # 8 of these 200; the plain Mann–Kendall test flags 36


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


def test_a_climb_that_crosses_the_threshold_early_is_still_flagged() -> None:
    """An attack that matches after a few failures keeps climbing among matches."""
    rng = np.random.default_rng(4)
    probes = _walk(rng, 200, step=0.2)
    scores = 0.2 + 0.002 * np.arange(200) + rng.normal(0, 0.01, 200)
    detector = HillClimbDetector()
    flags = [
        i
        for i, (p, s) in enumerate(zip(probes, scores, strict=True))
        if detector.observe("k", TARGET, p, float(s), matched=bool(s >= 0.22)) is not None
    ]
    assert flags and flags[0] < 64


def test_a_stream_that_matches_throughout_is_never_flagged() -> None:
    """An enrolled user's frames: near-duplicates, scores rising — but always matching."""
    rng = np.random.default_rng(5)
    probes = _walk(rng, 200, step=0.2)
    detector = HillClimbDetector()
    for i, p in enumerate(probes):
        assert detector.observe("k", TARGET, p, 0.4 + 0.002 * i, matched=True) is None


def test_memory_is_bounded() -> None:
    detector = HillClimbDetector(max_traces=3)
    probe = np.ones(8, dtype=np.float32) / np.sqrt(8)
    for i in range(10):
        detector.observe("k", ("c", f"p{i}"), probe, 0.1, matched=False)
    assert len(detector._traces) == 3


def test_a_cut_to_another_face_starts_a_new_run() -> None:
    """A camera cutting from one unenrolled face to the enrolled one is a step, not a
    climb: the second face starts its own run."""
    rng = np.random.default_rng(9)
    first, second = _walk(rng, 40, step=0.2), _walk(rng, 40, step=0.2)
    detector = HillClimbDetector()
    for p in first:
        assert (
            detector.observe("k", TARGET, p, 0.0 + rng.normal(0, 0.01), False, threshold=0.37)
            is None
        )
    for p in second:
        assert (
            detector.observe("k", TARGET, p, 0.6 + rng.normal(0, 0.01), True, threshold=0.37)
            is None
        )


def test_a_drift_far_below_the_threshold_is_watched_until_it_nears() -> None:
    rng = np.random.default_rng(10)
    probes = _walk(rng, 400, step=0.2)
    scores = -0.2 + 0.0015 * np.arange(400) + rng.normal(0, 0.01, 400)
    detector = HillClimbDetector()
    flags = [
        i
        for i, (p, s) in enumerate(zip(probes, scores, strict=True))
        if detector.observe("k", TARGET, p, float(s), bool(s >= 0.37), threshold=0.37)
    ]
    assert flags, "a climb that goes on is flagged"
    assert scores[flags[0]] + 0.0015 * 64 >= 0.37 - 0.05  # once within a window's reach


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
