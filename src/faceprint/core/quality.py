"""Face quality: named measures, an overall score and policy reasons.

Measures come from the aligned 112×112 crop (so they do not depend on the photo's
resolution) plus the detection and, when estimated, the head pose. The default policy
limits are conventional, round values — not fitted to any test set — and are meant to
be configured for a deployment's cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from faceprint.types import DegradationReport, Detection, ImageArray, Liveness, Quality


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """Limits below/above which a face gets a rejection reason.

    Attributes:
        min_face_size: shorter box side in pixels (``face_too_small``).
        min_sharpness: variance of the Laplacian of the aligned grey crop divided by the
            crop's variance (``blurry``). Sharp sample photos give 0.2–0.8; a Gaussian
            blur of 4 ‰ of the image width brings them to 0.004–0.025.
        min_brightness: mean grey level of the crop in [0, 1] (``too_dark``).
        max_brightness: mean grey level above which the face is ``overexposed``.
        max_yaw, max_pitch: head-pose limits in degrees (``extreme_pose``).
        min_detector_score: detector confidence (``low_confidence``).
        degradations: capture degradations (names from
            :class:`~faceprint.types.DegradationReport`: ``motion_blur``, ``noise``,
            ``low_light``, ``low_resolution``, ``compression``) that fail the policy
            too, each as its own reason; none by default.
    """

    min_face_size: float = 40.0
    min_sharpness: float = 0.02
    min_brightness: float = 0.15
    max_brightness: float = 0.9
    max_yaw: float = 45.0
    max_pitch: float = 30.0
    min_detector_score: float = 0.7
    degradations: tuple[str, ...] = ()


REASONS = (
    "face_too_small",
    "blurry",
    "too_dark",
    "overexposed",
    "extreme_pose",
    "low_confidence",
    "spoof_suspected",
)


def crop_measures(crop: ImageArray) -> tuple[float, float, float]:
    """(sharpness, brightness, contrast) of an aligned RGB crop (S×S×3 uint8)."""
    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float64)
    # High-frequency energy relative to the crop's own variance: independent of
    # exposure and contrast, so a dark but sharp face is not called blurry.
    sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var() / (grey.var() + 1e-6))
    values = grey / 255.0
    return sharpness, float(values.mean()), float(values.std())


def assess(
    detection: Detection,
    crop: ImageArray,
    *,
    policy: QualityPolicy,
    pose: tuple[float, float, float] | None = None,
    liveness: Liveness | None = None,
) -> Quality:
    """Measure one face and check it against ``policy``.

    The overall score is the product of per-measure factors in [0, 1]: size
    (saturating at 112 px), sharpness (saturating at 4× the policy minimum), exposure
    (1 at mid-grey, 0 at black or white), pose (cos yaw · cos pitch) and detector score.
    """
    sharpness, brightness, contrast = crop_measures(crop)
    size = min(detection.width, detection.height)
    yaw, pitch, roll = pose if pose is not None else (None, None, None)
    reasons = []
    if size < policy.min_face_size:
        reasons.append("face_too_small")
    if sharpness < policy.min_sharpness:
        reasons.append("blurry")
    if brightness < policy.min_brightness:
        reasons.append("too_dark")
    if brightness > policy.max_brightness:
        reasons.append("overexposed")
    if (
        yaw is not None
        and pitch is not None
        and (abs(yaw) > policy.max_yaw or abs(pitch) > policy.max_pitch)
    ):
        reasons.append("extreme_pose")
    if detection.score < policy.min_detector_score:
        reasons.append("low_confidence")
    if liveness is not None and not liveness.is_live:
        reasons.append("spoof_suspected")
    factors = [
        min(1.0, size / 112.0),
        min(1.0, sharpness / (4.0 * max(policy.min_sharpness, 1e-6))),
        max(0.0, 1.0 - abs(brightness - 0.5) * 2.0),
        detection.score,
    ]
    if yaw is not None and pitch is not None:
        factors.append(
            max(0.0, math.cos(math.radians(yaw))) * max(0.0, math.cos(math.radians(pitch)))
        )
    score = float(np.prod(factors))
    return Quality(
        face_size=float(size),
        sharpness=sharpness,
        brightness=brightness,
        contrast=contrast,
        detector_score=detection.score,
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        score=score,
        reasons=tuple(reasons),
    )


def with_degradation(
    quality: Quality, report: DegradationReport | None, policy: QualityPolicy
) -> Quality:
    """``quality`` carrying the face's degradation report, with a reason for each
    degradation the policy refuses."""
    if report is None:
        return quality
    refused = tuple(d for d in report.detected if d in policy.degradations)
    return replace(quality, degradation=report, reasons=quality.reasons + refused)
