"""Enrollment's shared core with another analyzer, and the Ray path's pieces that need no
cluster: the plain columns actors send back, the typed errors, the address checks.
Fake models; no weights, no Ray cluster."""

from __future__ import annotations

import json
import socket
import sys
from collections.abc import Generator, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from faceprint.config import PipelineConfig, StoreConfig
from faceprint.core.quality import QualityPolicy
from faceprint.errors import (
    ClusterUnavailableError,
    ConfigError,
    MissingDependencyError,
    ModelNotAvailableError,
    UsageError,
)
from faceprint.gallery import Gallery
from faceprint.media.sources import Source
from faceprint.pipeline import FacePipeline
from faceprint.recognition import (
    Candidate,
    EnrolledFace,
    PipelineAnalyzer,
    RayOptions,
    enroll_stream_ray,
    run_enrollment,
)
from faceprint.recognition.enroll import ClaimScreen
from faceprint.recognition.ray_columns import (
    _candidates,
    _columns,
    _failure_columns,
    _pipeline_config,
    _plain,
    _quality_policy,
    _store_config,
)
from faceprint.testing import FakeDetector, FakeEmbedder, fake_calibration, fake_image
from faceprint.types import Detection, Embedding, FaceIssue, Liveness

RED, GREEN = (200, 0, 0), (0, 200, 0)


@pytest.fixture()
def pipeline() -> FacePipeline:
    return FacePipeline(
        detector=FakeDetector(), embedder=FakeEmbedder(), calibration=fake_calibration(dimension=64)
    )


def _png(path: Path, color: tuple[int, int, int]) -> Path:
    Image.fromarray(fake_image((color, (20, 20, 90, 90)))).save(path)
    return path


class Recording:
    """An analyzer over another one that records what the core asked of it."""

    def __init__(self, inner: PipelineAnalyzer) -> None:
        self.inner = inner
        self.screened: list[list[tuple[int, str, str]]] = []

    def __call__(
        self,
        sources: Iterable[Source],
        screen: ClaimScreen,
        *,
        liveness: bool,
        quality: QualityPolicy | None,
    ) -> Generator[Candidate, None, None]:
        def recording(readable):  # type: ignore[no-untyped-def]
            self.screened.append(list(readable))
            return screen(readable)

        yield from self.inner(sources, recording, liveness=liveness, quality=quality)


def test_run_enrollment_takes_any_analyzer_and_keeps_claims(pipeline, tmp_path) -> None:
    red, green = _png(tmp_path / "r.png", RED), _png(tmp_path / "g.png", GREEN)
    analyzer = Recording(PipelineAnalyzer(pipeline, workers=0))
    with Gallery.open(tmp_path / "g.db") as gallery:
        items = [("ada", red), ("ada", green), ("bob", red)]
        first = list(run_enrollment(analyzer, gallery, items))
        assert [type(o).__name__ for o in first] == ["EnrolledFace", "EnrolledFace", "Skipped"]
        assert first[2].reason == "enrolled_as_other_person"  # claimed earlier in the run
        assert [i for i, _, _ in analyzer.screened[0]] == [0, 1, 2]
        again = list(run_enrollment(analyzer, gallery, items[:2]))
        assert [o.reason for o in again] == ["already_enrolled"] * 2  # type: ignore[union-attr]
        assert gallery.size() == 2


def _candidate(index: int, **overrides: object) -> Candidate:
    detection = Detection(
        bbox_xyxy=(1.5, 2.25, 60.125, 80.0),
        score=0.875,
        landmarks_5=((10.0, 11.0), (20.0, 21.0), (15.0, 30.0), (12.0, 40.0), (22.0, 41.0)),
        issues=(FaceIssue.NEAR_BORDER, FaceIssue.LOW_SCORE),
    )
    vector = np.random.default_rng(index).normal(size=8).astype(np.float32)
    vector /= np.linalg.norm(vector)
    base = Candidate(
        index=index,
        source=f"img{index}.jpg",
        sha256=f"{index:064x}",
        faces_in_image=2,
        detection=detection,
        embedding=Embedding(vector, "sface"),
        liveness=Liveness(score=0.25, is_live=False, threshold=0.5),
        quality_reasons=("blurry", "too_dark"),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_candidates_cross_as_plain_columns_and_come_back_equal() -> None:
    sent = [
        _candidate(3),
        _candidate(7, liveness=None, quality_reasons=()),
        _candidate(8, detection=None, embedding=None, liveness=None, faces_in_image=0),
        _candidate(
            9,
            sha256=None,
            detection=None,
            embedding=None,
            liveness=None,
            faces_in_image=0,
            quality_reasons=(),
            error_code="corrupt_image",
            error_message="img9.jpg: truncated",
        ),
    ]
    columns = _columns(sent, dimension=8)
    assert columns["embedding"].dtype == np.float32 and columns["embedding"].shape == (4, 8)
    assert all(isinstance(v, np.ndarray) for v in columns.values())
    assert not any(
        v.dtype == object and not all(isinstance(x, str) for x in v) for v in columns.values()
    )  # plain strings and numbers only
    names = [f"img{i}.jpg" for i in range(10)]
    back = _candidates(columns, names, "sface")
    for a, b in zip(sent, back, strict=True):
        assert (a.index, a.source, a.sha256, a.faces_in_image) == (
            b.index,
            b.source,
            b.sha256,
            b.faces_in_image,
        )
        assert a.detection == b.detection
        assert a.liveness == b.liveness
        assert a.quality_reasons == b.quality_reasons
        assert (a.error_code, a.error_message) == (b.error_code, b.error_message)
        if a.embedding is None:
            assert b.embedding is None
        else:
            assert b.embedding is not None and b.embedding.model_id == "sface"
            assert np.array_equal(a.embedding.vector, b.embedding.vector)


def test_an_actor_failure_comes_back_as_its_typed_error() -> None:
    block = _failure_columns(np.array([4, 5]), "model_not_available", "no sface here")
    with pytest.raises(ModelNotAvailableError, match="no sface here"):
        _candidates(block, [""] * 6, "sface")


def test_settings_cross_as_builtins_and_rebuild_equal() -> None:
    config = PipelineConfig(embedder="sface+reid-0095", threads=3, restore=False)
    store = StoreConfig(
        home=Path("/x/home"), mirror="/m", offline=True, accept_licences=frozenset({"a"})
    )
    policy = QualityPolicy(min_face_size=50, degradations=("noise", "motion_blur"))
    for plain in (_plain(config), _plain(store), _plain(policy)):
        assert all(
            isinstance(v, str | int | float | bool | list | type(None)) for v in plain.values()
        )
    assert _pipeline_config(_plain(config)) == config
    assert _store_config(_plain(store)) == store
    assert _quality_policy(_plain(policy)) == policy


def test_ray_options_are_checked() -> None:
    assert RayOptions().threads == 1 and RayOptions(cpus_per_actor=4).threads == 4
    with pytest.raises(ConfigError):
        RayOptions(actors=0)
    with pytest.raises(ConfigError):
        RayOptions(cpus_per_actor=0)


def _enroll_ray(tmp_path: Path, **options: object) -> list[object]:
    image = _png(tmp_path / "r.png", RED)
    with Gallery.open(tmp_path / "g.db") as gallery:
        return list(
            enroll_stream_ray(
                gallery,
                [("ada", image)],
                config=PipelineConfig(),
                store=StoreConfig(home=tmp_path / "home", offline=True),
                options=RayOptions(**options),  # type: ignore[arg-type]
            )
        )


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if absent
    with pytest.raises(MissingDependencyError, match=r"pip install 'faceprint\[ray\]'"):
        _enroll_ray(tmp_path)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_unreachable_address_fails_fast_and_clearly(tmp_path, scheme) -> None:
    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():  # pragma: no cover - another module's cluster
        pytest.skip("a Ray session is already open in this process")
    address = f"{scheme}127.0.0.1:{_closed_port()}"
    with pytest.raises(ClusterUnavailableError, match="cannot reach the Ray cluster"):
        _enroll_ray(tmp_path, address=address)


def test_a_malformed_address_is_a_usage_error(tmp_path) -> None:
    pytest.importorskip("ray")
    import ray

    if ray.is_initialized():  # pragma: no cover
        pytest.skip("a Ray session is already open in this process")
    with pytest.raises(UsageError, match="expected auto, local, HOST:PORT"):
        _enroll_ray(tmp_path, address="not-an-address")


def test_cli_ray_options_need_ray(tmp_path) -> None:
    from faceprint.cli.main import app

    tree = tmp_path / "tree" / "ada"
    tree.mkdir(parents=True)
    _png(tree / "a.png", RED)
    result = CliRunner().invoke(
        app, ["enroll", str(tmp_path / "tree"), "-g", str(tmp_path / "g.db"), "--ray-actors", "3"]
    )
    assert result.exit_code == 2
    assert "--ray-actors and --ray-cpus need --ray" in result.output


def test_nothing_left_to_analyze_needs_no_cluster(pipeline, tmp_path) -> None:
    """A finished job run again with --ray: every image is screened out on the driver,
    so no cluster is started or reached (the address here would fail)."""
    pytest.importorskip("ray")
    image = _png(tmp_path / "r.png", RED)
    with Gallery.open(tmp_path / "g.db") as gallery:
        done = list(
            run_enrollment(PipelineAnalyzer(pipeline, workers=0), gallery, [("ada", image)])
        )
        assert isinstance(done[0], EnrolledFace)
        outcomes = list(
            enroll_stream_ray(
                gallery,
                [("ada", image)],
                config=PipelineConfig(embedder="sface"),
                store=StoreConfig(home=tmp_path / "home", offline=True),
                options=RayOptions(address=f"127.0.0.1:{_closed_port()}"),
            )
        )
    assert [o.reason for o in outcomes] == ["already_enrolled"]  # type: ignore[union-attr]


def test_cli_without_ray_exits_8_with_the_install_line(tmp_path, monkeypatch) -> None:
    from faceprint.cli.main import app

    tree = tmp_path / "tree" / "ada"
    tree.mkdir(parents=True)
    _png(tree / "a.png", RED)
    monkeypatch.setitem(sys.modules, "ray", None)
    env = {"FACEPRINT_HOME": str(tmp_path / "home"), "FACEPRINT_OFFLINE": "1"}
    result = CliRunner().invoke(
        app,
        ["enroll", "--ray", str(tmp_path / "tree"), "-g", str(tmp_path / "g.db"), "--json"],
        env=env,
    )
    assert result.exit_code == 8, result.output
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "missing_dependency"
    assert "pip install 'faceprint[ray]'" in error["message"]
    assert not (tmp_path / "g.db").exists()  # refused before the gallery was created
