"""Cancelable templates from the command line: enroll and identify under a template key,
refusals of probes under no key, another key or another tenant, and ``gallery reissue``.
Real models, real faces."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from tests.shared_paths import SAMPLES

pytestmark = pytest.mark.integration

PROBE = SAMPLES / "probes" / "obama1.jpg"


@pytest.fixture()
def run(model_run):
    return model_run


def key_file(path: Path) -> str:
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return f"file:{path}"


def who(result) -> str | None:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]["faces"][0]["person"]


def test_enroll_identify_refuse_and_reissue(run, tmp_path: Path) -> None:
    gallery = str(tmp_path / "g.db")
    key_a, key_b = key_file(tmp_path / "a.key"), key_file(tmp_path / "b.key")
    for person in ("barack_obama", "joe_biden"):
        enrolled = run(
            "enroll", str(SAMPLES / "known" / person), "-p", person, "-g", gallery,
            "--template-key", key_a, "--tenant", "acme",
        )  # fmt: skip
        assert enrolled.exit_code == 0, enrolled.output
    listed = json.loads(run("gallery", "list", "-g", gallery, "--json").stdout)
    assert listed["model_id"].startswith("sface+cancelable:")

    same = run("identify", str(PROBE), "-g", gallery, "--json", "--template-key", key_a,
               "--tenant", "acme")  # fmt: skip
    assert who(same) == "barack_obama"
    by_env = run("identify", str(PROBE), "-g", gallery, "--json",
                 FACEPRINT_TEMPLATE_KEY=key_a, FACEPRINT_TEMPLATE_TENANT="acme")  # fmt: skip
    assert who(by_env) == "barack_obama"

    for refused in (
        ("identify", str(PROBE), "-g", gallery),  # no key
        ("identify", str(PROBE), "-g", gallery, "--template-key", key_b, "--tenant", "acme"),
        ("identify", str(PROBE), "-g", gallery, "--template-key", key_a),  # tenant "default"
    ):
        result = run(*refused)
        assert result.exit_code == 6, result.output
        assert "model_mismatch" in result.stderr and "template" in result.stderr

    missing = run("identify", str(PROBE), "-g", gallery, "--template-key", str(tmp_path / "no"))
    assert missing.exit_code == 8 and "does not exist" in missing.stderr
    tenant_alone = run("identify", str(PROBE), "-g", gallery, "--tenant", "acme")
    assert tenant_alone.exit_code == 2

    reissued = run(
        "gallery", "reissue", "-g", gallery, "--template-key", key_a, "--tenant", "acme",
        "--new-template-key", key_b, "--json",
    )  # fmt: skip
    assert reissued.exit_code == 0, reissued.output
    summary = json.loads(reissued.stdout)
    assert summary["changed"] and summary["faces"] >= 2
    new = run("identify", str(PROBE), "-g", gallery, "--json", "--template-key", key_b,
              "--tenant", "acme")  # fmt: skip
    assert who(new) == "barack_obama"
    old = run("identify", str(PROBE), "-g", gallery, "--template-key", key_a, "--tenant", "acme")
    assert old.exit_code == 6

    verify = run(
        "verify", str(PROBE), str(SAMPLES / "probes" / "obama3.jpg"), "--json",
        "--template-key", key_b,
    )  # fmt: skip
    assert verify.exit_code == 0, verify.output
    decision = json.loads(verify.stdout)
    assert decision["is_match"] and decision["model"].startswith("sface+cancelable:")
