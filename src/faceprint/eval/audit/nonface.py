"""Non-face and out-of-distribution inputs: what does the pipeline make of them?

:func:`nonface_inputs` gathers images with no human face — scikit-image's bundled
sample photos that load offline (those with people are excluded by name, see
:data:`EXCLUDED_SAMPLES`; those that need a download are left out) and seeded
generated patterns (noise, checkerboards, stripes, gradients, blobs, line drawings)
plus drawn cartoon faces (two eyes and a mouth), counted apart since a detector may
fairly call them faces. :func:`audit_nonface` runs them through the pipeline and
records every detection, its best cosine against an enrolled gallery and the
identities it would match at each threshold. scikit-image is the optional
``faceprint[audit]`` extra, imported only inside :func:`nonface_inputs`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from faceprint.batch import analyze_images
from faceprint.errors import ConfigError, MissingDependencyError, ModelMismatchError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.pipeline import FacePipeline
from faceprint.types import ImageArray

__all__ = [
    "EXCLUDED_SAMPLES",
    "SKIMAGE_SAMPLES",
    "NonFaceDetection",
    "NonFaceInput",
    "NonFaceResult",
    "NonFaceRow",
    "audit_nonface",
    "nonface_inputs",
]

log = logging.getLogger(__name__)

SKIMAGE_SAMPLES = (
    "binary_blobs", "brain", "brick", "cat", "cell", "chelsea", "checkerboard", "clock",
    "coffee", "coins", "colorwheel", "eagle", "grass", "gravel", "horse",
    "hubble_deep_field", "human_mitosis", "immunohistochemistry", "kidney", "lily",
    "logo", "microaneurysms", "moon", "nickel_solidification", "page",
    "palisades_of_vogt", "protein_transport", "retina", "rocket", "shepp_logan_phantom",
    "skin", "stereo_motorcycle", "text", "vortex",
)  # fmt: skip
"""scikit-image samples without a human face (some need a download and are skipped)."""

EXCLUDED_SAMPLES = {
    "astronaut": "portrait of an astronaut (a human face)",
    "camera": "the cameraman (a human face)",
    "lfw_subset": "LFW face crops",
}
"""scikit-image samples left out because they show human faces."""

DRAWN_FACE = "drawn_face"
KINDS = ("photo", "pattern", "drawing", DRAWN_FACE)


@dataclass(frozen=True, slots=True, eq=False)
class NonFaceInput:
    """An image without a human face: ``kind`` is one of :data:`KINDS`."""

    name: str
    kind: str
    pixels: ImageArray


def _rgb(image: np.ndarray[Any, Any]) -> ImageArray:
    array = np.asarray(image)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        lo, hi = float(array.min()), float(array.max())
        array = np.rint((array - lo) / max(hi - lo, 1e-12) * 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    return np.ascontiguousarray(array[:, :, :3], dtype=np.uint8)


def _samples(seed: int) -> list[NonFaceInput]:
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - the [audit] extra is installed in dev
        raise MissingDependencyError(
            "the non-face audit needs scikit-image: pip install 'faceprint[audit]'"
        ) from exc
    out = []
    for name in SKIMAGE_SAMPLES:
        try:
            loader = getattr(data, name)
            image = loader(rng=seed) if name == "binary_blobs" else loader()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # needs pooch or the network (under pytest: a skip)
            log.debug("scikit-image sample %s not available offline: %s", name, exc)
            continue
        if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
            image = image[0]
        out.append(NonFaceInput(f"skimage:{name}", "photo", _rgb(image)))
    return out


def _smiley(size: int, rng: np.random.Generator, *, filled: bool) -> ImageArray:
    canvas = np.full((size, size, 3), 255 if filled else 235, dtype=np.uint8)
    c, r = size // 2, int(size * rng.uniform(0.35, 0.42))
    ink = (0, 0, 0)
    if filled:
        cv2.circle(canvas, (c, c), r, (255, 210, 0), -1, cv2.LINE_AA)
    cv2.circle(canvas, (c, c), r, ink, max(size // 80, 1), cv2.LINE_AA)
    eye_dx, eye_y, eye_r = int(r * 0.38), c - int(r * 0.3), max(int(r * 0.12), 2)
    for x in (c - eye_dx, c + eye_dx):
        cv2.circle(canvas, (x, eye_y), eye_r, ink, -1 if filled else 2, cv2.LINE_AA)
    if not filled:  # a line-drawn face also gets a nose
        cv2.line(canvas, (c, c - int(r * 0.1)), (c - int(r * 0.08), c + int(r * 0.15)), ink, 2)
    axes = (int(r * 0.5), int(r * 0.3))
    cv2.ellipse(canvas, (c, c + int(r * 0.25)), axes, 0, 20, 160, ink, max(size // 60, 2))
    return canvas


def _patterns(rng: np.random.Generator, size: int) -> list[NonFaceInput]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    grey = {
        "gradient": xx * 255,
        "radial": np.hypot(xx - 0.5, yy - 0.5) * 360,
        "stripes": (np.sin(xx * 2 * np.pi * 12) > 0) * 255.0,
        "diagonal_stripes": (np.sin((xx + yy) * 2 * np.pi * 8) > 0) * 255.0,
        "checkerboard": ((np.floor(xx * 8) + np.floor(yy * 8)) % 2) * 255.0,
        "fine_checkerboard": ((np.floor(xx * 32) + np.floor(yy * 32)) % 2) * 255.0,
    }
    out = [NonFaceInput(f"{k}@{size}", "pattern", _rgb(np.clip(v, 0, 255).astype(np.uint8)))
           for k, v in grey.items()]  # fmt: skip
    uniform = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    gauss = np.clip(rng.normal(128, 40, (size, size, 3)), 0, 255).astype(np.uint8)
    out += [NonFaceInput(f"uniform_noise@{size}", "pattern", uniform),
            NonFaceInput(f"gaussian_noise@{size}", "pattern", gauss)]  # fmt: skip
    blobs = np.full((size, size, 3), 200, dtype=np.uint8)
    for _ in range(12):
        centre = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(blobs, centre, int(rng.integers(size // 20, size // 5)), colour, -1)
    out.append(NonFaceInput(f"blobs@{size}", "pattern", blobs))
    lines = np.full((size, size, 3), 255, dtype=np.uint8)
    for _ in range(15):
        a, b = rng.integers(0, size, 2), rng.integers(0, size, 2)
        cv2.line(lines, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), (0, 0, 0), 2)
    out.append(NonFaceInput(f"line_drawing@{size}", "drawing", lines))
    out.append(NonFaceInput(f"smiley@{size}", DRAWN_FACE, _smiley(size, rng, filled=True)))
    out.append(NonFaceInput(f"drawn_face@{size}", DRAWN_FACE, _smiley(size, rng, filled=False)))
    return out


def nonface_inputs(seed: int = 0, sizes: Sequence[int] = (160, 320)) -> list[NonFaceInput]:
    """scikit-image's face-free samples that load offline, then generated patterns,
    drawings and drawn faces at each of ``sizes`` (seeded).

    Raises:
        MissingDependencyError: scikit-image is not installed.
    """
    rng = np.random.default_rng(seed)
    out = _samples(seed)
    for size in sizes:
        out += _patterns(rng, int(size))
    return out


@dataclass(frozen=True, slots=True)
class NonFaceDetection:
    """One "face" found in a non-face input: detector score, best cosine against the
    gallery and its identity, and per threshold name the identities it matches."""

    score: float
    best_similarity: float
    best_identity: str
    matches: tuple[tuple[str, tuple[str, ...]], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": float(self.score),
            "best_similarity": float(self.best_similarity),
            "best_identity": self.best_identity,
            "matches": {name: list(ids) for name, ids in self.matches},
        }


@dataclass(frozen=True, slots=True)
class NonFaceRow:
    """What the pipeline made of one input (``error``: it could not be read)."""

    name: str
    kind: str
    width: int
    height: int
    detections: int
    best_score: float | None
    faces: tuple[NonFaceDetection, ...]
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "width": int(self.width),
            "height": int(self.height),
            "detections": int(self.detections),
            "best_score": None if self.best_score is None else float(self.best_score),
            "faces": [f.to_dict() for f in self.faces],
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class NonFaceResult:
    """Totals and the per-input table. "False" counts leave the drawn faces out; those
    are counted apart (``drawn_*``). ``false_matches``/``drawn_matches``: per threshold
    name, detected faces matching at least one enrolled identity."""

    model_id: str
    inputs: int
    drawn_inputs: int
    false_detections: int
    inputs_with_false_detections: int
    drawn_detections: int
    false_matches: tuple[tuple[str, int], ...]
    drawn_matches: tuple[tuple[str, int], ...]
    thresholds: tuple[tuple[str, float], ...]
    excluded: tuple[tuple[str, str], ...]
    unavailable: tuple[str, ...]
    rows: tuple[NonFaceRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "inputs": int(self.inputs),
            "drawn_inputs": int(self.drawn_inputs),
            "false_detections": int(self.false_detections),
            "inputs_with_false_detections": int(self.inputs_with_false_detections),
            "drawn_detections": int(self.drawn_detections),
            "false_matches": {k: int(v) for k, v in self.false_matches},
            "drawn_matches": {k: int(v) for k, v in self.drawn_matches},
            "thresholds": {k: float(v) for k, v in self.thresholds},
            "excluded": {k: v for k, v in self.excluded},
            "unavailable": list(self.unavailable),
            "rows": [r.to_dict() for r in self.rows],
        }


def audit_nonface(
    pipeline: FacePipeline,
    inputs: Sequence[NonFaceInput],
    gallery: AuditSet,
    thresholds: Mapping[str, float],
) -> NonFaceResult:
    """Detect and embed every face the pipeline finds in ``inputs``; match each against
    ``gallery`` (an identity matches when any of its faces reaches the threshold).

    Raises:
        ConfigError: no input or no threshold.
        ModelMismatchError: the gallery was embedded by another model.
    """
    if not inputs or not thresholds:
        raise ConfigError("the non-face audit needs inputs and at least one threshold")
    if gallery.model_id != pipeline.model_id:
        raise ModelMismatchError(
            f"the gallery holds {gallery.model_id!r} embeddings, the pipeline makes "
            f"{pipeline.model_id!r}; build the audit set with this pipeline"
        )
    names, codes = gallery.identity_index()
    rows = []
    for result in analyze_images(pipeline, [item.pixels for item in inputs], embed="all"):
        item = inputs[result.index]
        faces = []
        for face in result.faces:
            sims = gallery.vectors @ np.asarray(face.embedding.vector, dtype=np.float32)
            best = np.full(len(names), -np.inf, dtype=np.float32)
            np.maximum.at(best, codes, sims)
            top = int(np.argmax(best))
            matches = tuple(
                (tn, tuple(names[j] for j in np.flatnonzero(best >= tv)))
                for tn, tv in thresholds.items()
            )
            faces.append(
                NonFaceDetection(float(face.detection.score), float(best[top]), names[top], matches)
            )
        scores = [d.score for d in result.detections]
        rows.append(
            NonFaceRow(
                name=item.name,
                kind=item.kind,
                width=result.width,
                height=result.height,
                detections=len(result.detections),
                best_score=max(scores) if scores else None,
                faces=tuple(faces),
                error=result.error.code if result.error is not None else None,
            )
        )
    plain = [r for r in rows if r.kind != DRAWN_FACE]
    drawn = [r for r in rows if r.kind == DRAWN_FACE]

    def matched(group: list[NonFaceRow], name: str) -> int:
        return sum(1 for r in group for f in r.faces if dict(f.matches)[name])

    present = {item.name for item in inputs}
    return NonFaceResult(
        model_id=pipeline.model_id,
        inputs=len(rows),
        drawn_inputs=len(drawn),
        false_detections=sum(r.detections for r in plain),
        inputs_with_false_detections=sum(1 for r in plain if r.detections),
        drawn_detections=sum(r.detections for r in drawn),
        false_matches=tuple((n, matched(plain, n)) for n in thresholds),
        drawn_matches=tuple((n, matched(drawn, n)) for n in thresholds),
        thresholds=tuple((n, float(v)) for n, v in thresholds.items()),
        excluded=tuple(EXCLUDED_SAMPLES.items()),
        unavailable=tuple(n for n in SKIMAGE_SAMPLES if f"skimage:{n}" not in present),
        rows=tuple(rows),
    )
