"""``faceprint gallery`` commands on galleries made without models (random unit vectors)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from faceprint.cli.main import app
from faceprint.gallery import Gallery
from faceprint.gallery.records import FaceRecord
from faceprint.types import Embedding


def _faces(rng: np.random.Generator, n: int, model: str = "sface") -> list[FaceRecord]:
    out = []
    for i in range(n):
        v = rng.standard_normal(128).astype(np.float32)
        out.append(FaceRecord(Embedding(v / np.linalg.norm(v), model), f"img{i}.jpg", f"{i:064x}"))
    return out


@pytest.fixture()
def gallery(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.add_faces("ada", _faces(rng, 2))
        g.add_faces("bob", _faces(rng, 3), collection="team")
    return path


@pytest.fixture()
def run(tmp_path: Path):
    env = {"FACEPRINT_HOME": str(tmp_path / "home"), "FACEPRINT_OFFLINE": "1"}

    def invoke(*args: str):
        return CliRunner().invoke(app, list(args), env=env)

    return invoke


def test_export_import_round_trip_and_reimport_adds_nothing(run, gallery, tmp_path) -> None:
    archive, copy = tmp_path / "g.zip", tmp_path / "copy.db"
    exported = run("gallery", "export", str(archive), "-g", str(gallery), "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["faces"] == 5
    again = run("gallery", "export", str(archive), "-g", str(gallery))
    assert again.exit_code == 2 and "--force" in again.stderr
    first = run("gallery", "import", str(archive), "-g", str(copy), "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["faces_added"] == 5
    second = json.loads(run("gallery", "import", str(archive), "-g", str(copy), "--json").stdout)
    assert (second["faces_added"], second["faces_skipped"]) == (0, 5)
    listed = json.loads(run("gallery", "list", "-g", str(copy), "--json").stdout)
    assert listed["model_id"] == "sface"
    assert {(p["collection"], p["name"], p["faces"]) for p in listed["persons"]} == {
        ("default", "ada", 2),
        ("team", "bob", 3),
    }


def test_import_refuses_another_models_gallery(run, gallery, tmp_path) -> None:
    archive, other = tmp_path / "g.zip", tmp_path / "other.db"
    assert run("gallery", "export", str(archive), "-g", str(gallery)).exit_code == 0
    with Gallery.open(other) as g:
        g.add_faces("x", _faces(np.random.default_rng(1), 1, model="reid-0095"))
    result = run("gallery", "import", str(archive), "-g", str(other))
    assert result.exit_code == 6 and "model_mismatch" in result.stderr
    with Gallery.open(other, create=False) as g:
        assert g.size() == 1


def test_rename_person_and_collection(run, gallery) -> None:
    assert run("gallery", "rename", "ada", "ada_lovelace", "-g", str(gallery)).exit_code == 0
    clash = run("gallery", "rename", "ada_lovelace", "bob", "-g", str(gallery), "-c", "default")
    assert clash.exit_code == 0  # bob lives in another collection
    renamed = run("gallery", "rename", "team", "crew", "--collection-name", "-g", str(gallery))
    assert renamed.exit_code == 0, renamed.output
    missing = run("gallery", "rename", "nobody", "x", "-g", str(gallery))
    assert missing.exit_code == 6 and "nobody" in missing.stderr
    with Gallery.open(gallery, create=False) as g:
        assert {(p.collection, p.name) for p in g.persons()} == {
            ("default", "bob"),
            ("crew", "bob"),
        }


def test_gallery_index_shows_sets_and_rebuilds(run, gallery) -> None:
    shown = run("gallery", "index", "-g", str(gallery), "--json")
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.stdout)
    assert info["index"] == "auto" and info["change"] == 5
    assert info["collections"]["default"] == {
        "kind": "exact",
        "faces": 2,
        "memory_bytes": info["collections"]["default"]["memory_bytes"],
    }
    assert info["collections"]["team"]["faces"] == 3
    changed = run("gallery", "index", "pq", "-g", str(gallery), "--rebuild")
    assert changed.exit_code == 0, changed.output
    assert "index: pq (change 5)" in changed.stdout
    assert "team: pq, 3 face(s)" in changed.stdout
    with Gallery.open(gallery) as g:
        assert g.index_spec == "pq"
    refused = run("gallery", "index", "annoy", "-g", str(gallery))
    assert refused.exit_code != 0
    assert "unknown index 'annoy'" in refused.stderr
