"""LFW View 2: 10-fold verification accuracy, ROC AUC and TAR@FAR=1e-3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.core.metrics import kfold_accuracy, roc_auc, roc_curve, tar_at_far
from faceprint.eval.datasets import Pair, pair_images, read_pairs
from faceprint.eval.embedding import EmbeddedSet, embed_images
from faceprint.eval.report import plot_roc
from faceprint.pipeline import FacePipeline
from faceprint.types import Progress

__all__ = ["LFWReport", "pair_scores", "run_lfw"]


@dataclass(frozen=True, slots=True)
class LFWReport:
    """Result of the LFW View-2 10-fold protocol."""

    model_id: str
    pairs: int
    folds: int
    accuracy_mean: float
    accuracy_std: float
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]
    roc_auc: float
    tar_at_far_1e3: float
    threshold_at_far_1e3: float
    images: int
    faces: int
    no_face_images: tuple[tuple[str, str], ...]
    pairs_without_face: int
    seconds: float
    images_per_second: float
    faces_per_second: float
    roc_far: tuple[float, ...] = field(default=(), repr=False)
    roc_tar: tuple[float, ...] = field(default=(), repr=False)

    def summary(self) -> str:
        lines = [
            f"LFW View 2 ({self.pairs} pairs, {self.folds}-fold), model {self.model_id}",
            f"  accuracy      {self.accuracy_mean:.2%} ± {self.accuracy_std:.2%}",
            f"  ROC AUC       {self.roc_auc:.5f}",
            f"  TAR@FAR=1e-3  {self.tar_at_far_1e3:.2%} (threshold {self.threshold_at_far_1e3:.4f})",
            f"  images        {self.images} ({self.faces} with a face; "
            f"{len(self.no_face_images)} without; {self.pairs_without_face} pairs affected)",
            f"  throughput    {self.images_per_second:.1f} images/s, "
            f"{self.faces_per_second:.1f} faces/s ({self.seconds:.1f} s)",
        ]
        lines += [f"  no face: {path} ({why})" for path, why in self.no_face_images[:20]]
        return "\n".join(lines)

    def plot(self, path: str | Path) -> None:
        """Write the ROC curve as a PNG."""
        plot_roc(
            {
                f"{self.model_id} (AUC {self.roc_auc:.4f})": (
                    np.asarray(self.roc_far),
                    np.asarray(self.roc_tar),
                )
            },
            Path(path),
            title=f"LFW View 2 ROC — {self.model_id}",
        )


def pair_scores(
    pairs: Sequence[Pair], emb: EmbeddedSet
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.int64], NDArray[np.bool_]]:
    """Cosine score, label, fold and "a face is missing" of each pair.

    A pair with an image where no face was found scores -1 (below every real score),
    so it counts as a rejection: a miss for a same-person pair.
    """
    index = {p: i for i, p in enumerate(emb.paths)}
    a = np.array([index[p.path_a] for p in pairs], dtype=np.int64)
    b = np.array([index[p.path_b] for p in pairs], dtype=np.int64)
    labels = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    scores = (emb.vectors[a] * emb.vectors[b]).sum(axis=1).astype(np.float64)
    missing = ~(emb.found[a] & emb.found[b])
    scores[missing] = -1.0
    return scores, labels, folds, missing


def run_lfw(
    pipeline: FacePipeline,
    *,
    root: str | Path,
    pairs_file: str | Path,
    progress: Progress | None = None,
    workers: int = 2,
) -> LFWReport:
    """Run the LFW View-2 protocol: threshold chosen on nine folds, accuracy on the tenth.

    Raises:
        DatasetError: the pairs file is malformed or references missing images.
    """
    pairs = read_pairs(Path(pairs_file), root=Path(root))
    paths = pair_images(pairs)
    emb = embed_images(pipeline, paths, progress=progress, workers=workers)
    scores, labels, folds, missing = pair_scores(pairs, emb)
    kfold = kfold_accuracy(scores, labels, folds)
    far, tar, _ = roc_curve(scores, labels)
    tar3, thr3 = tar_at_far(scores[labels], scores[~labels], far=1e-3)
    return LFWReport(
        model_id=pipeline.model_id,
        pairs=len(pairs),
        folds=len(np.unique(folds)),
        accuracy_mean=kfold.mean,
        accuracy_std=kfold.std,
        fold_accuracies=tuple(kfold.per_fold),
        fold_thresholds=tuple(kfold.thresholds),
        roc_auc=roc_auc(scores, labels),
        tar_at_far_1e3=tar3,
        threshold_at_far_1e3=thr3,
        images=len(paths),
        faces=emb.faces,
        no_face_images=emb.failures,
        pairs_without_face=int(missing.sum()),
        seconds=emb.seconds,
        images_per_second=len(paths) / emb.seconds if emb.seconds else 0.0,
        faces_per_second=emb.faces / emb.seconds if emb.seconds else 0.0,
        roc_far=tuple(float(v) for v in far),
        roc_tar=tuple(float(v) for v in tar),
    )
