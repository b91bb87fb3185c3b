"""The clustering job: new photos in, clusters out, written to the output folder.

``OUT/people.db`` holds the state (see :mod:`faceprint.people.store`);
``OUT/clusters.json`` and ``OUT/sheets/cluster-NNNNN.png`` are rewritten from it after
every run and every review command, so they always show the current clusters.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceprint.core.clustering import ClusteringThreshold
from faceprint.core.quality import QualityPolicy
from faceprint.errors import CalibrationError
from faceprint.people.assign import Reclustering, recluster
from faceprint.people.ingest import Ingested, Progress, ingest
from faceprint.people.sheets import write_sheets
from faceprint.people.store import PeopleStore
from faceprint.people.views import Cluster, list_clusters
from faceprint.pipeline import FacePipeline

CLUSTERS_JSON = "clusters.json"
SHEETS = "sheets"


@dataclass(frozen=True, slots=True)
class Outputs:
    """The clusters as they are now, and what was written."""

    folder: Path
    clusters: tuple[Cluster, ...]
    counts: dict[str, int]
    sheets_drawn: int

    @property
    def singletons(self) -> int:
        return sum(1 for c in self.clusters if c.singleton)

    @property
    def named(self) -> int:
        return sum(1 for c in self.clusters if c.name is not None)

    def summary(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            **self.counts,
            "clusters": len(self.clusters),
            "groups": len(self.clusters) - self.singletons,
            "singletons": self.singletons,
            "named": self.named,
        }


@dataclass(frozen=True, slots=True)
class ClusterRun:
    """One ``faceprint cluster`` run: what was embedded, how it was clustered, the
    result."""

    ingested: Ingested
    clustering: Reclustering
    outputs: Outputs
    embed_seconds: float
    model_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            **self.outputs.summary(),
            "new_images": self.ingested.new_images,
            "known_images": self.ingested.known_images,
            "unreadable_new": self.ingested.unreadable,
            "new_faces": self.ingested.new_faces,
            "threshold": threshold_dict(self.clustering.threshold),
            "join_threshold": threshold_dict(self.clustering.join_threshold),
            "kept": self.clustering.kept,
            "joined": self.clustering.joined,
            "attached": self.clustering.attached,
            "low_quality": self.clustering.low_quality,
            "seconds": {
                "embed": round(self.embed_seconds, 3),
                "cluster": round(self.clustering.seconds, 3),
            },
        }


def threshold_dict(t: ClusteringThreshold | None) -> dict[str, Any] | None:
    if t is None:
        return None
    return {
        "similarity": round(t.similarity, 6),
        "fmr": t.fmr,
        "fpir": t.fpir,
        "faces": t.faces,
        "source": t.source,
        "clamped": t.clamped,
    }


def cluster_photos(
    pipeline: FacePipeline,
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    fpir: float = 0.01,
    similarity: float | None = None,
    quality: QualityPolicy | None = None,
    k: int = 32,
    sheets: bool = True,
    progress: Progress | None = None,
) -> ClusterRun:
    """Embed the new photos under ``inputs``, cluster every face of the folder, write
    the outputs.

    Raises:
        faceprint.errors.PeopleStoreError: ``out`` holds another model's faces.
        faceprint.errors.ImageNotFoundError: an input does not exist.
        faceprint.errors.CalibrationError: no calibration and no ``similarity``.
    """
    folder = Path(out)
    if pipeline.calibration is None and similarity is None:
        raise CalibrationError(
            f"model {pipeline.model_id!r} has no calibration, so no clustering threshold can "
            "be derived; pass an explicit similarity threshold (--threshold)"
        )
    with PeopleStore.open(folder, model_id=pipeline.model_id) as store:
        started = time.perf_counter()
        ingested = ingest(pipeline, store, inputs, quality=quality, progress=progress)
        embed_seconds = time.perf_counter() - started
        clustering = recluster(store, pipeline.calibration, fpir=fpir, similarity=similarity, k=k)
        outputs = write_outputs(store, folder, sheets=sheets)
    return ClusterRun(ingested, clustering, outputs, embed_seconds, pipeline.model_id)


def write_outputs(store: PeopleStore, folder: Path, *, sheets: bool = True) -> Outputs:
    """Rewrite ``clusters.json`` (atomically) and the contact sheets that changed."""
    clusters = list_clusters(store)
    counts = store.counts()
    drawn = write_sheets(store, clusters, folder / SHEETS) if sheets else 0
    payload = {
        "model": store.model_id,
        **counts,
        "clusters": [c.to_dict() for c in clusters],
    }
    target = folder / CLUSTERS_JSON
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(target)
    return Outputs(folder, tuple(clusters), counts, drawn)


def open_folder(out: str | os.PathLike[str]) -> PeopleStore:
    """An existing clustering folder's store (for the review commands).

    Raises:
        faceprint.errors.PeopleStoreError: the folder has no clustering database.
    """
    return PeopleStore.open(Path(out), create=False)
