"""``run_robustness`` end to end on a tiny LFW-layout tree with fake models: rows per
pipeline and condition in order, drops against that pipeline's clean row, the report's
forms (dict, summary, plot), checkpoint resume, and argument errors.

The fakes (:mod:`faceprint.testing`) see each non-black colour as a face and map the
colour at the face's centre to a fixed random vector, so every person here is a colour
rectangle on black: same-person pairs score 1, different-person pairs about 0, and a
degradation that changes the centre colour (noise) makes identities random while one
that keeps it (mild defocus of a large flat rectangle) changes nothing.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import cv2
import pytest

import faceprint.eval.robustness as robustness
from faceprint.errors import DatasetError, UsageError
from faceprint.eval.report import plot_bars
from faceprint.eval.robustness import RobustnessReport, RobustnessRow, run_robustness
from faceprint.pipeline import FacePipeline
from faceprint.testing import FakeDetector, FakeEmbedder, fake_image

COLOURS = {
    "Ada_A": (200, 40, 40),
    "Bob_B": (40, 200, 40),
    "Cy_C": (40, 40, 200),
    "Dee_D": (200, 200, 40),
    "Eve_E": (180, 60, 200),  # her one photo is black: no face is found in it
}
IMAGES = {"Ada_A": 3, "Bob_B": 2, "Cy_C": 2, "Dee_D": 2, "Eve_E": 1}
# View 2: "<folds> <per class>", then per fold the matched then the mismatched pairs.
PAIRS = """3 2
Ada_A 1 2
Bob_B 1 2
Ada_A 1 Bob_B 1
Eve_E 1 Ada_A 3
Cy_C 1 2
Dee_D 1 2
Cy_C 1 Dee_D 2
Bob_B 2 Cy_C 2
Ada_A 1 3
Ada_A 2 3
Dee_D 1 Ada_A 2
Bob_B 1 Cy_C 1
"""
KINDS = ("defocus", "noise")
SEVERITIES = (1, 3)
CONDITIONS = [("clean", 0), ("defocus", 1), ("noise", 1), ("defocus", 3), ("noise", 3)]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def lfw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """root/<Name>/<Name>_<nnnn>.jpg (JPEG, 48×64) and pairs.txt."""
    base = tmp_path_factory.mktemp("robustness")
    root = base / "lfw"
    for person, count in IMAGES.items():
        for i in range(1, count + 1):
            if person == "Eve_E":
                image = fake_image(size=(64, 48))
            else:  # the rectangle moves a little from photo to photo
                x, y = 6 + 3 * i, 8 + 2 * i
                image = fake_image((COLOURS[person], (x, y, x + 28, y + 36)), size=(64, 48))
            path = root / person / f"{person}_{i:04d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(path), image[:, :, ::-1])
    pairs = base / "pairs.txt"
    pairs.write_text(PAIRS)
    return root, pairs


def _pipelines(*labels: str) -> dict[str, FacePipeline]:
    embedders = {
        "fake64": lambda: FakeEmbedder(),
        "fake16": lambda: FakeEmbedder(dimension=16, model_id="fake16"),
    }
    return {
        label: FacePipeline(detector=FakeDetector(), embedder=embedders[label]())
        for label in labels or embedders
    }


class Counting:
    """Wraps ``_measure``: every condition actually measured (not taken from a
    checkpoint), in order; ``fail_after`` interrupts the run like Ctrl-C."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail_after: int | None = None
        self._real = robustness._measure

    def __call__(self, pipeline, label, kind, severity, **kwargs):  # type: ignore[no-untyped-def]
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt
        self.calls.append((label, kind, severity))
        return self._real(pipeline, label, kind, severity, **kwargs)


@pytest.fixture()
def measured(monkeypatch: pytest.MonkeyPatch) -> Counting:
    counting = Counting()
    monkeypatch.setattr(robustness, "_measure", counting)
    return counting


def _run(lfw: tuple[Path, Path], *labels: str, **kwargs) -> RobustnessReport:  # type: ignore[no-untyped-def]
    root, pairs = lfw
    options = {"kinds": KINDS, "severities": SEVERITIES, "workers": 1, **kwargs}
    return run_robustness(_pipelines(*labels), root=root, pairs_file=pairs, **options)


# A cheap setting for the checkpoint tests: one pipeline, clean and one condition.
CHEAP = {"kinds": ("noise",), "severities": (1,)}


@pytest.fixture(scope="module")
def full(lfw: tuple[Path, Path]) -> tuple[RobustnessReport, list[tuple[int, int]], Counting]:
    """Both pipelines on clean and the four conditions, once for the module."""
    progress: list[tuple[int, int]] = []
    with pytest.MonkeyPatch.context() as patch:
        counting = Counting()
        patch.setattr(robustness, "_measure", counting)
        report = _run(lfw, progress=lambda done, total, _name: progress.append((done, total)))
    return report, progress, counting


def test_rows_are_clean_then_each_condition_per_pipeline(full) -> None:
    report, progress, measured = full
    assert (report.pairs, report.folds, report.seed) == (12, (1, 2, 3), 0)
    assert report.pipelines() == ["fake64", "fake16"]
    expected = [(p, k, s) for p in ("fake64", "fake16") for k, s in CONDITIONS]
    assert [(r.pipeline, r.kind, r.severity) for r in report.rows] == expected
    assert measured.calls == expected
    assert [r.condition for r in report.rows[:5]] == [
        "clean", "defocus:1", "noise:1", "defocus:3", "noise:3"
    ]  # fmt: skip
    for row in report.rows:
        assert row.images == 10 and row.seconds >= 0.0
    # 10 images × 5 conditions × 2 pipelines, ending at the total
    assert progress[-1] == (100, 100) and all(0 <= d <= t == 100 for d, t in progress)


def test_figures_are_the_protocol_on_the_fakes(full) -> None:
    report = full[0]
    for label in report.pipelines():
        rows = {(r.kind, r.severity): r for r in report.rows if r.pipeline == label}
        clean = rows["clean", 0]
        # same colour, same vector: every genuine pair scores 1, every impostor ≈ 0,
        # Eve's black photo has no face (her one pair is a mismatch, rightly rejected)
        assert (clean.accuracy, clean.tar_at_far_1e3, clean.roc_auc) == (1.0, 1.0, 1.0)
        assert (clean.accuracy_drop, clean.tar_drop, clean.accuracy_std) == (0.0, 0.0, 0.0)
        assert (clean.no_face_images, clean.pairs_without_face) == (1, 1)
        # σ 1.5 px does not reach the centre of a 28×36 rectangle: nothing changes
        mild = rows["defocus", 1]
        assert (mild.accuracy, mild.tar_at_far_1e3, mild.no_face_images) == (1.0, 1.0, 1)
        assert (mild.accuracy_drop, mild.tar_drop) == (0.0, 0.0)
        for severity in SEVERITIES:
            # noise changes the centre colour: random identities; it also lights up
            # Eve's black photo, where a "face" is then found
            noise = rows["noise", severity]
            assert noise.no_face_images == 0 and noise.pairs_without_face == 0
            assert noise.tar_at_far_1e3 < 1.0 and noise.tar_drop > 0.0
        for row in rows.values():
            assert row.accuracy_drop == pytest.approx(clean.accuracy - row.accuracy, abs=1e-12)
            assert row.tar_drop == pytest.approx(clean.tar_at_far_1e3 - row.tar_at_far_1e3)
            assert 0.0 <= row.accuracy <= 1.0 and 0.0 <= row.roc_auc <= 1.0


def test_to_dict_is_json_with_the_mean_drops(full) -> None:
    report = full[0]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["pairs"] == 12 and data["folds"] == [1, 2, 3] and data["seed"] == 0
    assert len(data["rows"]) == 10
    assert data["rows"][0] == {
        **data["rows"][0],
        "pipeline": "fake64",
        "kind": "clean",
        "severity": 0,
        "accuracy": 1.0,
    }
    assert [RobustnessRow(**row) for row in data["rows"]] == list(report.rows)
    for label in ("fake64", "fake16"):
        degraded = [r for r in report.rows if r.pipeline == label and r.kind != "clean"]
        accuracy = sum(r.accuracy_drop for r in degraded) / 4
        tar = sum(r.tar_drop for r in degraded) / 4
        assert report.mean_drop(label) == pytest.approx((accuracy, tar))
        assert data["mean_drop"][label] == pytest.approx(
            {"accuracy": accuracy, "tar_at_far_1e3": tar}
        )
    assert report.mean_drop("nobody") == (0.0, 0.0)


def test_summary_lists_every_row_and_the_mean_drops(full) -> None:
    report = full[0]
    lines = report.summary().splitlines()
    assert lines[0].startswith("LFW View 2 under degradations (12 pairs, folds 1,2,3, seed 0)")
    body = lines[2:-2]
    assert len(body) == len(report.rows)
    for line, row in zip(body, report.rows, strict=True):
        fields = line.split()
        assert fields[:2] == [row.pipeline, row.condition], line
        assert fields[2] == f"{row.accuracy:.2%}" and fields[-1] == str(row.no_face_images)
    for line, label in zip(lines[-2:], ("fake64", "fake16"), strict=True):
        accuracy, tar = report.mean_drop(label)
        assert line.strip().startswith(f"{label}: mean drop")
        assert f"{100 * accuracy:.2f} points accuracy" in line
        assert f"{100 * tar:.2f} points TAR" in line


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_plot_writes_a_png(full, tmp_path: Path) -> None:
    out = tmp_path / "figures" / "robustness.png"  # the folder is created
    full[0].plot(out)
    data = out.read_bytes()
    width, height = _png_size(data)
    # 5 conditions × 2 pipelines: 0.75 × 10 + 2 = 9.5 in wide, 2 panels × 3.2 in high
    assert width == pytest.approx(9.5 * 110, abs=3) and height == pytest.approx(6.4 * 110, abs=3)
    assert len(data) > 20_000


def test_a_second_run_with_the_checkpoint_measures_nothing(lfw, measured, tmp_path) -> None:
    checkpoint = tmp_path / "out" / "robustness.json"
    first = _run(lfw, "fake16", "fake64", checkpoint=checkpoint, **CHEAP)
    order = [(p, k, s) for p in ("fake16", "fake64") for k, s in (("clean", 0), ("noise", 1))]
    assert measured.calls == order
    saved = json.loads(checkpoint.read_text())
    assert saved["settings"]["folds"] == [1, 2, 3] and saved["settings"]["seed"] == 0
    assert [RobustnessRow(**row) for row in saved["rows"]] == list(first.rows)
    assert not list(checkpoint.parent.glob(".*.part")), "the temporary file was left"

    measured.calls.clear()
    again = _run(lfw, "fake16", "fake64", checkpoint=checkpoint, folds=(3, 1, 2), **CHEAP)
    assert measured.calls == []  # the folds named in another order are the same folds
    assert again.rows == first.rows and again.to_dict() == first.to_dict()

    # another severity: only the new condition is measured, the rest come back
    more = _run(lfw, "fake16", "fake64", checkpoint=checkpoint, kinds=("noise",), severities=(1, 2))
    assert measured.calls == [("fake16", "noise", 2), ("fake64", "noise", 2)]
    assert [r for r in more.rows if r.severity != 2] == list(first.rows)
    clean = {r.pipeline: r for r in more.rows if r.kind == "clean"}
    for row in more.rows:  # drops of the new rows against the clean rows read back
        assert row.accuracy_drop == pytest.approx(clean[row.pipeline].accuracy - row.accuracy)


def test_a_pipeline_that_changed_is_measured_again(lfw, measured, tmp_path) -> None:
    """Rows are reused only for a pipeline with the same models and restoration
    policy: stale figures from before a change never come back as new ones."""
    from faceprint.core.restoration import RestorationPolicy

    checkpoint = tmp_path / "robustness.json"
    _run(lfw, "fake16", "fake64", checkpoint=checkpoint, **CHEAP)
    measured.calls.clear()
    pipelines = _pipelines("fake16", "fake64")
    pipelines["fake64"].restoration = RestorationPolicy(denoise=False)
    root, pairs = lfw
    run_robustness(
        pipelines, root=root, pairs_file=pairs, workers=1, checkpoint=checkpoint, **CHEAP
    )
    assert measured.calls == [("fake64", "clean", 0), ("fake64", "noise", 1)]
    saved = json.loads(checkpoint.read_text())["settings"]["pipelines"]
    assert "denoise=False" in saved["fake64"] and "fake16" in saved["fake16"]


def test_an_interrupted_run_resumes_where_it_stopped(full, lfw, measured, tmp_path) -> None:
    checkpoint = tmp_path / "robustness.json"
    measured.fail_after = 3
    with pytest.raises(KeyboardInterrupt):
        _run(lfw, checkpoint=checkpoint)
    assert len(json.loads(checkpoint.read_text())["rows"]) == 3
    measured.fail_after = None
    measured.calls.clear()
    resumed = _run(lfw, checkpoint=checkpoint)
    assert measured.calls == [("fake64", k, s) for k, s in CONDITIONS[3:]] + [
        ("fake16", k, s) for k, s in CONDITIONS
    ]
    # the same figures as the run in one go (timings aside)
    figures = ("pipeline", "kind", "severity", "accuracy", "tar_at_far_1e3", "accuracy_drop")
    assert [tuple(getattr(r, f) for f in figures) for r in resumed.rows] == [
        tuple(getattr(r, f) for f in figures) for r in full[0].rows
    ]


@pytest.mark.parametrize(
    "change", [{"seed": 1}, {"folds": (1, 2)}, {"pairs": "other"}], ids=["seed", "folds", "pairs"]
)
def test_other_settings_invalidate_the_checkpoint(lfw, measured, tmp_path, change) -> None:
    checkpoint = tmp_path / "robustness.json"
    _run(lfw, "fake64", checkpoint=checkpoint, **CHEAP)
    measured.calls.clear()
    if "pairs" in change:  # the same pairs, from another file
        root, pairs = lfw
        other = tmp_path / "pairs-copy.txt"
        other.write_text(pairs.read_text())
        report = run_robustness(
            _pipelines("fake64"), root=root, pairs_file=other, checkpoint=checkpoint, **CHEAP
        )
    else:
        report = _run(lfw, "fake64", checkpoint=checkpoint, **change, **CHEAP)
    assert len(measured.calls) == 2, "the checkpoint of other settings was reused"
    assert json.loads(checkpoint.read_text())["rows"] == report.to_dict()["rows"]
    if "folds" in change:
        assert report.pairs == 8 and report.folds == (1, 2)
    if "seed" in change:
        assert report.seed == 1


def test_a_damaged_checkpoint_is_ignored(lfw, measured, tmp_path) -> None:
    checkpoint = tmp_path / "robustness.json"
    checkpoint.write_text("{ not json")
    _run(lfw, "fake64", checkpoint=checkpoint, **CHEAP)
    assert len(measured.calls) == 2
    data = json.loads(checkpoint.read_text())
    data["rows"][0]["unexpected"] = 1  # rows of another version of the report
    checkpoint.write_text(json.dumps(data))
    measured.calls.clear()
    _run(lfw, "fake64", checkpoint=checkpoint, **CHEAP)
    assert len(measured.calls) == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "needle"),
    [
        ({"folds": (2,)}, UsageError, "at least two folds"),
        ({"kinds": ("defocus", "nois")}, UsageError, "unknown degradation nois"),
        ({"severities": (4,)}, UsageError, "severity"),
        ({"severities": (0,)}, UsageError, "severity"),
        ({"folds": (1, 4)}, DatasetError, "[4]"),
        ({"folds": (4, 5)}, DatasetError, "[4, 5]"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_measured(
    lfw, measured, kwargs, error, needle
) -> None:
    with pytest.raises(error) as caught:
        _run(lfw, **kwargs)
    assert needle in str(caught.value)
    assert measured.calls == []


def test_a_malformed_pairs_file_is_a_dataset_error(lfw, measured, tmp_path) -> None:
    root, _ = lfw
    bad = tmp_path / "bad.txt"
    bad.write_text("2 1\nAda_A 1 2\nAda_A 1 Bob_B 1\nCy_C 1 9\nCy_C 1 Dee_D 1\n")
    with pytest.raises(DatasetError, match="missing"):
        run_robustness(_pipelines(), root=root, pairs_file=bad, kinds=KINDS)
    assert measured.calls == []


# --- plot_bars -----------------------------------------------------------------------


def test_plot_bars_validates_its_input(tmp_path: Path) -> None:
    out = tmp_path / "bars.png"
    panels = ("accuracy", "TAR")
    with pytest.raises(ValueError, match="2 values for 3 groups"):
        plot_bars(
            groups=["a", "b", "c"],
            series={"x": [(0.9, 0.8)] * 3, "y": [(0.9, 0.8)] * 2},
            panels=panels,
            title="t",
            path=out,
        )
    with pytest.raises(ValueError, match="at least one"):
        plot_bars(groups=["a"], series={}, panels=panels, title="t", path=out)
    with pytest.raises(ValueError, match="at least one"):
        plot_bars(groups=[], series={"x": []}, panels=panels, title="t", path=out)
    assert not out.exists()


def test_plot_bars_draws_gaps_and_a_floor(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "bars.png"
    plot_bars(
        groups=["clean", "noise:2"],
        series={"a": [(0.99, 0.9), (math.nan, math.nan)], "b": [(0.98, 0.85), (0.7, 0.2)]},
        panels=("accuracy", "TAR"),
        title="t",
        path=out,
        floor=0.0,
    )
    width, height = _png_size(out.read_bytes())
    assert width == pytest.approx(6.0 * 110, abs=3)  # at least 6 in wide
    assert height == pytest.approx(2 * 3.2 * 110, abs=3)  # 3.2 in per panel
    assert out.stat().st_size > 10_000
