"""How well ``faceprint cluster`` finds the people of a labelled folder tree.

The tree is ``root/<person>/<images>``. The clustering is the one users run — every
face of every image embedded into a clustering folder and clustered at the
calibration-derived threshold (:func:`faceprint.people.cluster_photos`) — and then
each image is scored by the cluster of its primary face (the labelled one; other faces
in the photo are clustered too, as they would be, but carry no label). Images without
a face count as clusters of their own, so a system cannot gain by finding fewer faces.

Scores: BCubed precision/recall/F (per item, so the many people with one photo
weigh as they should), pairwise precision/recall/F (over pairs, dominated by the people
with many photos), and the number of clusters against the number of identities.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceprint.core.clustering import ClusterScores, bcubed_scores, pairwise_scores
from faceprint.errors import DatasetError
from faceprint.people.ingest import Progress
from faceprint.people.run import ClusterRun, cluster_photos, threshold_dict
from faceprint.people.store import PeopleStore
from faceprint.pipeline import FacePipeline


@dataclass(frozen=True, slots=True)
class ClusterEvaluation:
    """Scores of one clustering of a labelled tree.

    Attributes:
        images: labelled images scored.
        identities: distinct labels among them.
        no_face: images where no face was found (scored as their own clusters).
        clusters: distinct clusters among the scored images (no-face images included).
        singletons: scored clusters of exactly one image.
        faces: every face clustered (labelled or not).
        bcubed, pairwise: the scores.
        run: the clustering run (threshold, timings).
        cluster_sizes, identity_sizes: images per scored cluster / per identity.
    """

    root: str
    images: int
    identities: int
    no_face: int
    clusters: int
    singletons: int
    faces: int
    bcubed: ClusterScores
    pairwise: ClusterScores
    run: ClusterRun
    cluster_sizes: tuple[int, ...] = ()
    identity_sizes: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        r = self.run
        return {
            "root": self.root,
            "model": r.model_id,
            "images": self.images,
            "identities": self.identities,
            "no_face": self.no_face,
            "clusters": self.clusters,
            "singletons": self.singletons,
            "faces": self.faces,
            "bcubed": self.bcubed.to_dict(),
            "pairwise": self.pairwise.to_dict(),
            "threshold": threshold_dict(r.clustering.threshold),
            "new_images": r.ingested.new_images,
            "seconds": {
                "embed": round(r.embed_seconds, 3),
                "cluster": round(r.clustering.seconds, 3),
            },
            "folder": str(r.outputs.folder),
        }


def labelled_images(root: Path) -> list[tuple[Path, str]]:
    """``(image, person)`` for every image of ``root/<person>/``, sorted."""
    from faceprint.media.images import IMAGE_SUFFIXES

    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    out = []
    for person in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for image in sorted(person.iterdir()):
            if image.is_file() and image.suffix.lower() in IMAGE_SUFFIXES:
                out.append((image, person.name))
    if not out:
        raise DatasetError(f"{root}: no images in the layout ROOT/<person>/<images>")
    return out


def evaluate_clustering(
    pipeline: FacePipeline,
    root: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    fpir: float = 0.01,
    similarity: float | None = None,
    sheets: bool = False,
    progress: Progress | None = None,
) -> ClusterEvaluation:
    """Cluster ``root`` into ``folder`` (embedding only images not there yet) and score.

    Raises:
        DatasetError: ``root`` is not a ``root/<person>/<images>`` tree.
        faceprint.errors.PeopleStoreError: ``folder`` holds another model's faces.
    """
    tree = Path(root)
    items = labelled_images(tree)
    run = cluster_photos(
        pipeline,
        [path for path, _ in items],  # each labelled file, symlinked or not
        folder,
        fpir=fpir,
        similarity=similarity,
        sheets=sheets,
        progress=progress,
    )
    with PeopleStore.open(Path(folder), create=False) as store:
        primary = store.primary_faces()
        cluster_of = {f: c for f, (c, _) in store.memberships().items()}
    predicted: list[object] = []
    truth: list[object] = []
    no_face = 0
    for path, person in items:
        face = primary.get(str(path))
        if face is None:
            no_face += 1
            predicted.append(("no-face", str(path)))
        else:
            predicted.append(cluster_of[face])
        truth.append(person)
    sizes = Counter(predicted)
    return ClusterEvaluation(
        root=str(tree),
        images=len(items),
        identities=len(set(truth)),
        no_face=no_face,
        clusters=len(sizes),
        singletons=sum(1 for v in sizes.values() if v == 1),
        faces=run.outputs.counts["faces"],
        bcubed=bcubed_scores(predicted, truth),
        pairwise=pairwise_scores(predicted, truth),
        run=run,
        cluster_sizes=tuple(sorted(sizes.values(), reverse=True)),
        identity_sizes=tuple(sorted(Counter(truth).values(), reverse=True)),
    )


def summary_text(e: ClusterEvaluation) -> str:
    """A few lines for people."""
    t = e.run.clustering.threshold
    how = "" if t is None else f" at similarity {t.similarity:.4f}"
    if t is not None and t.fmr is not None:
        how += f" (FMR {t.fmr:.2g}" + (f", FPIR {t.fpir:.2g})" if t.fpir else ")")
    return "\n".join(
        [
            f"{e.root}: {e.images} images of {e.identities} identities; {e.faces} faces "
            f"clustered{how}",
            f"  clusters {e.clusters} (identities {e.identities}), single-image clusters "
            f"{e.singletons}, images without a face {e.no_face}",
            f"  BCubed   P {e.bcubed.precision:.4f}  R {e.bcubed.recall:.4f}  F {e.bcubed.f:.4f}",
            f"  pairwise P {e.pairwise.precision:.4f}  R {e.pairwise.recall:.4f}  "
            f"F {e.pairwise.f:.4f}",
            f"  embedded {e.run.ingested.new_images} new image(s) in {e.run.embed_seconds:.1f} s, "
            f"clustered in {e.run.clustering.seconds:.1f} s; folder {e.run.outputs.folder}",
        ]
    )


def plot_sizes(e: ClusterEvaluation, path: Path) -> None:
    """Histogram of cluster sizes against identity sizes (log counts)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = {"clusters": list(e.cluster_sizes), "identities": list(e.identity_sizes)}
    fig, ax = plt.subplots(figsize=(7, 4))
    top = max(max(v) for v in sizes.values())
    bins = [0.5, 1.5, 2.5, 3.5, 5.5, 10.5, 20.5, 50.5, max(100.5, top + 0.5)]
    for label, values in sizes.items():
        ax.hist(values, bins=bins, histtype="step", linewidth=2, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.set_xlabel("images per cluster / per identity")
    ax.set_ylabel("count")
    ax.set_title(
        f"BCubed F {e.bcubed.f:.4f}, pairwise F {e.pairwise.f:.4f}: "
        f"{e.clusters} clusters, {e.identities} identities"
    )
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
