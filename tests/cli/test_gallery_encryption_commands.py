"""``faceprint gallery keygen|encrypt|rekey|decrypt`` and ``--gallery-key`` /
``FACEPRINT_GALLERY_KEY`` on galleries made without models (random unit vectors)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli.main import app
from faceprint.gallery import Gallery
from faceprint.gallery.records import FaceRecord
from faceprint.types import Embedding

EXIT_WRONG_KEY = 6
EXIT_KEY_UNAVAILABLE = 8


@pytest.fixture()
def vectors() -> np.ndarray:
    v = np.random.default_rng(11).standard_normal((6, 128)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture()
def gallery(tmp_path: Path, vectors: np.ndarray) -> Path:
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        for i, v in enumerate(vectors):
            g.add_faces(f"p{i}", [FaceRecord(Embedding(v, "sface"), f"img{i}.jpg")])
    return path


@pytest.fixture()
def run(tmp_path: Path):
    base = {"FACEPRINT_HOME": str(tmp_path / "home"), "FACEPRINT_OFFLINE": "1"}

    def invoke(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(app, list(args), env={**base, **(env or {})})

    return invoke


def _keygen(run, path: Path) -> str:
    made = run("gallery", "keygen", str(path), "--json")
    assert made.exit_code == 0, made.output
    return str(json.loads(made.stdout)["key_id"])


def _clear(path: Path, vectors: np.ndarray) -> bool:
    data = path.read_bytes() + (
        Path(f"{path}-wal").read_bytes() if Path(f"{path}-wal").exists() else b""
    )
    return any(v.astype("<f4").tobytes()[:16] in data for v in vectors)


def test_keygen_writes_a_private_key_and_never_overwrites(run, tmp_path) -> None:
    key = tmp_path / "keys" / "g.key"
    key_id = _keygen(run, key)
    assert len(key_id) == 16
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64
    again = run("gallery", "keygen", str(key))
    assert again.exit_code == 2 and "never overwritten" in again.stderr


def test_encrypt_list_rekey_decrypt_round_trip(run, gallery, tmp_path, vectors) -> None:
    old, new = tmp_path / "old.key", tmp_path / "new.key"
    old_id, new_id = _keygen(run, old), _keygen(run, new)
    assert _clear(gallery, vectors)
    done = run("gallery", "encrypt", "-g", str(gallery), "--key", f"file:{old}", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) | {"seconds": 0} == {
        "path": str(gallery),
        "action": "encrypt",
        "faces": 6,
        "changed": True,
        "key_id": old_id,
        "seconds": 0,
    }
    assert not _clear(gallery, vectors)
    again = run("gallery", "encrypt", "-g", str(gallery), "--key", str(old))
    assert again.exit_code == 0 and "already encrypted" in again.stdout
    listed = run("--gallery-key", f"file:{old}", "gallery", "list", "-g", str(gallery), "--json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.stdout)["persons"]) == 6
    rekeyed = run("gallery", "rekey", "-g", str(gallery), "--key", str(old), "--new-key", str(new))
    assert rekeyed.exit_code == 0, rekeyed.output
    assert f"key id {new_id}" in rekeyed.stdout
    by_env = run("gallery", "list", "-g", str(gallery), env={"FACEPRINT_GALLERY_KEY": str(new)})
    assert by_env.exit_code == 0 and "6 person(s)" in by_env.stdout
    plain = run("gallery", "decrypt", "-g", str(gallery), "--key", str(new))
    assert plain.exit_code == 0 and "decrypted 6" in plain.stdout
    assert _clear(gallery, vectors)
    assert run("gallery", "list", "-g", str(gallery)).exit_code == 0


def test_wrong_and_missing_keys_exit_with_their_codes(run, gallery, tmp_path) -> None:
    right, wrong = tmp_path / "right.key", tmp_path / "wrong.key"
    right_id, wrong_id = _keygen(run, right), _keygen(run, wrong)
    assert run("gallery", "encrypt", "-g", str(gallery), "--key", str(right)).exit_code == 0
    bad = run("--gallery-key", str(wrong), "gallery", "list", "-g", str(gallery))
    assert bad.exit_code == EXIT_WRONG_KEY
    assert right_id in bad.stderr and wrong_id in bad.stderr
    missing = run("gallery", "list", "-g", str(gallery))
    assert missing.exit_code == EXIT_KEY_UNAVAILABLE
    assert "--gallery-key" in missing.stderr and "FACEPRINT_GALLERY_KEY" in missing.stderr
    gone = run("--gallery-key", str(tmp_path / "nope.key"), "gallery", "list", "-g", str(gallery))
    assert gone.exit_code == EXIT_KEY_UNAVAILABLE and "does not exist" in gone.stderr
    as_json = run("gallery", "decrypt", "-g", str(gallery), "--key", str(wrong), "--json")
    assert as_json.exit_code == EXIT_WRONG_KEY
    assert json.loads(as_json.stdout)["error"]["code"] == "wrong_key"
    no_key = run("gallery", "encrypt", "-g", str(gallery))
    assert no_key.exit_code == EXIT_KEY_UNAVAILABLE and "keygen" in no_key.stderr


def test_export_of_an_encrypted_gallery_needs_clear_templates(run, gallery, tmp_path) -> None:
    key = tmp_path / "g.key"
    _keygen(run, key)
    assert run("gallery", "encrypt", "-g", str(gallery), "--key", str(key)).exit_code == 0
    archive = tmp_path / "a.zip"
    refused = run("--gallery-key", str(key), "gallery", "export", str(archive), "-g", str(gallery))
    assert refused.exit_code != 0 and "--clear-templates" in refused.stderr
    assert not archive.exists()
    given = run(
        "--gallery-key",
        str(key),
        "gallery",
        "export",
        str(archive),
        "-g",
        str(gallery),
        "--clear-templates",
    )
    assert given.exit_code == 0, given.output
