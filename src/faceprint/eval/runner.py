"""Evaluation runs: LFW verification, open-set identification, threshold calibration.

Images are decoded in a small thread pool and embedded in batches. An image where no
face is found is reported by name and its pairs count as errors (similarity -1), so an
accuracy figure never silently drops hard cases.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.core.calibration import (
    CalibrationCurve,
    fit_calibration,
    genuine_similarities,
    impostor_similarities,
)
from faceprint.core.metrics import (
    kfold_accuracy,
    open_set_identification,
    roc_auc,
    roc_curve,
    tar_at_far,
)
from faceprint.errors import DatasetError, ImageError
from faceprint.eval.datasets import identity_of, pair_images, read_pairs, split_identification
from faceprint.eval.report import plot_roc
from faceprint.media.images import decode_image
from faceprint.pipeline import FacePipeline
from faceprint.types import Detection, ImageArray

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]
CHUNK = 64


@dataclass(frozen=True, slots=True)
class EmbeddedSet:
    """Embeddings of a list of images (rows of zeros where no face was found)."""

    paths: tuple[Path, ...]
    vectors: NDArray[np.float32]
    found: NDArray[np.bool_]
    detections: tuple[Detection | None, ...]
    failures: tuple[tuple[str, str], ...]
    seconds: float
    model_id: str

    @property
    def faces(self) -> int:
        return int(self.found.sum())


def _decode_chunks(
    paths: Sequence[Path], workers: int
) -> Iterator[list[tuple[int, Path, ImageArray | str]]]:
    """Chunks of (index, path, pixels or error code), decoded by a thread pool."""

    def load(path: Path) -> ImageArray | str:
        try:
            return decode_image(path).pixels
        except ImageError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(paths), CHUNK):
            chunk = paths[start : start + CHUNK]
            yield [
                (start + k, path, pixels)
                for k, (path, pixels) in enumerate(zip(chunk, pool.map(load, chunk), strict=True))
            ]


def embed_images(
    pipeline: FacePipeline,
    paths: Sequence[Path],
    *,
    detections: Sequence[Detection | None] | None = None,
    progress: Progress | None = None,
    workers: int = 2,
) -> EmbeddedSet:
    """Embed the primary face of every image; detection and embedding run per chunk of
    images in batches.

    With ``detections`` (one per path, e.g. from an earlier run) detection is skipped.
    """
    start = time.perf_counter()
    n = len(paths)
    vectors = np.zeros((n, pipeline.embedder.dimension), dtype=np.float32)
    found = np.zeros(n, dtype=bool)
    chosen: list[Detection | None] = [None] * n
    failures: list[tuple[str, str]] = []
    for chunk in _decode_chunks(paths, workers):
        good = [(i, path, px) for i, path, px in chunk if not isinstance(px, str)]
        failures += [(str(path), px) for _, path, px in chunk if isinstance(px, str)]
        if detections is None:
            found_dets = pipeline.detect_batch([px for _, _, px in good])
            picks: list[Detection | None] = [
                pipeline.primary_detection(px, detections=dets) if dets else None
                for (_, _, px), dets in zip(good, found_dets, strict=True)
            ]
        else:
            picks = [detections[i] for i, _, _ in good]
        batch = []
        for (i, path, px), det in zip(good, picks, strict=True):
            if det is None:
                failures.append((str(path), "no_face"))
            else:
                chosen[i] = det
                batch.append((i, px, det))
        if batch:
            vecs = pipeline.embedder.embed([(px, det) for _, px, det in batch])
            for (i, _, _), vec in zip(batch, vecs, strict=True):
                vectors[i] = vec
                found[i] = True
        if progress is not None:
            last = chunk[-1]
            progress(last[0] + 1, n, str(last[1]))
    return EmbeddedSet(
        paths=tuple(paths),
        vectors=vectors,
        found=found,
        detections=tuple(chosen),
        failures=tuple(failures),
        seconds=time.perf_counter() - start,
        model_id=pipeline.model_id,
    )


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
    index = {p: i for i, p in enumerate(emb.paths)}
    a = np.array([index[p.path_a] for p in pairs])
    b = np.array([index[p.path_b] for p in pairs])
    labels = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs])
    scores = (emb.vectors[a] * emb.vectors[b]).sum(axis=1)
    missing = ~(emb.found[a] & emb.found[b])
    scores[missing] = -1.0
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


def calibrate_embeddings(emb: EmbeddedSet, *, dataset: str) -> CalibrationCurve:
    """Fit a similarity→FMR curve from every cross-identity pair of an embedded set."""
    ids = np.array([identity_of(p) for p in emb.paths])
    vectors = emb.vectors[emb.found]
    ids = ids[emb.found]
    impostor = impostor_similarities(vectors, ids)
    genuine = genuine_similarities(vectors, ids)
    return fit_calibration(impostor, dataset=dataset, genuine=genuine)


def calibrate_models(
    names: Sequence[str],
    *,
    store: object,
    root: str | Path,
    pairs_file: str | Path,
    out: str | Path,
    accept_licence: bool = False,
    progress: Progress | None = None,
) -> dict[str, CalibrationCurve]:
    """Calibrate each named embedder on the images of an LFW pairs file and merge the
    curves into the JSON file ``out`` (``{"models": {name: curve}}``).

    Detection runs once with the default detector; each embedder reuses those faces.
    """
    from faceprint.config import PipelineConfig
    from faceprint.models.store import ModelStore

    if not isinstance(store, ModelStore):
        raise TypeError("store must be a ModelStore")
    pairs = read_pairs(Path(pairs_file), root=Path(root))
    paths = pair_images(pairs)
    dataset = (
        f"LFW View 2 images ({len(paths)} images of {len({identity_of(p) for p in paths})} "
        "people), all cross-identity pairs; default detector and landmarks"
    )
    base = FacePipeline.from_config(
        PipelineConfig(embedder=names[0]), store=store, accept_licence=accept_licence
    )
    first = embed_images(base, paths, progress=progress)
    curves = {names[0]: calibrate_embeddings(first, dataset=dataset)}
    for name in names[1:]:
        pipe = FacePipeline.from_config(
            PipelineConfig(embedder=name), store=store, accept_licence=accept_licence
        )
        emb = embed_images(pipe, paths, detections=first.detections, progress=progress)
        curves[name] = calibrate_embeddings(emb, dataset=dataset)
    out_path = Path(out)
    data: dict[str, object] = {"models": {}}
    if out_path.is_file():
        data = json.loads(out_path.read_text("utf-8"))
    models = data.setdefault("models", {})
    assert isinstance(models, dict)
    for name, curve in curves.items():
        models[name] = curve.to_dict()
    out_path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", "utf-8")
    return curves


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
    from faceprint.core.quality import QualityPolicy

    pairs = read_pairs(Path(pairs_file), root=Path(root))
    paths = pair_images(pairs)
    emb = embed_images(pipeline, paths, progress=progress, workers=workers)
    policy = QualityPolicy()
    scores = np.zeros(len(paths), dtype=np.float64)
    for i, path in enumerate(emb.paths):
        det = emb.detections[i]
        if det is not None:
            (row,) = pipeline.assess_quality([(decode_image(path).pixels, [det])], policy=policy)
            scores[i] = row[0].score
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


@dataclass(frozen=True, slots=True)
class LivenessReport:
    """ISO/IEC 30107-3 style error rates of the liveness check on bona fide photos and
    attacks simulated from them."""

    threshold: float
    bona_fide: int
    bpcer: float
    apcer: tuple[tuple[str, int, float], ...]
    undetected: int

    def summary(self) -> str:
        lines = [
            f"liveness at threshold {self.threshold:g}: {self.bona_fide} bona fide photos "
            f"(BPCER {self.bpcer:.2%}); {self.undetected} attack images lost their face",
            "  attack (simulated)   presentations   APCER",
        ]
        lines += [f"  {name:20} {n:13d}   {rate:.2%}" for name, n, rate in self.apcer]
        return "\n".join(lines)


def run_liveness_eval(
    pipeline: FacePipeline,
    paths: Sequence[Path],
    *,
    seed: int = 0,
    progress: Progress | None = None,
) -> LivenessReport:
    """BPCER on the given bona fide photos and APCER per simulated attack type.

    Each photo's primary face is scored as is (bona fide) and after each attack in
    :data:`faceprint.eval.attacks.ATTACKS`; an attack image in which no face is found
    any more is not counted (reported as ``undetected``).
    """
    from faceprint.eval.attacks import ATTACKS

    rng = np.random.default_rng(seed)
    detector = pipeline.liveness_detector
    bona = 0
    rejected = 0
    counts = {name: [0, 0] for name in ATTACKS}
    undetected = 0
    for i, path in enumerate(paths):
        pixels = decode_image(path).pixels
        dets = pipeline.detect(pixels)
        if dets:
            det = pipeline.primary_detection(pixels, detections=dets)
            bona += 1
            rejected += not detector.score(pixels, [det])[0].is_live
            for name, attack in ATTACKS.items():
                fake = attack(pixels, rng)
                fake_dets = pipeline.detect(fake)
                if not fake_dets:
                    undetected += 1
                    continue
                primary = pipeline.primary_detection(fake, detections=fake_dets)
                counts[name][0] += 1
                counts[name][1] += detector.score(fake, [primary])[0].is_live
        if progress is not None:
            progress(i + 1, len(paths), str(path))
    return LivenessReport(
        threshold=detector.threshold,
        bona_fide=bona,
        bpcer=rejected / max(bona, 1),
        apcer=tuple((name, n, accepted / max(n, 1)) for name, (n, accepted) in counts.items()),
        undetected=undetected,
    )
