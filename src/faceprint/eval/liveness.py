"""Liveness evaluation: BPCER on bona fide photos, APCER per simulated attack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.batch import analyze_images
from faceprint.pipeline import FacePipeline
from faceprint.types import Progress

__all__ = ["LivenessReport", "run_liveness_eval"]


@dataclass(frozen=True, slots=True)
class LivenessReport:
    """ISO/IEC 30107-3 style error rates of the liveness check on bona fide photos and
    attacks simulated from them."""

    threshold: float
    bona_fide: int
    bpcer: float
    apcer: tuple[tuple[str, int, float], ...]
    undetected: int
    unreadable: int = 0

    def summary(self) -> str:
        lines = [
            f"liveness at threshold {self.threshold:g}: {self.bona_fide} bona fide photos "
            f"(BPCER {self.bpcer:.2%}); {self.undetected} attack images lost their face"
            + (f"; {self.unreadable} unreadable image(s)" if self.unreadable else ""),
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
    unreadable = 0
    photos = analyze_images(pipeline, paths, embed="primary", liveness=True, keep_images=True)
    for result in photos:
        face = result.primary_face
        unreadable += result.error is not None
        if face is not None and face.liveness is not None and result.image is not None:
            bona += 1
            rejected += not face.liveness.is_live
            pixels = result.image.pixels
            fakes = [attack(pixels, rng) for attack in ATTACKS.values()]
            attacked = analyze_images(pipeline, fakes, embed="primary", liveness=True, workers=0)
            for name, fake in zip(ATTACKS, attacked, strict=True):
                verdict = fake.primary_face.liveness if fake.primary_face else None
                if verdict is None:
                    undetected += 1
                    continue
                counts[name][0] += 1
                counts[name][1] += verdict.is_live
        if progress is not None:
            progress(result.index + 1, len(paths), result.source)
    return LivenessReport(
        threshold=detector.threshold,
        bona_fide=bona,
        bpcer=rejected / max(bona, 1),
        apcer=tuple((name, n, accepted / max(n, 1)) for name, (n, accepted) in counts.items()),
        undetected=undetected,
        unreadable=unreadable,
    )
