"""`faceprint cluster …` and `faceprint eval cluster` as a user runs them: real models on
the shared sample photos and a slice of LFW."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.shared_paths import LFW, SAMPLES

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample photos missing")


def _photos(tmp_path: Path) -> Path:
    photos = tmp_path / "photos"
    for person in ("barack_obama", "joe_biden", "kit_harington", "rose_leslie"):
        shutil.copytree(SAMPLES / "known" / person, photos / person)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return photos


def _cluster_of(data: dict, fragment: str) -> dict:
    return next(c for c in data["clusters"] if any(fragment in m["path"] for m in c["members"]))


def test_cluster_review_enroll_and_incremental_rerun(model_run, tmp_path: Path) -> None:
    photos = _photos(tmp_path)
    out = tmp_path / "people"
    result = model_run("cluster", str(photos), "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["new_images"] == 8 and data["unreadable_new"] == 1
    assert data["threshold"]["source"] == "fpir" and 0.3 < data["threshold"]["similarity"] < 0.7
    obama = _cluster_of(data, "obama.jpg")
    assert any("obama2.jpg" in m["path"] for m in obama["members"])
    assert not any("biden" in m["path"] for m in obama["members"])
    assert _cluster_of(data, "biden.jpg")["id"] != obama["id"]
    assert (out / "clusters.json").is_file()
    assert (out / "sheets" / f"cluster-{obama['id']:05d}.png").is_file()

    named = model_run("cluster", "name", str(obama["id"]), "Barack Obama", "--out", str(out))
    assert named.exit_code == 0, named.output
    listed = model_run("cluster", "list", "--out", str(out))
    assert "Barack Obama" in listed.stdout

    # add two photos: only they are embedded, and Obama's joins the named cluster
    shutil.copy(SAMPLES / "probes" / "obama1.jpg", photos / "new_obama.jpg")
    shutil.copy(SAMPLES / "probes" / "alex_lacamoire1.jpg", photos / "new_alex.jpg")
    again = model_run("cluster", str(photos), "--out", str(out), "--json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["new_images"] == 2 and second["known_images"] == 9  # the broken file too
    assert second["joined"] >= 1
    named_cluster = next(c for c in second["clusters"] if c["name"] == "Barack Obama")
    assert any("new_obama.jpg" in m["path"] for m in named_cluster["members"])
    assert not any("new_alex.jpg" in m["path"] for m in named_cluster["members"])
    rerun = json.loads(model_run("cluster", str(photos), "--out", str(out), "--json").stdout)
    assert rerun["new_images"] == 0 and rerun["faces"] == second["faces"]

    gallery = tmp_path / "g.db"
    enrolled = model_run("cluster", "enroll", "--out", str(out), "-g", str(gallery), "--json")
    assert enrolled.exit_code == 0, enrolled.output
    added = json.loads(enrolled.stdout)["clusters"]
    assert added[0]["person"] == "Barack Obama" and added[0]["added"] == 3
    found = model_run(
        "identify", str(SAMPLES / "probes" / "obama3.jpg"), "-g", str(gallery), "--json"
    )
    assert found.exit_code == 0, found.output
    assert "Barack Obama" in found.stdout

    missing = model_run("cluster", "name", "999", "X", "--out", str(out))
    assert missing.exit_code == 6 and "no cluster with id 999" in missing.output
    nofolder = model_run("cluster", "list", "--out", str(tmp_path / "nothing"))
    assert nofolder.exit_code == 6 and "no clustering database" in nofolder.output


@pytest.mark.skipif(not LFW.is_dir(), reason="shared LFW images missing")
def test_eval_cluster_on_an_lfw_slice(model_run, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    people = sorted(p for p in (LFW / "images").iterdir() if len(list(p.iterdir())) >= 4)[:12]
    for person in people:
        shutil.copytree(person, root / person.name)
    plot = tmp_path / "sizes.png"
    result = model_run(
        "eval",
        "cluster",
        "--root",
        str(root),
        "--out",
        str(tmp_path / "c"),
        "--json",
        "--plot",
        str(plot),
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["identities"] == 12 and data["images"] == sum(
        len(list(p.iterdir())) for p in people
    )
    assert data["bcubed"]["f"] > 0.9 and data["bcubed"]["precision"] > 0.95
    assert 0.0 < data["pairwise"]["f"] <= 1.0
    assert plot.stat().st_size > 5000
