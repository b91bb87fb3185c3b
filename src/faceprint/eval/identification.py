"""Open-set 1:N evaluation on a folder tree: rank-1 and FNIR at a chosen FPIR."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.core.metrics import open_set_identification
from faceprint.errors import DatasetError
from faceprint.eval.datasets import split_identification
from faceprint.eval.embedding import embed_images
from faceprint.pipeline import FacePipeline
from faceprint.types import Progress

__all__ = ["IdentifyReport", "run_identify"]


@dataclass(frozen=True, slots=True)
class IdentifyReport:
    """Result of an open-set 1:N evaluation on a folder tree."""

    model_id: str
    gallery_size: int
    mated_probes: int
    nonmated_probes: int
    rank1: float
    fpir: float
    threshold: float
    fnir: float
    failures: tuple[tuple[str, str], ...]
    seconds: float

    def summary(self) -> str:
        return "\n".join(
            [
                f"open-set identification, model {self.model_id}",
                f"  gallery {self.gallery_size} persons; probes: {self.mated_probes} mated, "
                f"{self.nonmated_probes} non-mated",
                f"  rank-1 (closed set)  {self.rank1:.2%}",
                f"  FNIR at FPIR {self.fpir:.2%}  {self.fnir:.2%} (threshold {self.threshold:.4f})",
                f"  images without a face or unreadable: {len(self.failures)}",
            ]
        )


def run_identify(
    pipeline: FacePipeline,
    *,
    root: str | Path,
    nonmated_root: str | Path | None = None,
    fpir: float = 0.01,
    progress: Progress | None = None,
    workers: int = 2,
) -> IdentifyReport:
    """Open-set 1:N on ``root/<person>/<images>`` (gallery: each person's first image).

    Raises:
        DatasetError: the tree is empty or yields no usable gallery or probes.
    """
    split = split_identification(
        Path(root), nonmated_root=Path(nonmated_root) if nonmated_root else None
    )
    paths = [p for _, p in split.gallery] + [p for _, p in split.mated] + list(split.nonmated)
    emb = embed_images(pipeline, paths, progress=progress, workers=workers)
    ng, nm = len(split.gallery), len(split.mated)
    labels = [name for name, _ in split.gallery] + [name for name, _ in split.mated]
    g_ok = emb.found[:ng]
    m_ok = emb.found[ng : ng + nm]
    n_ok = emb.found[ng + nm :]
    if not g_ok.any() or not m_ok.any() or not n_ok.any():
        raise DatasetError("no usable gallery, mated or non-mated images after face detection")
    g_labels = np.array(labels[:ng])[g_ok]
    # A person whose gallery image had no face is not enrolled: their probes are dropped.
    m_ok = m_ok & np.isin(np.array(labels[ng:]), g_labels)
    m_labels = np.array(labels[ng:])[m_ok]
    result = open_set_identification(
        emb.vectors[:ng][g_ok],
        g_labels,
        emb.vectors[ng : ng + nm][m_ok],
        m_labels,
        emb.vectors[ng + nm :][n_ok],
        fpir=fpir,
    )
    return IdentifyReport(
        model_id=pipeline.model_id,
        gallery_size=int(g_ok.sum()),
        mated_probes=int(m_ok.sum()),
        nonmated_probes=int(n_ok.sum()),
        rank1=result.rank1,
        fpir=fpir,
        threshold=result.threshold,
        fnir=result.fnir,
        failures=emb.failures,
        seconds=emb.seconds,
    )
