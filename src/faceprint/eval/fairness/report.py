"""The fairness audit's report: per group and operating point, with its summary and
picture (computed by :mod:`faceprint.eval.fairness.audit`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.eval.fairness.heldout import MitigationReport

__all__ = [
    "ColumnAudit",
    "FairnessReport",
    "GroupCounts",
    "GroupPoint",
    "Identification",
    "IdentificationGroup",
    "OperatingPoint",
]


@dataclass(frozen=True, slots=True)
class GroupPoint:
    """One group at one operating point."""

    group: str
    fmr: float | None
    fmr_interval: tuple[float, float] | None
    false_matches: int
    fnmr: float | None
    fnmr_interval: tuple[float, float] | None
    false_non_matches: int
    resolved: bool  # enough non-mated comparisons to resolve the FMR target


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Every group at the global threshold for one FMR target, and the summary ratios."""

    fmr_target: float
    threshold: float
    groups: tuple[GroupPoint, ...]
    fmr_max_geomean: float | None
    fmr_max_geomean_interval: tuple[float | None, float | None] | None
    fmr_max_min: float | None
    fnmr_max_geomean: float | None
    fnmr_max_geomean_interval: tuple[float | None, float | None] | None
    fnmr_max_min: float | None
    garbe: float | None


@dataclass(frozen=True, slots=True)
class GroupCounts:
    group: str
    faces: int
    subjects: int
    mated: int
    non_mated: int


@dataclass(frozen=True, slots=True)
class IdentificationGroup:
    group: str
    mated_searches: int
    non_mated_searches: int
    fnir: float | None
    fpir: float | None
    fpir_resolved: bool  # ≥ 10/FPIR non-mated searches: enough to compare with the target


@dataclass(frozen=True, slots=True)
class Identification:
    """1:N per group at one global threshold (pooled FPIR = ``fpir_target``)."""

    fpir_target: float
    threshold: float
    gallery: int
    groups: tuple[IdentificationGroup, ...]
    fnir_max_geomean: float | None
    fpir_max_geomean: float | None


def _no_counts() -> NDArray[np.int64]:
    return np.zeros((0, 0), np.int64)


@dataclass(frozen=True, slots=True)
class ColumnAudit:
    """One grouping column's audit."""

    column: str
    counts: tuple[GroupCounts, ...]
    operating_points: tuple[OperatingPoint, ...]
    identification: Identification | None
    _hist_non_mated: NDArray[np.int64] = field(repr=False, default_factory=_no_counts)
    _hist_mated: NDArray[np.int64] = field(repr=False, default_factory=_no_counts)


@dataclass(frozen=True, slots=True)
class FairnessReport:
    """The audit of every grouping column (``faceprint eval fairness``)."""

    model_id: str
    dataset: str
    faces: int
    identities: int
    groups_source: str
    predicted_groups: bool
    score_adjuster: str | None
    bootstrap_rounds: int
    columns: tuple[ColumnAudit, ...]
    terms: str = "ISO/IEC 19795-10: FMR/FNMR of non-mated/mated comparisons; FPIR/FNIR of searches"
    mitigation: MitigationReport | None = None

    def summary(self) -> str:
        proxy = " (PREDICTED proxies, not ground truth)" if self.predicted_groups else ""
        lines = [
            f"demographic differentials, model {self.model_id}"
            + (f" with score adjuster {self.score_adjuster}" if self.score_adjuster else ""),
            f"  {self.faces} faces of {self.identities} subjects; groups from "
            f"{self.groups_source}{proxy}",
        ]
        for col in self.columns:
            lines.append(f"  [{col.column}]")
            for op in col.operating_points:
                lines.append(f"    at FMR {op.fmr_target:g} (threshold {op.threshold:.4f}):")
                for g in op.groups:
                    fmr = "n/a" if g.fmr is None else f"{g.fmr:.2e}"
                    ci = (
                        ""
                        if g.fmr_interval is None
                        else (f" [{g.fmr_interval[0]:.2e}, {g.fmr_interval[1]:.2e}]")
                    )
                    fnmr = "n/a" if g.fnmr is None else f"{g.fnmr:.2%}"
                    flag = "" if g.resolved else "  (too few comparisons: not in ratios)"
                    lines.append(f"      {g.group:<14} FMR {fmr}{ci}  FNMR {fnmr}{flag}")
                lines.append(
                    f"      FMR max/geomean {_fmt(op.fmr_max_geomean)} "
                    f"{_fmt_ci(op.fmr_max_geomean_interval)}, max/min {_fmt(op.fmr_max_min)}; "
                    f"FNMR max/geomean {_fmt(op.fnmr_max_geomean)}; GARBE {_fmt(op.garbe)}"
                )
            ident = col.identification
            if ident is not None:
                parts = ", ".join(
                    f"{g.group} FNIR {_pct(g.fnir)} FPIR {_pct(g.fpir)}"
                    + ("" if g.fpir_resolved else " (too few non-mated searches)")
                    for g in ident.groups
                )
                lines.append(f"    1:N at pooled FPIR {ident.fpir_target:g}: {parts}")
        if self.mitigation is not None:
            lines.append(self.mitigation.summary())
        return "\n".join(lines)

    def plot(self, path: str | Path) -> None:
        from faceprint.eval.fairness.plots import plot_fairness

        plot_fairness(self, Path(path))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _fmt_ci(interval: tuple[float | None, float | None] | None) -> str:
    if interval is None:
        return ""
    low, high = interval
    return f"[{_fmt(low)}, {'∞' if high is None else _fmt(high)}]"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"
