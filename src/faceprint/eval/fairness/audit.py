"""Demographic differentials of a face set's errors, per group (ISO/IEC 19795-10 terms).

For each grouping column and each demographic group in it:

- **1:1** — FMR over *all* non-mated comparisons inside the group (both faces in the
  group, different identities: tens of millions on LFW, so FMR 1e-4 is measurable) and
  FNMR over its mated comparisons, at the global thresholds for FMR 1e-3 and 1e-4 (the
  model's calibration; empirical on this set when it has none); FMR and FNMR
  max/geomean and max/min across groups, GARBE, and 95 % intervals from a bootstrap
  over **subjects** within each group (comparisons of one person are not independent);
- **1:N** — gallery = the first image of each person with ≥ 2, mated searches = their
  other images, non-mated searches = people with one image; FPIR and FNIR per group
  at the global threshold that gives the pooled FPIR target.

A group with fewer than ``10 / FMR`` non-mated comparisons cannot resolve that FMR and
is left out of the ratios at that operating point (it is still listed).
A :class:`~faceprint.core.score_adjust.ScoreAdjuster` re-scores every comparison (an
audit of a mitigation); without one the raw similarity is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.core.fairness import (
    bootstrap_interval,
    garbe,
    max_over_geomean,
    max_over_min,
)
from faceprint.core.score_adjust import ScoreAdjuster
from faceprint.errors import DatasetError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.eval.fairness.groups import GroupLabels
from faceprint.eval.fairness.report import (
    ColumnAudit,
    FairnessReport,
    GroupCounts,
    GroupPoint,
    Identification,
    IdentificationGroup,
    OperatingPoint,
)

__all__ = ["ColumnAudit", "FairnessReport", "audit_fairness"]

FMR_POINTS = (1e-3, 1e-4)
"""The 1:1 operating points reported."""

_BIN = 2e-3
_EDGES = np.linspace(-1.0, 1.0, round(2.0 / _BIN) + 1)


def _bins(scores: NDArray[np.floating]) -> NDArray[np.intp]:
    return np.clip(((scores + 1.0) / _BIN).astype(np.intp), 0, len(_EDGES) - 2)


def _ratio_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True, slots=True)
class _Units:
    """Subjects (person × group) of one column: the bootstrap's resampling units."""

    group: NDArray[np.intp]  # unit -> group code
    of_row: NDArray[np.intp]  # face row -> unit (−1: unknown group)


def _units(persons: Sequence[str], codes: NDArray[np.intp]) -> _Units:
    keys: dict[tuple[str, int], int] = {}
    of_row = np.full(len(persons), -1, np.intp)
    for i, (p, g) in enumerate(zip(persons, codes.tolist(), strict=True)):
        if g >= 0:
            of_row[i] = keys.setdefault((p, g), len(keys))
    group = np.empty(len(keys), np.intp)
    for (_, g), u in keys.items():
        group[u] = g
    return _Units(group=group, of_row=of_row)


@dataclass
class _Tally:
    """Per-unit comparison counts at each threshold, and per-group score histograms."""

    thresholds: NDArray[np.float64]
    units: int
    groups: int
    non_mated: NDArray[np.int64] = field(init=False)
    false_matches: NDArray[np.int64] = field(init=False)
    mated: NDArray[np.int64] = field(init=False)
    false_non_matches: NDArray[np.int64] = field(init=False)
    hist_non_mated: NDArray[np.int64] = field(init=False)
    hist_mated: NDArray[np.int64] = field(init=False)

    def __post_init__(self) -> None:
        t = len(self.thresholds)
        self.non_mated = np.zeros(self.units, np.int64)
        self.mated = np.zeros(self.units, np.int64)
        self.false_matches = np.zeros((t, self.units), np.int64)
        self.false_non_matches = np.zeros((t, self.units), np.int64)
        self.hist_non_mated = np.zeros((self.groups, len(_EDGES) - 1), np.int64)
        self.hist_mated = np.zeros((self.groups, len(_EDGES) - 1), np.int64)

    def add(
        self,
        scores: NDArray[np.float64],
        mated: NDArray[np.bool_],
        unit_a: NDArray[np.intp],
        unit_b: NDArray[np.intp],
        group: int,
    ) -> None:
        n = self.units
        for is_mated in (False, True):
            sel = mated == is_mated
            s, ua, ub = scores[sel], unit_a[sel], unit_b[sel]
            count = self.mated if is_mated else self.non_mated
            count += np.bincount(ua, minlength=n) + np.bincount(ub, minlength=n)
            hist = self.hist_mated if is_mated else self.hist_non_mated
            hist[group] += np.bincount(_bins(s), minlength=hist.shape[1])
            errors = self.false_non_matches if is_mated else self.false_matches
            for k, t in enumerate(self.thresholds):
                wrong = (s < t) if is_mated else (s >= t)
                errors[k] += np.bincount(ua[wrong], minlength=n) + np.bincount(
                    ub[wrong], minlength=n
                )


def _score_block(
    vectors: NDArray[np.float32], a: NDArray[np.intp], b: NDArray[np.intp], adjuster: Any
) -> NDArray[np.float64]:
    if adjuster is None:
        return np.clip((vectors[a] @ vectors[b].T).astype(np.float64), -1.0, 1.0)
    return np.asarray(adjuster.scores(vectors[a], vectors[b]), dtype=np.float64)


def _tally_column(
    faces: AuditSet,
    codes: NDArray[np.intp],
    n_groups: int,
    units: _Units,
    thresholds: NDArray[np.float64],
    adjuster: Any,
    *,
    block: int = 512,
) -> _Tally:
    tally = _Tally(thresholds=thresholds, units=len(units.group), groups=n_groups)
    persons = np.asarray(faces.persons)
    for g in range(n_groups):
        rows = np.flatnonzero(codes == g)
        for start in range(0, len(rows), block):
            a = rows[start : start + block]
            b = rows[start:]
            scores = _score_block(faces.vectors, a, b, adjuster)
            upper = np.arange(start, len(rows))[None, :] > np.arange(start, start + len(a))[:, None]
            ia, ib = np.nonzero(upper)
            mated = persons[a][ia] == persons[b][ib]
            tally.add(scores[ia, ib], mated, units.of_row[a][ia], units.of_row[b][ib], g)
    return tally


def _rate(errors: NDArray[np.int64], counts: NDArray[np.int64], idx: NDArray[np.intp]) -> float:
    total = counts[idx].sum()
    return float(errors[idx].sum() / total) if total else math.nan


def _subset_rate(
    errors: NDArray[np.int64],
    counts: NDArray[np.int64],
    members: NDArray[np.intp],
    i: NDArray[np.int64],
) -> float:
    return _rate(errors, counts, members[i])


def _ratios(values: list[float]) -> tuple[float | None, float | None]:
    ok = [v for v in values if not math.isnan(v)]
    if len(ok) < 2:
        return None, None
    return _ratio_or_none(max_over_geomean(ok)), _ratio_or_none(max_over_min(ok))


def _operating_point(
    tally: _Tally,
    k: int,
    fmr_target: float,
    names: Sequence[str],
    units: _Units,
    rounds: int,
    seed: int,
) -> OperatingPoint:
    members = [np.flatnonzero(units.group == g) for g in range(len(names))]
    fm, fnm = tally.false_matches[k], tally.false_non_matches[k]
    resolved = [tally.non_mated[m].sum() / 2 >= 10 / fmr_target for m in members]
    used = [g for g in range(len(names)) if resolved[g]]
    points = []
    fmrs, fnmrs = [], []
    for g, name in enumerate(names):
        m = members[g]
        fmr = _rate(fm, tally.non_mated, m)
        fnmr = _rate(fnm, tally.mated, m)
        fmr_ci = fnmr_ci = None
        if rounds and len(m) > 1:
            strata = np.zeros(len(m), np.intp)
            if not math.isnan(fmr):
                fmr_ci = bootstrap_interval(
                    partial(_subset_rate, fm, tally.non_mated, m),
                    strata,
                    rounds=rounds,
                    seed=seed,
                )
            if not math.isnan(fnmr):
                fnmr_ci = bootstrap_interval(
                    partial(_subset_rate, fnm, tally.mated, m),
                    strata,
                    rounds=rounds,
                    seed=seed,
                )
        points.append(
            GroupPoint(
                group=name,
                fmr=None if math.isnan(fmr) else fmr,
                fmr_interval=fmr_ci,
                false_matches=int(fm[m].sum() // 2),
                fnmr=None if math.isnan(fnmr) else fnmr,
                fnmr_interval=fnmr_ci,
                false_non_matches=int(fnm[m].sum() // 2),
                resolved=bool(resolved[g]),
            )
        )
        if resolved[g]:
            fmrs.append(fmr)
            fnmrs.append(fnmr)
    fmr_mg, fmr_mm = _ratios(fmrs)
    fnmr_mg, fnmr_mm = _ratios(fnmrs)
    fmr_mg_ci = fnmr_mg_ci = None
    if rounds and len(used) >= 2:
        pool = np.concatenate([members[g] for g in used])
        strata = units.group[pool]

        def ratio(
            errors: NDArray[np.int64], counts: NDArray[np.int64], i: NDArray[np.intp]
        ) -> float:
            picked = pool[i]
            rates = [_rate(errors, counts, picked[strata[i] == g]) for g in used]
            rates = [r for r in rates if not math.isnan(r)]
            return max_over_geomean(rates) if len(rates) >= 2 else math.nan

        low, high = bootstrap_interval(
            lambda i: ratio(fm, tally.non_mated, i), strata, rounds=rounds, seed=seed
        )
        fmr_mg_ci = (_ratio_or_none(low), _ratio_or_none(high))
        low, high = bootstrap_interval(
            lambda i: ratio(fnm, tally.mated, i), strata, rounds=rounds, seed=seed
        )
        fnmr_mg_ci = (_ratio_or_none(low), _ratio_or_none(high))
    both = [
        (a, b) for a, b in zip(fmrs, fnmrs, strict=True) if not (math.isnan(a) or math.isnan(b))
    ]
    return OperatingPoint(
        fmr_target=fmr_target,
        threshold=float(tally.thresholds[k]),
        groups=tuple(points),
        fmr_max_geomean=fmr_mg,
        fmr_max_geomean_interval=fmr_mg_ci,
        fmr_max_min=fmr_mm,
        fnmr_max_geomean=fnmr_mg,
        fnmr_max_geomean_interval=fnmr_mg_ci,
        fnmr_max_min=fnmr_mm,
        garbe=garbe([a for a, _ in both], [b for _, b in both]) if len(both) >= 2 else None,
    )


def _identification(
    faces: AuditSet,
    codes: NDArray[np.intp],
    names: Sequence[str],
    adjuster: Any,
    fpir: float,
) -> Identification | None:
    persons = np.asarray(faces.persons)
    order = np.argsort(np.asarray(faces.paths), kind="stable")
    counts: dict[str, int] = {}
    for p in persons:
        counts[p] = counts.get(p, 0) + 1
    gallery, mated, nonmated = [], [], []
    seen: set[str] = set()
    for i in order.tolist():
        p = persons[i]
        if counts[p] == 1:
            nonmated.append(i)
        elif p not in seen:
            seen.add(p)
            gallery.append(i)
        else:
            mated.append(i)
    if not gallery or not mated or len(nonmated) < 1 / fpir:
        return None
    g_idx = np.asarray(gallery)
    best_score = np.empty(len(faces))
    best_row = np.empty(len(faces), np.intp)
    probes = np.asarray(mated + nonmated)
    for start in range(0, len(probes), 1024):
        rows = probes[start : start + 1024]
        scores = _score_block(faces.vectors, rows, g_idx, adjuster)
        best_row[rows] = g_idx[scores.argmax(axis=1)]
        best_score[rows] = scores.max(axis=1)
    nm = np.asarray(nonmated)
    allowed = math.floor(fpir * len(nm))
    desc = np.sort(best_score[nm])[::-1]
    threshold = float(np.nextafter(desc[allowed], np.inf)) if allowed < len(desc) else -1.0
    mt = np.asarray(mated)
    identified = (persons[best_row[mt]] == persons[mt]) & (best_score[mt] >= threshold)
    false_positive = best_score[nm] >= threshold
    rows_out = []
    fnirs, fpirs = [], []
    for g, name in enumerate(names):
        in_m = codes[mt] == g
        in_n = codes[nm] == g
        fnir = float(1 - identified[in_m].mean()) if in_m.any() else math.nan
        fp = float(false_positive[in_n].mean()) if in_n.any() else math.nan
        resolved = in_n.sum() >= 10 / fpir
        rows_out.append(
            IdentificationGroup(
                group=name,
                mated_searches=int(in_m.sum()),
                non_mated_searches=int(in_n.sum()),
                fnir=None if math.isnan(fnir) else fnir,
                fpir=None if math.isnan(fp) else fp,
                fpir_resolved=bool(resolved),
            )
        )
        fnirs.append(fnir)
        if resolved:
            fpirs.append(fp)
    return Identification(
        fpir_target=fpir,
        threshold=threshold,
        gallery=len(gallery),
        groups=tuple(rows_out),
        fnir_max_geomean=_ratios(fnirs)[0],
        fpir_max_geomean=_ratios(fpirs)[0],
    )


def _empirical_thresholds(faces: AuditSet, targets: Sequence[float]) -> dict[float, float]:
    """The raw-similarity threshold at each FMR over all non-mated comparisons of the
    set (an adjuster's scores are on this same global scale)."""
    from faceprint.eval.fairness.fit import BIN_WIDTH, impostor_histograms

    counts, _ = impostor_histograms(faces.vectors, faces.persons)
    total = counts.sum()
    at_or_above = np.cumsum(counts[::-1])[::-1]
    edges = -1.0 + BIN_WIDTH * np.arange(len(counts))
    out = {}
    for target in targets:
        ok = np.flatnonzero(at_or_above <= target * total)
        out[target] = float(edges[ok[0]]) if ok.size else 1.0
    return out


def audit_fairness(
    faces: AuditSet,
    labels: GroupLabels,
    *,
    thresholds: Mapping[float, float] | None = None,
    adjuster: ScoreAdjuster | None = None,
    fpir: float = 0.01,
    rounds: int = 1000,
    seed: int = 0,
    dataset: str = "",
) -> FairnessReport:
    """Audit every column of ``labels`` over ``faces`` (see the module doc).

    Args:
        thresholds: FMR target → similarity threshold (the model's calibration); the
            targets are :data:`FMR_POINTS` when ``None`` (thresholds then measured on
            this set).
        adjuster: re-score every comparison with this mitigation.
        fpir: the pooled FPIR target of the 1:N part.
        rounds: bootstrap rounds of the intervals (0: none).

    Raises:
        DatasetError: a column has fewer than two groups, or labels and faces differ
            in length.
    """
    if adjuster is not None and adjuster.model_id != faces.model_id:
        raise DatasetError(
            f"the score adjuster was fitted for {adjuster.model_id!r}, "
            f"these faces are embedded by {faces.model_id!r}"
        )
    points = dict(thresholds) if thresholds else _empirical_thresholds(faces, FMR_POINTS)
    targets = sorted(points, reverse=True)
    values = np.array([points[t] for t in targets], dtype=np.float64)
    columns = []
    for column, raw in labels.columns.items():
        if len(raw) != len(faces):
            raise DatasetError(f"column {column!r}: {len(raw)} labels for {len(faces)} faces")
        names = sorted(set(raw) - {""})
        if len(names) < 2:
            raise DatasetError(f"column {column!r} has fewer than two groups: {names}")
        index = {n: i for i, n in enumerate(names)}
        codes = np.array([index.get(v, -1) for v in raw], dtype=np.intp)
        units = _units(faces.persons, codes)
        tally = _tally_column(faces, codes, len(names), units, values, adjuster)
        counts = tuple(
            GroupCounts(
                group=n,
                faces=int((codes == g).sum()),
                subjects=int((units.group == g).sum()),
                mated=int(tally.mated[units.group == g].sum() // 2),
                non_mated=int(tally.non_mated[units.group == g].sum() // 2),
            )
            for g, n in enumerate(names)
        )
        ops = tuple(
            _operating_point(tally, k, t, names, units, rounds, seed) for k, t in enumerate(targets)
        )
        columns.append(
            ColumnAudit(
                column=column,
                counts=counts,
                operating_points=ops,
                identification=_identification(faces, codes, names, adjuster, fpir),
                _hist_non_mated=tally.hist_non_mated,
                _hist_mated=tally.hist_mated,
            )
        )
    return FairnessReport(
        model_id=faces.model_id,
        dataset=dataset,
        faces=len(faces),
        identities=len(faces.identities),
        groups_source=labels.source,
        predicted_groups=labels.predicted,
        score_adjuster=None if adjuster is None else adjuster.method,
        bootstrap_rounds=rounds,
        columns=tuple(columns),
    )
