"""Robustness: the LFW View-2 protocol on degraded captures, per kind and severity.

Every image of every pair is degraded (:mod:`faceprint.eval.degrade`, seeded per image
by its path relative to the LFW root, so any subset or re-run sees the same pixels) and
the protocol is run as on clean images: the threshold is chosen on the other folds,
accuracy measured on the held-out one; TAR at FAR = 1e-3 over all pairs; images where
no face is found keep a zero embedding, so their pairs count as errors. Each condition
is compared with the same pipeline on clean images.

A report can be written after every condition and resumed: conditions already in the
file (same dataset, folds and seed) are not run again.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from faceprint.core.metrics import kfold_accuracy, roc_auc, tar_at_far
from faceprint.errors import DatasetError, UsageError
from faceprint.eval.datasets import Pair, pair_images, read_pairs
from faceprint.eval.degrade import KINDS, SEVERITIES, Degradation, degrade, image_seed
from faceprint.eval.embedding import embed_images
from faceprint.eval.lfw import pair_scores
from faceprint.pipeline import FacePipeline
from faceprint.types import ImageArray, Progress

__all__ = ["RobustnessReport", "RobustnessRow", "run_robustness"]

CLEAN = "clean"


@dataclass(frozen=True, slots=True)
class RobustnessRow:
    """One pipeline on one capture condition.

    ``kind`` is ``"clean"`` (``severity`` 0) or a degradation kind; rates are fractions.
    ``accuracy_drop`` and ``tar_drop`` are the clean figure minus this one (positive =
    worse). ``no_face_images`` counts images of the condition where no face was found.
    """

    pipeline: str
    kind: str
    severity: int
    accuracy: float
    accuracy_std: float
    tar_at_far_1e3: float
    roc_auc: float
    images: int
    no_face_images: int
    pairs_without_face: int
    accuracy_drop: float
    tar_drop: float
    seconds: float

    @property
    def condition(self) -> str:
        return CLEAN if self.kind == CLEAN else f"{self.kind}:{self.severity}"


@dataclass(frozen=True, slots=True)
class RobustnessReport:
    """Rows per pipeline × condition, and the settings that produced them."""

    pairs: int
    folds: tuple[int, ...]
    seed: int
    rows: tuple[RobustnessRow, ...]

    def pipelines(self) -> list[str]:
        return list(dict.fromkeys(r.pipeline for r in self.rows))

    def mean_drop(self, pipeline: str) -> tuple[float, float]:
        """Mean accuracy and TAR drop over the degraded conditions of ``pipeline``."""
        rows = [r for r in self.rows if r.pipeline == pipeline and r.kind != CLEAN]
        if not rows:
            return 0.0, 0.0
        return (
            float(np.mean([r.accuracy_drop for r in rows])),
            float(np.mean([r.tar_drop for r in rows])),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "pairs": self.pairs,
            "folds": list(self.folds),
            "seed": self.seed,
            "rows": [asdict(r) for r in self.rows],
            "mean_drop": {
                p: {"accuracy": a, "tar_at_far_1e3": t}
                for p in self.pipelines()
                for a, t in [self.mean_drop(p)]
            },
        }

    def summary(self) -> str:
        head = (
            f"LFW View 2 under degradations ({self.pairs} pairs, folds "
            f"{','.join(str(f) for f in self.folds)}, seed {self.seed})"
        )
        lines = [
            head,
            f"  {'pipeline':<22} {'condition':<18} {'accuracy':>9} {'drop':>6} "
            f"{'TAR@1e-3':>9} {'drop':>6} {'no face':>8}",
        ]
        for r in self.rows:
            lines.append(
                f"  {r.pipeline:<22} {r.condition:<18} {r.accuracy:>9.2%} "
                f"{100 * r.accuracy_drop:>6.2f} {r.tar_at_far_1e3:>9.2%} "
                f"{100 * r.tar_drop:>6.2f} {r.no_face_images:>8}"
            )
        for p in self.pipelines():
            acc, tar = self.mean_drop(p)
            lines.append(
                f"  {p}: mean drop over degraded conditions {100 * acc:.2f} points accuracy, "
                f"{100 * tar:.2f} points TAR@FAR=1e-3"
            )
        return "\n".join(lines)

    def markdown(self) -> str:
        """The rows as a Markdown table (rates in %, drops in points)."""
        from faceprint.eval.report import markdown_table

        return markdown_table(
            [
                {
                    "pipeline": r.pipeline,
                    "capture": r.condition,
                    "accuracy %": round(100 * r.accuracy, 2),
                    "± std": round(100 * r.accuracy_std, 2),
                    "TAR@FAR=1e-3 %": round(100 * r.tar_at_far_1e3, 2),
                    "accuracy drop": round(100 * r.accuracy_drop, 2),
                    "TAR drop": round(100 * r.tar_drop, 2),
                    "images without a face": r.no_face_images,
                }
                for r in self.rows
            ],
            float_format=".2f",
        )

    def plot(self, path: str | Path) -> None:
        """Bar chart: accuracy (top) and TAR@FAR=1e-3 (bottom) per condition, one bar
        per pipeline in each condition's group."""
        from faceprint.eval.report import plot_bars

        conditions = list(dict.fromkeys(r.condition for r in self.rows))
        values: dict[str, dict[str, tuple[float, float]]] = {}
        for r in self.rows:
            values.setdefault(r.pipeline, {})[r.condition] = (r.accuracy, r.tar_at_far_1e3)
        plot_bars(
            groups=conditions,
            series={p: [values[p].get(c, (np.nan, np.nan)) for c in conditions] for p in values},
            panels=(f"accuracy ({len(self.folds)}-fold)", "TAR at FAR = 1e-3"),
            title=f"LFW View 2 under degradations ({self.pairs} pairs)",
            path=Path(path),
        )


@dataclass(frozen=True, slots=True)
class _Offset:
    """Progress of one condition, reported as progress of the whole run."""

    progress: Progress | None
    offset: int
    total: int
    name: str

    def __call__(self, done: int, _total: int, _source: str) -> None:
        if self.progress is not None:
            self.progress(self.offset + done, self.total, self.name)


def _conditions(kinds: Sequence[str], severities: Sequence[int]) -> list[tuple[str, int]]:
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise UsageError(
            f"unknown degradation {', '.join(unknown)}; choose from {', '.join(KINDS)}"
        )
    for s in severities:
        if s not in SEVERITIES:
            raise UsageError(f"severity must be 1, 2 or 3, got {s}")
    return [(CLEAN, 0)] + [(k, s) for s in severities for k in kinds]


def _transform(
    kind: str, severity: int, *, root: Path, seed: int
) -> Callable[[str, ImageArray], ImageArray] | None:
    if kind == CLEAN:
        return None
    step = Degradation(kind, severity)

    def apply(name: str, pixels: ImageArray) -> ImageArray:
        try:
            relative = Path(name).relative_to(root).as_posix()
        except ValueError:
            relative = Path(name).name
        return degrade(pixels, step, seed=image_seed(seed, relative))

    return apply


def _fingerprint(pipeline: FacePipeline) -> str:
    """What a row measured: faceprint's version, the models and the restoration
    policy (a re-run after any of these changed measures again)."""
    try:
        version = importlib.metadata.version("faceprint")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - uninstalled tree
        version = "unknown"
    return f"faceprint {version}; {pipeline.model_id}; {pipeline.restoration!r}"


def _settings(
    root: Path,
    pairs_file: Path,
    folds: Sequence[int],
    seed: int,
    pipelines: Mapping[str, FacePipeline],
) -> dict[str, object]:
    return {
        "root": str(root),
        "pairs_file": str(pairs_file),
        "folds": list(folds),
        "seed": seed,
        "pipelines": {label: _fingerprint(p) for label, p in pipelines.items()},
    }


def _load_previous(path: Path | None, settings: Mapping[str, object]) -> list[RobustnessRow]:
    """Rows of an earlier run with the same dataset, folds and seed, for the pipelines
    whose fingerprint is unchanged."""
    if path is None or not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        return []
    before = data["settings"]
    if any(before.get(k) != settings[k] for k in ("root", "pairs_file", "folds", "seed")):
        return []
    now = settings["pipelines"]
    then = before.get("pipelines") or {}
    assert isinstance(now, dict)
    try:
        rows = [RobustnessRow(**row) for row in data.get("rows", [])]
    except TypeError:
        return []
    return [r for r in rows if r.pipeline in now and then.get(r.pipeline) == now[r.pipeline]]


def _save(path: Path, report: RobustnessReport, settings: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(json.dumps({"settings": settings, **report.to_dict()}, indent=2) + "\n")
    tmp.replace(path)


def run_robustness(
    pipelines: Mapping[str, FacePipeline],
    *,
    root: str | Path,
    pairs_file: str | Path,
    kinds: Sequence[str] = tuple(KINDS),
    severities: Sequence[int] = (2,),
    folds: Sequence[int] | None = None,
    seed: int = 0,
    checkpoint: str | Path | None = None,
    progress: Progress | None = None,
    workers: int = 2,
) -> RobustnessReport:
    """Run the LFW protocol for every pipeline on clean images and on every
    ``kinds`` × ``severities`` degradation.

    Args:
        pipelines: label → pipeline (e.g. the default and the same with its
            mitigations off, or two embedders).
        root, pairs_file: LFW images and the View-2 pairs file.
        kinds, severities: the degradations (see :mod:`faceprint.eval.degrade`).
        folds: 1-based folds to use (at least two; default all). The protocol runs among
            them: thresholds from the other chosen folds.
        seed: degradation seed (each image's seed derives from it and its path).
        checkpoint: a JSON file written after every condition; rows already in it (same
            dataset, folds and seed, and for a pipeline with the same faceprint version,
            models and restoration policy) are reused, so an interrupted run resumes.
        progress: called with (images done, images in the whole run, condition).

    Raises:
        UsageError: an unknown kind or severity, or fewer than two folds.
        DatasetError: the pairs file is malformed or references missing images.
    """
    root, pairs_file = Path(root).resolve(), Path(pairs_file)
    conditions = _conditions(list(kinds), list(severities))
    pairs = read_pairs(pairs_file, root=root)
    available = sorted({p.fold + 1 for p in pairs})
    chosen = sorted(set(folds)) if folds else available
    missing_folds = [f for f in chosen if f not in available]
    if missing_folds:
        raise DatasetError(f"{pairs_file} has folds 1–{len(available)}; asked for {missing_folds}")
    if len(chosen) < 2:
        raise UsageError("the protocol needs at least two folds (thresholds from the others)")
    pairs = [p for p in pairs if p.fold + 1 in chosen]
    paths = pair_images(pairs)
    settings = _settings(root, pairs_file.resolve(), chosen, seed, pipelines)
    out = Path(checkpoint) if checkpoint is not None else None
    done = {(r.pipeline, r.kind, r.severity): r for r in _load_previous(out, settings)}
    total = len(paths) * len(conditions) * len(pipelines)
    rows: list[RobustnessRow] = []
    step = 0
    for label, pipeline in pipelines.items():
        clean: RobustnessRow | None = None
        for kind, severity in conditions:
            name = CLEAN if kind == CLEAN else f"{kind}:{severity}"
            previous = done.get((label, kind, severity))
            if previous is not None:
                row = previous
            else:
                tick = _Offset(progress, step, total, f"{label} {name}")
                row = _measure(
                    pipeline,
                    label,
                    kind,
                    severity,
                    pairs=pairs,
                    paths=paths,
                    transform=_transform(kind, severity, root=root, seed=seed),
                    clean=clean,
                    progress=tick,
                    workers=workers,
                )
            step += len(paths)
            if progress is not None:
                progress(step, total, f"{label} {name}")
            if kind == CLEAN:
                clean = row
            rows.append(row)
            report = RobustnessReport(len(pairs), tuple(chosen), seed, tuple(rows))
            if out is not None:
                _save(out, report, settings)
    return RobustnessReport(len(pairs), tuple(chosen), seed, tuple(rows))


def _measure(
    pipeline: FacePipeline,
    label: str,
    kind: str,
    severity: int,
    *,
    pairs: Sequence[Pair],
    paths: Sequence[Path],
    transform: Callable[[str, ImageArray], ImageArray] | None,
    clean: RobustnessRow | None,
    progress: Progress,
    workers: int,
) -> RobustnessRow:
    start = time.perf_counter()
    emb = embed_images(pipeline, paths, progress=progress, workers=workers, transform=transform)
    scores, labels, folds, missing = pair_scores(pairs, emb)
    kfold = kfold_accuracy(scores, labels, folds)
    tar, _ = tar_at_far(scores[labels], scores[~labels], far=1e-3)
    accuracy = float(kfold.mean)
    return RobustnessRow(
        pipeline=label,
        kind=kind,
        severity=severity,
        accuracy=accuracy,
        accuracy_std=float(kfold.std),
        tar_at_far_1e3=float(tar),
        roc_auc=float(roc_auc(scores, labels)),
        images=len(paths),
        no_face_images=len(emb.failures),
        pairs_without_face=int(missing.sum()),
        accuracy_drop=(clean.accuracy - accuracy) if clean is not None else 0.0,
        tar_drop=(clean.tar_at_far_1e3 - float(tar)) if clean is not None else 0.0,
        seconds=time.perf_counter() - start,
    )
