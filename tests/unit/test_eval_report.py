"""Report rendering: ROC PNGs and Markdown tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint.core.metrics import roc_auc, roc_curve
from faceprint.eval.report import markdown_table, plot_roc

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plot_roc_writes_a_png(tmp_path: Path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 2000)
    scores = rng.normal(labels * 2.0, 1.0)
    far, tar, _ = roc_curve(scores, labels)
    out = tmp_path / "plots" / "roc.png"  # parent folder does not exist yet
    plot_roc(
        {"model-a": (far, tar), "chance-ish": (np.array([0.0, 1e-3, 1.0]), [0.0, 1e-3, 1.0])},
        out,
        title="LFW ROC",
        auc={"model-a": roc_auc(scores, labels)},
    )
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000


@pytest.mark.parametrize(
    ("curves", "kwargs"),
    [
        ({}, {}),
        ({"a": (np.array([0.1, 1.0]), np.array([1.0]))}, {}),
        ({"a": (np.array([0.1, 1.0]), np.array([0.5, 1.0]))}, {"far_min": 0.0}),
    ],
)
def test_plot_roc_rejects_bad_input(tmp_path, curves, kwargs):
    with pytest.raises(ValueError):
        plot_roc(curves, tmp_path / "x.png", title="t", **kwargs)
    assert not (tmp_path / "x.png").exists()


def test_markdown_table():
    table = markdown_table(
        [
            {"model": "sface", "accuracy": 0.99533333, "pairs": 6000},
            {"model": "a|b", "accuracy": None, "pairs": 20, "note": "two\nlines"},
        ]
    )
    assert table == (
        "| model | accuracy | pairs | note |\n"
        "|---|---:|---:|---|\n"
        "| sface | 0.9953 | 6000 |  |\n"
        "| a\\|b |  | 20 | two lines |"
    )


def test_markdown_table_with_columns_and_format():
    rows = [{"far": 1e-3, "tar": 0.98765, "ok": True}]
    assert markdown_table(rows, columns=["tar", "ok"], float_format=".2%") == (
        "| tar | ok |\n|---:|---|\n| 98.77% | True |"
    )
    assert markdown_table([]) == ""
