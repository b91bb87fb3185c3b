"""The vocabulary: frozen, slotted result types shared by every layer.

Conventions (see docs/architecture.md):

* ``bbox_xyxy`` is ``(x1, y1, x2, y2)`` in pixels of the decoded, EXIF-corrected image.
* ``landmarks_5`` is five ``(x, y)`` points in the order left eye, right eye, nose,
  left mouth corner, right mouth corner, "left" meaning left *as seen in the image*.
* ``similarity`` is cosine similarity in ``[-1, 1]``; higher means more alike.
* An :class:`Embedding` vector is unit-norm float32.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

BBox = tuple[float, float, float, float]
Point = tuple[float, float]
Landmarks5 = tuple[Point, Point, Point, Point, Point]
ImageArray = NDArray[np.uint8]
"""An H×W×3 RGB uint8 image."""

Progress = Callable[[int, int, str], None]
"""``progress(done, total, current)``: called as long work advances — ``done`` of
``total`` items (``total`` 0 when unknown), ``current`` naming the latest item."""


class FaceIssue(StrEnum):
    """Why a detected face may be unreliable. Reported, never silently dropped."""

    TOO_SMALL = "too_small"
    NEAR_BORDER = "near_border"
    LOW_SCORE = "low_score"


@dataclass(frozen=True, slots=True)
class Detection:
    """One face found by a detector.

    ``issues`` lists :class:`FaceIssue` values for faces that are small, cut by the image
    border or scored low; such faces are still returned so the caller decides.
    """

    bbox_xyxy: BBox
    score: float
    landmarks_5: Landmarks5
    issues: tuple[FaceIssue, ...] = ()

    @property
    def width(self) -> float:
        return self.bbox_xyxy[2] - self.bbox_xyxy[0]

    @property
    def height(self) -> float:
        return self.bbox_xyxy[3] - self.bbox_xyxy[1]

    def landmarks_array(self) -> NDArray[np.float32]:
        """Landmarks as a 5×2 float32 array."""
        return np.asarray(self.landmarks_5, dtype=np.float32).reshape(5, 2)


@dataclass(frozen=True, slots=True, eq=False)
class AlignedFace:
    """A face crop warped onto a model's canonical template.

    ``image`` is S×S×3 RGB uint8; ``matrix`` is the 2×3 affine map from source-image
    pixels to crop pixels.
    """

    image: ImageArray
    matrix: NDArray[np.float64]
    detection: Detection


@dataclass(frozen=True, slots=True, eq=False)
class Embedding:
    """A unit-norm float32 vector and the id of the model (or fused template) that made it."""

    vector: NDArray[np.float32]
    model_id: str

    @property
    def dimension(self) -> int:
        return int(self.vector.shape[0])


@dataclass(frozen=True, slots=True)
class Liveness:
    """Presentation-attack detection for one face.

    ``score`` is the probability-like bona fide score in [0, 1]; the face is judged live
    when ``score >= threshold``.
    """

    score: float
    is_live: bool
    threshold: float


@dataclass(frozen=True, slots=True)
class Attributes:
    """Estimated attributes of one face.

    ``age`` in years; ``gender`` is ``"female"`` or ``"male"`` with ``gender_score`` the
    model's probability for it; ``expression`` is the most likely of ``expressions``
    (name, probability); ``yaw``, ``pitch``, ``roll`` are head-pose angles in degrees
    (yaw > 0: the face turns to the image's left). Estimates, with the biases stated in
    docs/models.md — never identity evidence.
    """

    age: float
    gender: str
    gender_score: float
    expression: str
    expressions: tuple[tuple[str, float], ...]
    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True, slots=True)
class DegradationReport:
    """How a face's capture was degraded, measured from its pixels
    (:func:`faceprint.core.degradation.assess_degradation`).

    ``motion_blur`` is the estimated linear blur length as a fraction of the face width
    (0 when no directional blur was evidenced) and ``motion_length``/``motion_angle``
    the same in image pixels and degrees; ``motion_evidence`` the cepstral peak depth
    behind it; ``defocus`` the σ (px) of an isotropic blur the capture added (0 when
    none was named); ``noise`` the noise σ in grey levels of 255; ``brightness`` the mean
    luminance of the face region in [0, 1]; ``effective_resolution`` the face width in
    pixels that still carry detail (a small face upscaled stays small);
    ``blockiness`` the JPEG block-grid strength (≈ 1 without block artefacts).
    ``detected`` names the degradations past their limits: ``motion_blur``,
    ``defocus``, ``noise``, ``low_light``, ``low_resolution``, ``compression``.
    """

    motion_blur: float
    motion_length: float
    motion_angle: float | None
    motion_evidence: float
    defocus: float
    noise: float
    brightness: float
    effective_resolution: float
    blockiness: float
    detected: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Quality:
    """Named quality measures of one face, an overall score and the reasons it fails the
    policy it was checked against (empty when it passes).

    ``face_size`` is the shorter box side in pixels; ``sharpness`` the variance of the
    Laplacian of the 112×112 aligned grey crop over the crop's own variance;
    ``brightness`` and ``contrast`` the mean and standard deviation of that crop in
    [0, 1]; angles in degrees (``None`` when head pose was not estimated); ``score`` in
    [0, 1], higher is better.
    """

    face_size: float
    sharpness: float
    brightness: float
    contrast: float
    detector_score: float
    yaw: float | None
    pitch: float | None
    roll: float | None
    score: float
    reasons: tuple[str, ...]
    degradation: DegradationReport | None = None

    @property
    def acceptable(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, slots=True, eq=False)
class Face:
    """A detected face with its embedding (and liveness / attributes when asked for)."""

    detection: Detection
    embedding: Embedding
    liveness: Liveness | None = None
    attributes: Attributes | None = None
    quality: Quality | None = None


@dataclass(frozen=True, slots=True)
class Threshold:
    """A similarity threshold and the error rate it corresponds to.

    ``fmr`` is the false-match rate of one comparison at ``similarity`` according to the
    model's calibration (``None`` if the model has no calibration). ``fpir`` is set for
    open-set identification thresholds: the false-positive identification rate for a
    gallery of ``gallery_size`` templates. ``source`` says how the threshold was chosen,
    e.g. ``"fmr"``, ``"fpir"`` or ``"user"``.
    """

    similarity: float
    fmr: float | None
    source: str
    fpir: float | None = None
    gallery_size: int | None = None


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of a 1:1 comparison."""

    similarity: float
    threshold: Threshold
    is_match: bool


@dataclass(frozen=True, slots=True)
class Match:
    """One gallery candidate for a probe embedding."""

    person: str
    similarity: float
    face_id: int
    collection: str


@dataclass(frozen=True, slots=True)
class Identification:
    """The outcome of a 1:N open-set search for one probe.

    ``candidates`` are the top-k gallery matches (best first, at most one per person);
    ``person`` is the best candidate's name if its similarity reaches the threshold,
    else ``None`` (unknown).
    """

    candidates: tuple[Match, ...]
    threshold: Threshold
    person: str | None

    @property
    def best(self) -> Match | None:
        return self.candidates[0] if self.candidates else None

    @property
    def is_known(self) -> bool:
        return self.person is not None
