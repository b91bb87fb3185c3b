"""Encrypted search from the command line: keygen, encrypt-probe, search (over the
gallery and over a gallery the client encrypted), decrypt; and the refusals. Real
models, real faces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.shared_paths import SAMPLES

pytestmark = pytest.mark.integration
pytest.importorskip("tenseal")


@pytest.fixture()
def run(model_run):
    return model_run


def ok(result) -> str:
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_keygen_probe_search_decrypt(run, tmp_path: Path) -> None:
    gallery = str(tmp_path / "g.db")
    keys, public = tmp_path / "client.keys", tmp_path / "client.keys.pub"
    ok(run("enroll", str(SAMPLES / "known"), "-g", gallery))
    made = json.loads(ok(run("privacy", "keygen", "--keys", str(keys), "--json")))
    assert public.is_file() and (keys.stat().st_mode & 0o077) == 0
    assert made["dim"] == 128 and made["public_bytes"] == public.stat().st_size
    again = run("privacy", "keygen", "--keys", str(keys))
    assert again.exit_code == 2 and "--force" in again.output

    probe = tmp_path / "probe.fphe"
    ok(
        run(
            "privacy",
            "encrypt-probe",
            str(SAMPLES / "probes" / "obama1.jpg"),
            "-k",
            str(keys),
            "-o",
            str(probe),
        )
    )
    result = tmp_path / "result.fphe"
    said = ok(
        run("privacy", "search", str(probe), "-p", str(public), "-g", gallery, "-o", str(result))
    )
    assert "decision" in said and "FPIR 1.00%" in said
    decided = json.loads(ok(run("privacy", "decrypt", str(result), "-k", str(keys), "--json")))
    assert decided["mode"] == "decision" and decided["matches"] == ["barack_obama"]
    assert "best" not in decided  # decision mode reveals no score

    ok(
        run(
            "privacy",
            "search",
            str(probe),
            "-p",
            str(public),
            "-g",
            gallery,
            "-o",
            str(result),
            "--mode",
            "scores",
        )
    )
    scored = json.loads(ok(run("privacy", "decrypt", str(result), "-k", str(keys), "--json")))
    plain = json.loads(
        ok(run("identify", str(SAMPLES / "probes" / "obama1.jpg"), "-g", gallery, "--json"))
    )
    best = plain[0]["faces"][0]
    assert scored["best"]["person"] == best["person"] == "barack_obama"
    assert scored["best"]["similarity"] == pytest.approx(best["similarity"], abs=1e-4)
    assert scored["threshold"] == pytest.approx(best["threshold"]["similarity"], abs=1e-9)

    sealed = tmp_path / "gallery.fphe"
    ok(run("privacy", "encrypt-gallery", "-k", str(keys), "-g", gallery, "-o", str(sealed)))
    ok(
        run(
            "privacy",
            "search",
            str(probe),
            "-p",
            str(public),
            "--encrypted-gallery",
            str(sealed),
            "-o",
            str(result),
        )
    )
    assert json.loads(ok(run("privacy", "decrypt", str(result), "-k", str(keys), "--json")))[
        "matches"
    ] == ["barack_obama"]

    # refusals: the secret key file sent to the server, decryption with the public keys
    leaked = run("privacy", "search", str(probe), "-p", str(keys), "-g", gallery, "-o", str(result))
    assert leaked.exit_code == 2 and "secret key file" in leaked.output
    public_only = run("privacy", "decrypt", str(result), "-k", str(public))
    assert public_only.exit_code == 6 and "secret key" in public_only.output
    damaged = tmp_path / "damaged.fphe"
    damaged.write_bytes(probe.read_bytes()[:5000])
    broken = run(
        "privacy", "search", str(damaged), "-p", str(public), "-g", gallery, "-o", str(result)
    )
    assert broken.exit_code == 2 and "truncated" in broken.output
