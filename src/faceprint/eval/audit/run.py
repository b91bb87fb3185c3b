"""The audit as one job: thresholds, the inversion targets and their runs, in the
order ``faceprint audit`` reports them.

What attacks the service is passed in (``oracle_for``): this layer knows neither HTTP
nor the service; the CLI starts the real service for each response mode and hands
back an :class:`~faceprint.eval.audit.inversion.Oracle` per target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import DatasetError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.eval.audit.facespace import FaceSpace
from faceprint.eval.audit.inversion import Oracle, invert, judge, reference_embeddings
from faceprint.pipeline import FacePipeline
from faceprint.types import ImageArray, Progress

__all__ = [
    "AUDIT_FMRS",
    "MODES",
    "InversionTarget",
    "ModeSummary",
    "audit_thresholds",
    "choose_targets",
    "run_inversion",
    "space_images",
]

AUDIT_FMRS: dict[str, float] = {"default (FMR 1e-3)": 1e-3, "FMR 1e-4": 1e-4, "FMR 1e-5": 1e-5}
"""The three thresholds every figure is given at."""

MODES: dict[str, str] = {
    "exact": "similarities at full precision, no budgets, no detector",
    "rounded": "similarities rounded to 2 decimals, no budgets, no detector",
    "decision": "decisions only (no similarity), no budgets, no detector",
    "detector": "shipped defaults without the per-person budget: the hill-climbing "
    "detector and the daily budget alone",
    "defaults": "the shipped service defaults (2-decimal scores, 10,000 requests per key "
    "per day, 20 failed claims per person per day, hill-climbing detector)",
}
"""The response modes the inversion attack runs against, in report order."""


def audit_thresholds(pipeline: FacePipeline) -> dict[str, tuple[float, float]]:
    """``{name: (similarity, fmr)}`` of the 1:1 thresholds at :data:`AUDIT_FMRS`."""
    out = {}
    for name, fmr in AUDIT_FMRS.items():
        out[name] = (pipeline.verification_threshold(fmr=fmr).similarity, fmr)
    return out


@dataclass(frozen=True, slots=True)
class InversionTarget:
    """An attacked person: the image enrolled in the service and their other photos
    (what the check model compares a reconstruction with)."""

    person: str
    enrolled: Path
    references: tuple[Path, ...]


def choose_targets(
    audit_set: AuditSet, root: Path, count: int, *, seed: int = 0
) -> list[InversionTarget]:
    """``count`` people with at least three photos, drawn with ``seed``: the first photo
    is enrolled, every photo is a reference.

    Raises:
        DatasetError: fewer such people than ``count``.
    """
    by_person: dict[str, list[str]] = {}
    for path, person in zip(audit_set.paths, audit_set.persons, strict=True):
        by_person.setdefault(person, []).append(path)
    eligible = sorted(p for p, files in by_person.items() if len(files) >= 3)
    if len(eligible) < count:
        raise DatasetError(
            f"{len(eligible)} people have three or more photos with a face; "
            f"{count} inversion targets were asked for"
        )
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(eligible), size=count, replace=False).tolist())
    targets = []
    for i in picked:
        files = sorted(by_person[eligible[i]])
        targets.append(
            InversionTarget(
                person=eligible[i],
                enrolled=root / files[0],
                references=tuple(root / f for f in files),
            )
        )
    return targets


def space_images(
    audit_set: AuditSet,
    root: Path,
    exclude: Sequence[str],
    *,
    limit: int = 2000,
    seed: int = 0,
) -> list[Path]:
    """Photos of people other than ``exclude`` (the attacker's eigenface material), at
    most ``limit``, one per person first so no one dominates."""
    banned = set(exclude)
    firsts: dict[str, str] = {}
    rest: list[str] = []
    for path, person in zip(audit_set.paths, audit_set.persons, strict=True):
        if person in banned:
            continue
        if person in firsts:
            rest.append(path)
        else:
            firsts[person] = path
    rng = np.random.default_rng(seed)
    chosen = list(firsts.values())
    rng.shuffle(chosen)
    extra = list(rest)
    rng.shuffle(extra)
    return [root / p for p in (chosen + extra)[:limit]]


@dataclass(slots=True)
class ModeSummary:
    """One response mode: per budget, over the targets."""

    mode: str
    description: str
    budgets: list[int]
    attacked_matches: list[int] = field(default_factory=list)
    """Targets for which the service said "match" to the best image by this budget."""
    successes: list[int] = field(default_factory=list)
    """…and the check model also matched it to the target's real photos."""
    best_scores: list[list[float | None]] = field(default_factory=list)
    check_scores: list[list[float | None]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, ImageArray] = field(default_factory=dict, repr=False)
    """The best reconstruction of each target at the largest budget."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "description": self.description,
            "budgets": self.budgets,
            "targets": len(self.runs),
            "attacked_matches": self.attacked_matches,
            "successes": self.successes,
            "best_scores": self.best_scores,
            "check_scores": self.check_scores,
            "runs": self.runs,
        }


def run_inversion(
    space: FaceSpace,
    targets: Sequence[InversionTarget],
    modes: Sequence[str],
    oracle_for: Callable[[str, InversionTarget], AbstractContextManager[Oracle]],
    *,
    check: FacePipeline,
    check_threshold: float,
    budget: int = 10_000,
    checkpoints: Sequence[int] = (100, 1_000, 10_000),
    seed: int = 0,
    events_for: Callable[[str, InversionTarget], list[dict[str, Any]]] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[ModeSummary]:
    """Attack every target in every mode; judge each checkpoint's best image with the
    ``check`` model at ``check_threshold`` against the target's real photos.

    A checkpoint succeeds when the attacked service said "match" for its best image
    and the check model agrees. ``events_for(mode, target)`` returns the security
    events the service logged for that run (kept in the run's record).
    """
    marks = sorted({min(c, budget) for c in checkpoints})
    references = {t.person: reference_embeddings(check, list(t.references)) for t in targets}
    out = []
    for mode in modes:
        summary = ModeSummary(mode=mode, description=MODES.get(mode, mode), budgets=marks)
        per_mark = [[0, 0] for _ in marks]
        scores: list[list[float | None]] = [[] for _ in marks]
        checks: list[list[float | None]] = [[] for _ in marks]
        for n, target in enumerate(targets):
            report: Progress | None = None
            if progress is not None:
                label = f"{mode}: {target.person}"

                def report(done: int, total: int, _: str = "", label: str = label) -> None:
                    progress(label, done, total)

            with oracle_for(mode, target) as oracle:
                run = invert(
                    oracle,
                    space,
                    budget=budget,
                    checkpoints=marks,
                    seed=seed + n,
                    mode=mode,
                    progress=report,
                )
            record = run.to_dict() | {"person": target.person, "judgements": []}
            for i, point in enumerate(run.checkpoints):
                verdict = judge(check, point.image, references[target.person], check_threshold)
                attacked = bool(point.best_match)
                per_mark[i][0] += attacked
                per_mark[i][1] += attacked and verdict.match
                scores[i].append(point.best_score)
                checks[i].append(verdict.similarity)
                record["judgements"].append(verdict.to_dict() | {"budget": point.budget})
            if run.checkpoints:
                summary.images[target.person] = run.checkpoints[-1].image
            if events_for is not None:
                record["security_events"] = events_for(mode, target)
            summary.runs.append(record)
        summary.attacked_matches = [a for a, _ in per_mark]
        summary.successes = [s for _, s in per_mark]
        summary.best_scores, summary.check_scores = scores, checks
        out.append(summary)
    return out
