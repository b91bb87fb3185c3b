"""Error versus reject: does dropping the lowest-quality pairs lower the error?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.core.quality import QualityPolicy
from faceprint.eval.datasets import pair_images, read_pairs
from faceprint.eval.embedding import embed_images
from faceprint.pipeline import FacePipeline
from faceprint.types import Progress

__all__ = ["ErrorRejectReport", "RejectPoint", "run_error_vs_reject"]


@dataclass(frozen=True, slots=True)
class RejectPoint:
    """Verification errors on the pairs kept after rejecting the lowest-quality ones."""

    rejected_fraction: float
    pairs: int
    fnmr: float
    fmr: float
    accuracy: float


@dataclass(frozen=True, slots=True)
class ErrorRejectReport:
    """Error-versus-reject curve (ISO/IEC 29794-1 style) at a fixed threshold."""

    model_id: str
    threshold: float
    threshold_fmr: float
    points: tuple[RejectPoint, ...]

    def summary(self) -> str:
        lines = [
            f"error vs reject, model {self.model_id}, threshold {self.threshold:.4f} "
            f"(calibrated FMR {self.threshold_fmr:g}); pair quality = min of its two faces",
            "  rejected   pairs    FNMR      FMR       accuracy",
        ]
        lines += [
            f"  {p.rejected_fraction:7.1%}  {p.pairs:6d}  {p.fnmr:7.3%}  {p.fmr:7.3%}  {p.accuracy:8.3%}"
            for p in self.points
        ]
        return "\n".join(lines)

    def plot(self, path: str | Path) -> None:
        """Write FNMR against the rejected fraction as a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
        ax.plot(
            [p.rejected_fraction * 100 for p in self.points],
            [p.fnmr * 100 for p in self.points],
            marker="o",
        )
        ax.set_xlabel("lowest-quality pairs rejected (%)")
        ax.set_ylabel("FNMR (%) at the fixed threshold")
        ax.set_title(f"Error vs reject — {self.model_id}")
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format="png")
        plt.close(fig)


def run_error_vs_reject(
    pipeline: FacePipeline,
    *,
    root: str | Path,
    pairs_file: str | Path,
    fractions: Sequence[float] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2),
    fmr: float = 1e-3,
    progress: Progress | None = None,
    workers: int = 2,
) -> ErrorRejectReport:
    """Reject the lowest-quality pairs (quality of a pair = the lower of its two faces'
    overall scores) and measure FNMR, FMR and accuracy at the calibrated ``fmr``
    threshold on the rest. If quality means something, FNMR falls as more is rejected.
    """
    pairs = read_pairs(Path(pairs_file), root=Path(root))
    paths = pair_images(pairs)
    emb = embed_images(pipeline, paths, quality=QualityPolicy(), progress=progress, workers=workers)
    scores = np.array([0.0 if q is None else q.score for q in emb.quality], dtype=np.float64)
    index = {p: i for i, p in enumerate(emb.paths)}
    a = np.array([index[p.path_a] for p in pairs])
    b = np.array([index[p.path_b] for p in pairs])
    labels = np.array([p.same for p in pairs], dtype=bool)
    sims = (emb.vectors[a] * emb.vectors[b]).sum(axis=1)
    sims[~(emb.found[a] & emb.found[b])] = -1.0
    pair_quality = np.minimum(scores[a], scores[b])
    threshold = pipeline.verification_threshold(fmr=fmr)
    order = np.argsort(pair_quality, kind="stable")  # lowest quality first
    points = []
    for fraction in fractions:
        keep = np.ones(len(pairs), dtype=bool)
        keep[order[: round(fraction * len(pairs))]] = False
        accept = sims[keep] >= threshold.similarity
        same = labels[keep]
        points.append(
            RejectPoint(
                rejected_fraction=float(fraction),
                pairs=int(keep.sum()),
                fnmr=float((~accept & same).sum() / max(same.sum(), 1)),
                fmr=float((accept & ~same).sum() / max((~same).sum(), 1)),
                accuracy=float((accept == same).mean()),
            )
        )
    return ErrorRejectReport(
        model_id=pipeline.model_id,
        threshold=threshold.similarity,
        threshold_fmr=fmr,
        points=tuple(points),
    )
