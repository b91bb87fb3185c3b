"""The fairness audit's picture: per group, score distributions and DET curves.

One row per grouping column: on the left, the mated and non-mated score densities of
each group (log scale, so the impostor tail that decides the FMR is visible) with the
global thresholds; on the right, each group's DET curve (FNMR against FMR, log-log).
Rendered with matplotlib's Agg canvas (no pyplot, no GUI).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from faceprint.eval.fairness.report import FairnessReport

__all__ = ["plot_fairness"]


def _rebin(centres: np.ndarray, counts: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(counts) // factor * factor
    x = centres[:n].reshape(-1, factor).mean(axis=1)
    return x, counts[:n].reshape(-1, factor).sum(axis=1)


def plot_fairness(report: FairnessReport, path: Path) -> None:
    """Write the audit's PNG to ``path`` (its folder created).

    Raises:
        OSError: the file cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = max(1, len(report.columns))
    fig = Figure(figsize=(11.0, 3.8 * rows), dpi=110)
    FigureCanvasAgg(fig)
    colours = [f"C{i}" for i in range(10)]
    for r, col in enumerate(report.columns):
        dist = fig.add_subplot(rows, 2, 2 * r + 1)
        det = fig.add_subplot(rows, 2, 2 * r + 2)
        non_mated = np.asarray(col._hist_non_mated, dtype=np.float64)
        mated = np.asarray(col._hist_mated, dtype=np.float64)
        n_bins = non_mated.shape[1] if non_mated.ndim == 2 else 0
        centres = -1.0 + (np.arange(n_bins) + 0.5) * (2.0 / max(n_bins, 1))
        drawn = 0
        for g, counts in enumerate(col.counts):
            colour = colours[g % len(colours)]
            nm, m = non_mated[g], mated[g]
            if nm.sum():
                x, y = _rebin(centres, nm, 5)
                dist.plot(x, y / nm.sum(), color=colour, lw=1, label=f"{counts.group} non-mated")
            if m.sum():  # few mated comparisons: coarser bins
                x, y = _rebin(centres, m, 20)
                dist.plot(
                    x, y / m.sum(), color=colour, lw=1, ls="--", label=f"{counts.group} mated"
                )
            if nm.sum() and m.sum():
                fmr = np.cumsum(nm[::-1])[::-1] / nm.sum()
                fnmr = np.concatenate([[0.0], np.cumsum(m)[:-1]]) / m.sum()
                keep = (fmr > 0) & (fnmr > 0)
                if keep.any():
                    det.plot(fmr[keep], fnmr[keep], color=colour, lw=1.2, label=counts.group)
                    drawn += 1
        for op in col.operating_points:
            dist.axvline(op.threshold, color="grey", lw=0.8, ls=":")
            det.axvline(op.fmr_target, color="grey", lw=0.8, ls=":")
        dist.set_yscale("log")
        dist.set_ylim(1e-7, 1.0)
        dist.set_xlim(-0.5, 1.0)
        dist.set_xlabel("similarity (dotted: global thresholds)")
        dist.set_ylabel("fraction of comparisons per bin")
        dist.set_title(f"{col.column}: score distributions", fontsize="medium")
        dist.legend(fontsize="x-small", ncol=2)
        if drawn:
            det.set_xscale("log")
            det.set_yscale("log")
            det.set_xlim(1e-6, 1.0)
            det.legend(fontsize="small")
        else:
            det.text(0.5, 0.5, "too few errors to draw", ha="center", transform=det.transAxes)
        det.set_xlabel("FMR")
        det.set_ylabel("FNMR")
        det.set_title(f"{col.column}: DET per group", fontsize="medium")
        det.grid(True, which="both", alpha=0.3)
    proxy = " (predicted proxy groups)" if report.predicted_groups else ""
    adjusted = f", adjusted by {report.score_adjuster}" if report.score_adjuster else ""
    fig.suptitle(f"{report.model_id}{adjusted}: errors per demographic group{proxy}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
