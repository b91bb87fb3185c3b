"""`faceprint enroll --ray` on a real local Ray cluster enrolls what the single-process
path enrolls: the same persons, images, boxes, and embeddings within 1e-5; a re-run adds
nothing. Real models, real LFW faces, one cluster for the module."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from tests.shared_paths import LFW, MODELS
from typer.testing import CliRunner

from faceprint.cli.main import app

pytestmark = pytest.mark.integration
ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'faceprint[ray]')")

PERSONS = 4
PER_PERSON = 4


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local cluster for the module; the CLI and the library use it as it is."""
    if ray.is_initialized():  # pragma: no cover - another module's session
        yield
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """LFW persons as root/<person>/<images> (symlinks): the whole tree, and its first
    half (the persons of a run that was stopped, say)."""
    if not (LFW / "images").is_dir():
        pytest.skip(f"LFW not found at {LFW}")
    base = tmp_path_factory.mktemp("ray-trees")
    people = sorted(p for p in (LFW / "images").iterdir() if p.is_dir())
    chosen = [p for p in people if len(list(p.glob("*.jpg"))) >= PER_PERSON][:PERSONS]
    for name, persons in (("full", chosen), ("half", chosen[: PERSONS // 2])):
        for person in persons:
            (base / name / person.name).mkdir(parents=True)
            for image in sorted(person.glob("*.jpg"))[:PER_PERSON]:
                (base / name / person.name / image.name).symlink_to(image)
    return base / "full", base / "half"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("ray-home")
    return {
        "FACEPRINT_HOME": str(home),
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
        # both paths with one inference thread (each actor's default): OpenCV's thread
        # count moves the defocus measure, hence restoration, of some faces
        "FACEPRINT_THREADS": "1",
    }


def _enroll(env: dict[str, str], *args: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["-q", "enroll", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _faces(gallery: Path) -> dict[tuple[str, str], tuple[tuple[float, ...], np.ndarray]]:
    """(person, image sha256) → (box, embedding) for every face in the gallery."""
    with sqlite3.connect(gallery) as db:
        rows = db.execute(
            "SELECT p.name, f.source_sha256, f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, "
            "f.embedding FROM faces f JOIN persons p ON p.id = f.person_id"
        ).fetchall()
    out = {(r[0], r[1]): (tuple(r[2:6]), np.frombuffer(r[6], dtype="<f4")) for r in rows}
    assert len(out) == len(rows)  # each (person, image) once
    return out


def test_ray_enrolls_what_one_process_enrolls(trees, env, tmp_path) -> None:
    full, half = trees
    total = PERSONS * PER_PERSON
    local = _enroll(env, str(full), "-g", str(tmp_path / "local.db"))
    assert local["enrolled_faces"] == total

    # a Ray run over part of the tree, then over all of it: only the rest is analyzed
    first = _enroll(env, str(half), "-g", str(tmp_path / "ray.db"), "--ray", "--ray-actors", "2")
    assert first["enrolled_faces"] == total // 2
    second = _enroll(env, str(full), "-g", str(tmp_path / "ray.db"), "--ray")
    assert second["enrolled_faces"] == total // 2
    assert second["already_enrolled"] == total // 2

    expected, got = _faces(tmp_path / "local.db"), _faces(tmp_path / "ray.db")
    assert set(got) == set(expected)  # same persons, same source images
    assert len({sha for _, sha in got}) == total
    for key, (box, embedding) in expected.items():
        ray_box, ray_embedding = got[key]
        assert ray_box == pytest.approx(box, abs=1e-6)
        assert ray_embedding.shape == embedding.shape == (128,)
        assert float(np.max(np.abs(ray_embedding - embedding))) <= 1e-5

    again = _enroll(env, str(full), "-g", str(tmp_path / "ray.db"), "--ray")
    assert again["enrolled_faces"] == 0
    assert again["already_enrolled"] == total
    assert [s["reason"] for s in again["skipped"]] == ["already_enrolled"] * total  # type: ignore[attr-defined]
    assert _faces(tmp_path / "ray.db").keys() == got.keys()


def test_an_actor_without_models_fails_the_job_with_the_model_error(trees, tmp_path) -> None:
    from faceprint.config import PipelineConfig, StoreConfig
    from faceprint.errors import ModelNotAvailableError
    from faceprint.gallery import Gallery
    from faceprint.recognition import enroll_stream_ray, plan_enrollment

    plan = plan_enrollment([trees[1]], person=None)
    nowhere = StoreConfig(
        home=tmp_path / "empty-home", mirror=str(tmp_path / "no-mirror"), offline=True
    )
    with (
        Gallery.open(tmp_path / "g.db") as gallery,
        pytest.raises(ModelNotAvailableError, match="on a Ray actor"),
    ):
        list(enroll_stream_ray(gallery, plan.items, config=PipelineConfig(), store=nowhere))
    with Gallery.open(tmp_path / "g.db") as gallery:
        assert gallery.size() == 0
