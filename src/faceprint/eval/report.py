"""Report rendering: ROC plots (PNG) and Markdown tables."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike


def plot_roc(
    curves: Mapping[str, tuple[ArrayLike, ArrayLike]],
    path: str | Path,
    *,
    title: str,
    auc: Mapping[str, float] | None = None,
    far_min: float = 1e-4,
) -> None:
    """Write ROC curves as a PNG: TAR against FAR on a log FAR axis (``far_min`` … 1).

    Rendering uses matplotlib's Agg canvas directly (no pyplot, no GUI backend, no
    global state), so it is safe in headless processes and threads.

    Args:
        curves: legend label → ``(far, tar)``, two equal-length 1-D arrays of rates in
            [0, 1] as returned by :func:`faceprint.core.metrics.roc_curve`; points with
            ``far <= 0`` cannot be shown on the log axis and are skipped.
        path: the PNG to write; its parent folder is created.
        title: the plot title.
        auc: optional label → ROC AUC, shown in the legend as ``label (AUC 0.9950)``.
        far_min: left end of the FAR axis, in (0, 1).

    Raises:
        ValueError: no curve, a curve's arrays differ in length, or ``far_min`` is not
            in (0, 1).
        OSError: the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not curves:
        raise ValueError("plot_roc needs at least one curve")
    if not 0.0 < far_min < 1.0:
        raise ValueError(f"far_min must be in (0, 1), got {far_min}")
    fig = Figure(figsize=(6.0, 4.5), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    chance = np.logspace(np.log10(far_min), 0.0, 50)
    ax.plot(chance, chance, linestyle=":", color="0.6", linewidth=1, label="chance")
    for label, (far_values, tar_values) in curves.items():
        far = np.asarray(far_values, dtype=np.float64).ravel()
        tar = np.asarray(tar_values, dtype=np.float64).ravel()
        if far.shape != tar.shape:
            raise ValueError(f"curve {label!r}: far and tar differ in length")
        keep = far > 0
        shown = label if auc is None or label not in auc else f"{label} (AUC {auc[label]:.4f})"
        ax.plot(far[keep], tar[keep], linewidth=1.5, label=shown)
    ax.set_xscale("log")
    ax.set_xlim(far_min, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false accept rate (FAR)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.15)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")


def _cell(value: object, float_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        text = format(float(value), float_format)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_)


def markdown_table(
    rows: Sequence[Mapping[str, object]],
    *,
    columns: Sequence[str] | None = None,
    float_format: str = ".4g",
) -> str:
    """A GitHub-flavoured Markdown table.

    Args:
        rows: one mapping per row; a missing key or ``None`` gives an empty cell.
        columns: column order; default every key in order of first appearance.
        float_format: ``format`` spec for float cells; other values use ``str``.

    Returns:
        The table without a trailing newline; ``""`` when there are no rows. Columns
        whose non-empty cells are all numbers are right-aligned; ``|`` in cells is
        escaped and line breaks become spaces.
    """
    if not rows:
        return ""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    keys = list(columns)
    header = "| " + " | ".join(_cell(k, float_format) for k in keys) + " |"
    aligns = []
    for key in keys:
        present = [row[key] for row in rows if row.get(key) is not None]
        aligns.append("---:" if present and all(_is_number(v) for v in present) else "---")
    rule = "|" + "|".join(aligns) + "|"
    body = ["| " + " | ".join(_cell(row.get(k), float_format) for k in keys) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def plot_bars(
    *,
    groups: Sequence[str],
    series: Mapping[str, Sequence[tuple[float, ...]]],
    panels: Sequence[str],
    title: str,
    path: str | Path,
    floor: float | None = None,
) -> None:
    """Grouped bar charts, one panel per measure, written as a PNG.

    Args:
        groups: the x-axis groups (e.g. capture conditions).
        series: bar label (e.g. a pipeline) → one tuple per group holding a value in
            [0, 1] per panel (``nan`` leaves a gap).
        panels: the y-axis label of each panel, top to bottom.
        title: the figure title.
        path: the PNG to write; its parent folder is created.
        floor: bottom of the y axes (default: just below the smallest value shown).

    Raises:
        ValueError: no series or groups, or a series' length differs from ``groups``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not series or not groups:
        raise ValueError("plot_bars needs at least one series and one group")
    for label, values in series.items():
        if len(values) != len(groups):
            raise ValueError(f"series {label!r} has {len(values)} values for {len(groups)} groups")
        if any(len(v) != len(panels) for v in values):
            raise ValueError(f"series {label!r}: every group needs one value per panel")
    fig = Figure(
        figsize=(max(6.0, 0.75 * len(groups) * max(1, len(series)) + 2), 3.2 * len(panels)), dpi=110
    )
    FigureCanvasAgg(fig)
    x = np.arange(len(groups), dtype=np.float64)
    width = 0.8 / len(series)
    for k, name in enumerate(panels):
        ax = fig.add_subplot(len(panels), 1, k + 1)
        shown = [v[k] for values in series.values() for v in values if np.isfinite(v[k])]
        low = floor if floor is not None else max(0.0, (min(shown) if shown else 0.0) - 0.05)
        for j, (label, values) in enumerate(series.items()):
            heights = np.array([v[k] for v in values], dtype=np.float64)
            bars = ax.bar(x - 0.4 + width * (j + 0.5), heights, width, label=label)
            for bar, value in zip(bars, heights, strict=True):
                if np.isfinite(value):
                    ax.annotate(
                        f"{100 * value:.1f}",
                        (bar.get_x() + bar.get_width() / 2, value),
                        ha="center",
                        va="bottom",
                        fontsize=6,
                    )
        ax.set_ylim(low, 1.005)
        ax.set_ylabel(name)
        ax.set_xticks(x)
        ax.set_xticklabels(groups, rotation=25, ha="right", fontsize="small")
        ax.grid(True, axis="y", alpha=0.3)
        if k == 0:
            ax.set_title(title)
            ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
