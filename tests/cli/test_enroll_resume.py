"""Enrollment survives being killed: ``kill -9`` or Ctrl-C half-way, then a re-run, leaves
each (person, image) in the gallery exactly once. Real processes, real models."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.shared_paths import LFW, MODELS

pytestmark = pytest.mark.integration

PERSONS = 16
PER_PERSON = 10


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """LFW persons with many images, symlinked as root/<person>/<images>."""
    root = tmp_path_factory.mktemp("resume") / "tree"
    people = sorted(p for p in (LFW / "images").iterdir() if p.is_dir())
    chosen = [p for p in people if len(list(p.glob("*.jpg"))) >= PER_PERSON][:PERSONS]
    assert len(chosen) == PERSONS
    for person in chosen:
        (root / person.name).mkdir(parents=True)
        for image in sorted(person.glob("*.jpg"))[:PER_PERSON]:
            (root / person.name / image.name).symlink_to(image)
    return root


def _env(tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FACEPRINT_HOME": str(tmp / "home"),
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
        "FACEPRINT_THREADS": "2",
    }


def _faces(gallery: Path) -> int:
    if not gallery.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{gallery}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM faces").fetchone()[0])
    except sqlite3.OperationalError:  # not initialised yet
        return 0


def _rows(gallery: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(gallery) as db:
        return db.execute(
            "SELECT p.name, f.source_sha256 FROM faces f JOIN persons p ON p.id = f.person_id"
        ).fetchall()


def _enroll(tree: Path, gallery: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faceprint",
            "-q",
            "enroll",
            str(tree),
            "-g",
            str(gallery),
            "--jsonl",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop_after_first_commit(process: subprocess.Popen[str], gallery: Path, sig: int) -> int:
    deadline = time.monotonic() + 240
    while _faces(gallery) == 0:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no face was committed in time"
        time.sleep(0.02)
    process.send_signal(sig)
    process.wait(timeout=120)
    return _faces(gallery)


def _summary(stdout: str) -> dict[str, object]:
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return next(line["summary"] for line in lines if "summary" in line)


def test_kill_9_then_rerun_enrolls_each_image_once(tree: Path, tmp_path: Path) -> None:
    gallery, env = tmp_path / "g.db", _env(tmp_path)
    total = PERSONS * PER_PERSON
    before = _stop_after_first_commit(_enroll(tree, gallery, env), gallery, signal.SIGKILL)
    assert 0 < before < total, f"killed after {before} of {total} faces"

    rerun = _enroll(tree, gallery, env)
    stdout, stderr = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, stderr
    summary = _summary(stdout)
    assert summary["already_enrolled"] == before
    rows = _rows(gallery)
    assert len(rows) == len(set(rows)) == before + summary["enrolled_faces"]
    skipped_other = summary["skipped"] - summary["already_enrolled"]
    assert len(rows) + skipped_other == total  # every image is enrolled or has a reason

    third = _enroll(tree, gallery, env)
    stdout, _ = third.communicate(timeout=600)
    assert _summary(stdout)["enrolled_faces"] == 0
    assert _rows(gallery) == rows


def test_ctrl_c_commits_what_is_done_and_says_so(tree: Path, tmp_path: Path) -> None:
    gallery, env = tmp_path / "g.db", _env(tmp_path)
    process = _enroll(tree, gallery, env)
    _stop_after_first_commit(process, gallery, signal.SIGINT)
    stdout, stderr = process.communicate()
    assert process.returncode == 130, stderr
    summary = _summary(stdout)
    assert summary["interrupted"] is True
    assert summary["enrolled_faces"] == _faces(gallery) > 0
    assert "interrupted" in stderr and "run the same command again" in stderr
    assert "Traceback" not in stderr
