"""Each mitigation measured on identities it was not fitted on (LFW View 2 folds).

The ten folds of an LFW-style pairs file are identity-disjoint (checked: a person in
two folds is an error). For each fold, a mitigation is fitted on the faces of the other
nine folds' people and applied to every comparison among the held-out fold's faces
(all non-mated pairs, all mated pairs) and to the fold's listed pairs. The held-out
scores of the ten folds are then pooled: the global thresholds are the pooled
non-mated quantiles at FMR 1e-3 and 1e-4, per-group FMR/FNMR are read at them, and the
listed pairs give the usual 10-fold accuracy and TAR@FAR=1e-3 — so every method,
"none" included, is judged by the same rule on faces it never saw.

Methods: ``none``; ``faircal-K`` (label-free, K k-means clusters);
``group-thresholds`` and ``centroid-B`` (fitted with the group labels, applied by
nearest group centroid, so no label is needed when matching).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.core.fairness import max_over_geomean, max_over_min
from faceprint.core.metrics import kfold_accuracy, tar_at_far
from faceprint.core.score_adjust import ScoreAdjuster
from faceprint.errors import DatasetError, UsageError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.eval.datasets import Pair
from faceprint.eval.fairness.fit import fit_centroid_shift, fit_faircal, fit_group_thresholds

__all__ = ["MitigationReport", "MitigationRow", "fitter", "held_out_mitigations"]

Fitter = Callable[[NDArray[np.float32], Sequence[str], Sequence[str], str], ScoreAdjuster | None]


def fitter(spec: str) -> Fitter:
    """The fitting function of a method spec (see the module doc).

    Raises:
        UsageError: an unknown spec.
    """
    name, _, arg = spec.partition("-")
    try:
        if spec == "none":
            return lambda x, ids, groups, model: None
        if name == "faircal":
            k = int(arg or 20)
            return lambda x, ids, groups, model: fit_faircal(x, ids, model_id=model, clusters=k)
        if spec == "group-thresholds":
            return lambda x, ids, groups, model: fit_group_thresholds(
                x, ids, groups, model_id=model
            )
        if name == "centroid":
            beta = float(arg or 1.0)
            return lambda x, ids, groups, model: fit_centroid_shift(
                x, ids, groups, model_id=model, beta=beta
            )
    except ValueError:
        pass
    raise UsageError(
        f"unknown mitigation {spec!r}: use none, faircal-K, group-thresholds or centroid-BETA"
    )


@dataclass(frozen=True, slots=True)
class MitigationPoint:
    fmr_target: float
    tar_all_mated: float
    fmr: dict[str, float]
    fnmr: dict[str, float]
    fmr_max_geomean: float | None
    fmr_max_min: float | None
    fnmr_max_geomean: float | None


@dataclass(frozen=True, slots=True)
class MitigationRow:
    """One method's held-out figures."""

    method: str
    accuracy: float
    tar_at_far_1e3: float
    points: tuple[MitigationPoint, ...]
    fit_seconds: float


@dataclass(frozen=True, slots=True)
class MitigationReport:
    model_id: str
    column: str
    groups: dict[str, int]
    predicted_groups: bool
    folds: int
    rows: tuple[MitigationRow, ...]

    def summary(self) -> str:
        proxy = " (predicted proxies)" if self.predicted_groups else ""
        lines = [
            f"mitigations on held-out identities ({self.folds} identity-disjoint folds), "
            f"model {self.model_id}, groups {self.column}{proxy}",
            "  method              accuracy  TAR@1e-3  FMR max/geomean @1e-3  @1e-4  "
            "FNMR max/geomean @1e-3",
        ]
        for row in self.rows:
            p3, p4 = row.points[0], row.points[-1]
            lines.append(
                f"  {row.method:<18} {row.accuracy:8.2%}  {row.tar_at_far_1e3:8.2%}  "
                f"{_f(p3.fmr_max_geomean):>21}  {_f(p4.fmr_max_geomean):>5}  "
                f"{_f(p3.fnmr_max_geomean):>22}"
            )
        return "\n".join(lines)


def _f(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _folds_of(faces: AuditSet, pairs: Sequence[Pair], root: Path) -> NDArray[np.int64]:
    fold_of: dict[str, set[int]] = {}
    for p in pairs:
        for path in (p.path_a, p.path_b):
            fold_of.setdefault(path.parent.name, set()).add(p.fold)
    mixed = [name for name, folds in fold_of.items() if len(folds) > 1]
    if mixed:
        raise DatasetError(
            f"{len(mixed)} people appear in more than one fold (e.g. {mixed[0]!r}): "
            "the folds are not identity-disjoint, so no fit would be held out"
        )
    return np.array([next(iter(fold_of.get(p, {-1}))) for p in faces.persons], dtype=np.int64)


def _ratio(values: list[float], fn: Callable[[list[float]], float]) -> float | None:
    ok = [v for v in values if not math.isnan(v)]
    if len(ok) < 2:
        return None
    r = fn(ok)
    return r if math.isfinite(r) else None


def _scores(adjuster: Any, a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    if adjuster is None:
        return np.clip((a @ b.T).astype(np.float64), -1.0, 1.0)
    return np.asarray(adjuster.scores(a, b), dtype=np.float64)


def held_out_mitigations(
    faces: AuditSet,
    groups: Sequence[str],
    pairs: Sequence[Pair],
    root: Path,
    methods: Sequence[str],
    *,
    column: str = "group",
    predicted: bool = False,
    fmr_points: Sequence[float] = (1e-3, 1e-4),
    progress: Callable[[int, int, str], None] | None = None,
) -> MitigationReport:
    """Fit and score every method fold by fold (see the module doc).

    Raises:
        DatasetError: folds share people, or a group has no non-mated comparisons.
        UsageError: an unknown method.
    """
    fitters = [(m, fitter(m)) for m in methods]
    base = Path(root)
    fold = _folds_of(faces, pairs, base)
    labels = np.asarray([str(g) for g in groups])
    names = sorted(set(labels.tolist()) - {""})
    persons = np.asarray(faces.persons)
    index = {p: i for i, p in enumerate(faces.paths)}
    pair_rows = []
    for p in pairs:
        a = index.get(_relative(p.path_a, base))
        b = index.get(_relative(p.path_b, base))
        pair_rows.append((a, b))
    n_folds = int(fold.max()) + 1
    rows = []
    total = len(fitters) * n_folds
    for m, (spec, fit) in enumerate(fitters):
        imp_s, imp_g, gen_s, gen_g = [], [], [], []
        pair_scores = np.full(len(pairs), -1.0)
        fit_seconds = 0.0
        for f in range(n_folds):
            test = np.flatnonzero(fold == f)
            train = np.flatnonzero((fold >= 0) & (fold != f))
            started = time.perf_counter()
            adjuster = fit(
                faces.vectors[train], list(persons[train]), list(labels[train]), faces.model_id
            )
            fit_seconds += time.perf_counter() - started
            xt = faces.vectors[test]
            scores = _scores(adjuster, xt, xt)
            iu = np.triu_indices(len(test), 1)
            same = persons[test][iu[0]] == persons[test][iu[1]]
            ga, gb = labels[test][iu[0]], labels[test][iu[1]]
            within = np.where(ga == gb, ga, "")
            s = scores[iu]
            imp_s.append(s[~same])
            imp_g.append(within[~same])
            gen_s.append(s[same])
            gen_g.append(within[same])
            local = {int(r): i for i, r in enumerate(test)}
            for j, (p, (a, b)) in enumerate(zip(pairs, pair_rows, strict=True)):
                if p.fold == f and a is not None and b is not None:
                    pair_scores[j] = scores[local[a], local[b]]
            if progress is not None:
                progress(m * n_folds + f + 1, total, spec)
        imp = np.concatenate(imp_s)
        imp_groups = np.concatenate(imp_g)
        gen = np.concatenate(gen_s)
        gen_groups = np.concatenate(gen_g)
        same_pairs = np.array([p.same for p in pairs])
        folds = np.array([p.fold for p in pairs])
        points = []
        for target in fmr_points:
            threshold = float(np.quantile(imp, 1.0 - target))
            fmr = {g: float(np.mean(imp[imp_groups == g] >= threshold)) for g in names}
            fnmr = {g: float(np.mean(gen[gen_groups == g] < threshold)) for g in names}
            resolved = [g for g in names if (imp_groups == g).sum() >= 10 / target]
            points.append(
                MitigationPoint(
                    fmr_target=target,
                    tar_all_mated=float(np.mean(gen >= threshold)),
                    fmr=fmr,
                    fnmr=fnmr,
                    fmr_max_geomean=_ratio([fmr[g] for g in resolved], max_over_geomean),
                    fmr_max_min=_ratio([fmr[g] for g in resolved], max_over_min),
                    fnmr_max_geomean=_ratio([fnmr[g] for g in resolved], max_over_geomean),
                )
            )
        tar, _ = tar_at_far(pair_scores[same_pairs], pair_scores[~same_pairs], far=1e-3)
        rows.append(
            MitigationRow(
                method=spec,
                accuracy=kfold_accuracy(pair_scores, same_pairs, folds).mean,
                tar_at_far_1e3=tar,
                points=tuple(points),
                fit_seconds=fit_seconds,
            )
        )
    counts = {g: int((labels == g).sum()) for g in names}
    return MitigationReport(
        model_id=faces.model_id,
        column=column,
        groups=counts,
        predicted_groups=predicted,
        folds=n_folds,
        rows=tuple(rows),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
