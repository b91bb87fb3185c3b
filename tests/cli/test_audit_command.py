"""``faceprint audit`` end to end on a small LFW tree: every part, the real service
attacked over HTTP, the report files written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.shared_paths import LFW

pytestmark = pytest.mark.integration


@pytest.fixture()
def small_lfw(tmp_path: Path) -> Path:
    images = LFW / "images"
    if not images.is_dir():
        pytest.skip("the shared LFW images are not available")
    root = tmp_path / "lfw"
    root.mkdir()
    people = sorted(p for p in images.iterdir() if p.is_dir())
    rich = [p for p in people if len(list(p.glob("*.jpg"))) >= 3][:4]
    for person in rich + people[:40]:
        if not (root / person.name).exists():
            (root / person.name).symlink_to(person)
    return root


def test_audit_runs_every_part_against_the_service(model_run, small_lfw, tmp_path) -> None:
    out = tmp_path / "report"
    result = model_run(
        "audit", str(small_lfw), "--out", str(out), "--targets", "1", "--budget", "30",
        "--space-images", "50", "--modes", "exact,defaults", "--cache", str(tmp_path / "c"),
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"masters", "wolves", "impersonation", "inversion", "nonface"} <= set(report)
    for master in report["masters"].values():
        coverage = master["coverage"]
        assert len(coverage) == 10 and coverage == sorted(coverage) and coverage[-1] <= 1.0
        assert coverage[0] >= master["face_coverage"][0]  # optimised ≥ the best real face
    exact, defaults = report["inversion"]["modes"]
    assert exact["mode"] == "exact" and exact["runs"][0]["queries_sent"] == 30
    assert all(s is not None for s in exact["best_scores"][0])
    run = defaults["runs"][0]
    refused = [e["event"] for e in run["security_events"]]
    assert "target_budget_exhausted" in refused or defaults["attacked_matches"][0] > 0
    assert report["nonface"]["inputs"] > 20
    for name in ("audit.json", "audit.md", "audit.png", "reconstructions.png"):
        assert (out / name).stat().st_size > 0
    assert "## Score-only model inversion" in (out / "audit.md").read_text()
    again = model_run(
        "audit", str(small_lfw), "--out", str(out), "--parts", "masters",
        "--cache", str(tmp_path / "c"), "--json",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    masters = json.loads(again.stdout)["masters"]  # from the cached faces, seeded
    assert {n: m["coverage"] for n, m in masters.items()} == {
        n: m["coverage"] for n, m in report["masters"].items()
    }


def test_audit_refuses_bad_options_before_loading_models(offline_run, tmp_path) -> None:
    bad = offline_run("audit", str(tmp_path), "--parts", "masters,telepathy")
    assert bad.exit_code == 2 and "--parts" in bad.output
    assert offline_run("audit", str(tmp_path / "missing")).exit_code != 0
