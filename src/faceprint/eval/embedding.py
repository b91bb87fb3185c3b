"""Embeddings of an evaluation set: the primary face of every image, through the shared
batched path (:func:`faceprint.batch.analyze_images`).

An image where no face is found (or that cannot be read) is reported by name and keeps
a row of zeros, so pairs that use it count as errors and an accuracy figure never
silently drops hard cases.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.batch import analyze_images
from faceprint.core.quality import QualityPolicy
from faceprint.media.sources import Transform
from faceprint.pipeline import FacePipeline
from faceprint.types import Detection, Progress, Quality

__all__ = ["EmbeddedSet", "embed_images"]


@dataclass(frozen=True, slots=True)
class EmbeddedSet:
    """Embeddings of a list of images (rows of zeros where no face was found).

    ``quality`` holds each primary face's quality when it was asked for.
    """

    paths: tuple[Path, ...]
    vectors: NDArray[np.float32]
    found: NDArray[np.bool_]
    detections: tuple[Detection | None, ...]
    failures: tuple[tuple[str, str], ...]
    seconds: float
    model_id: str
    quality: tuple[Quality | None, ...] = ()

    @property
    def faces(self) -> int:
        return int(self.found.sum())


def embed_images(
    pipeline: FacePipeline,
    paths: Sequence[Path],
    *,
    detections: Sequence[Detection | None] | None = None,
    quality: QualityPolicy | None = None,
    progress: Progress | None = None,
    workers: int = 2,
    transform: Transform | None = None,
) -> EmbeddedSet:
    """Embed the primary face of every image, in batches.

    With ``detections`` (one per path, e.g. from an earlier run) detection is skipped;
    with ``quality`` each primary face's quality is measured against that policy;
    ``transform`` changes each image before the models see it (e.g. a degradation).
    """
    start = time.perf_counter()
    n = len(paths)
    vectors = np.zeros((n, pipeline.embedder.dimension), dtype=np.float32)
    found = np.zeros(n, dtype=bool)
    chosen: list[Detection | None] = [None] * n
    qualities: list[Quality | None] = [None] * n
    failures: list[tuple[str, str]] = []
    results = analyze_images(
        pipeline,
        paths,
        embed="primary",
        quality=quality or False,
        given=detections,
        workers=workers,
        transform=transform,
    )
    for result in results:
        i = result.index
        face = result.primary_face
        if result.error is not None:
            failures.append((result.source, result.error.code))
        elif face is None:
            failures.append((result.source, "no_face"))
        else:
            vectors[i] = face.embedding.vector
            found[i] = True
            chosen[i] = face.detection
            qualities[i] = face.quality
        if progress is not None:
            progress(i + 1, n, result.source)
    return EmbeddedSet(
        paths=tuple(paths),
        vectors=vectors,
        found=found,
        detections=tuple(chosen),
        failures=tuple(failures),
        seconds=time.perf_counter() - start,
        model_id=pipeline.model_id,
        quality=tuple(qualities) if quality is not None else (),
    )
