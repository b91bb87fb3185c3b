"""Scene cuts between consecutive processed frames.

A track must never run across a cut: the face after a cut at the same place is, as
often as not, someone else. Two measures are taken between a frame and the one
processed before it, both on a small copy (``width`` px wide, in HSV):

- **content change**: the mean absolute difference of hue, saturation and value,
  0–255 (PySceneDetect's ``ContentDetector`` score, whose documented default
  threshold, 27, is the one used here);
- **colour-distribution change**: the Bhattacharyya distance between the two frames'
  hue–saturation–value histograms (0 for the same distribution, 1 for disjoint ones).

A cut is declared when the content changed by at least its threshold and either the
colours changed too (histogram distance over its threshold) or the change is a spike:
at least ``spike_ratio`` (3, PySceneDetect's ``AdaptiveDetector`` default) times the
mean content change of the frames just before. A fast pan changes the content of
every frame (no spike) but keeps the colours; a cut between two scenes of alike
colours is still a spike after a steady shot. A cut between two shots of the same
place (same background, same light, another person) can pass under both: appearance
gating in the recogniser (:mod:`faceprint.video.recognizer`) catches those.

PySceneDetect itself was not taken as a dependency: its releases require the GUI
build of OpenCV (``opencv-python``), which clashes with the headless build faceprint
depends on. Each frame costs a resize to ``width`` px and two histogram passes
(about 0.2 ms at 720p on the CI machine).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from faceprint.errors import ConfigError
from faceprint.types import ImageArray

__all__ = ["CutScore", "SceneCutDetector"]

_BINS = (16, 4, 4)  # hue, saturation, value
_RANGES = [0, 180, 0, 256, 0, 256]


@dataclass(frozen=True, slots=True)
class CutScore:
    """How much a frame differs from the previous one.

    Attributes:
        content: mean absolute HSV difference, 0–255.
        histogram: Bhattacharyya distance between HSV histograms, 0–1.
        cut: a cut by the detector's rule (see the module).
    """

    content: float
    histogram: float
    cut: bool


@dataclass(slots=True)
class SceneCutDetector:
    """Feed it every processed frame in order; it says which ones start a new shot.

    Attributes:
        content_threshold: least mean absolute HSV change (0–255) of a cut.
        histogram_threshold: least Bhattacharyya distance of the HSV histograms.
        spike_ratio: a content change this many times the recent mean is a cut
            whatever the colours.
        width: the frames are compared at this width (aspect kept).
    """

    content_threshold: float = 27.0
    histogram_threshold: float = 0.3
    spike_ratio: float = 3.0
    width: int = 96
    _previous: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=4), repr=False)

    def __post_init__(self) -> None:
        if self.content_threshold < 0 or not 0 <= self.histogram_threshold <= 1:
            raise ConfigError("cut thresholds: content ≥ 0, histogram in [0, 1]")
        if self.spike_ratio <= 1:
            raise ConfigError(f"spike_ratio must be above 1, got {self.spike_ratio}")
        if self.width < 8:
            raise ConfigError(f"cut detector width must be at least 8 px, got {self.width}")

    def reset(self) -> None:
        """Forget the previous frame (a new source, or a reconnection)."""
        self._previous = None
        self._recent.clear()

    def score(self, pixels: ImageArray) -> CutScore:
        """Compare ``pixels`` (RGB uint8) with the previous frame and remember it.

        The first frame (and a frame of another size than the previous one) scores 0
        and is not a cut: there is no track yet to end, or the source changed.
        """
        h, w = pixels.shape[:2]
        height = max(1, round(h * self.width / max(w, 1)))
        small = cv2.resize(
            np.ascontiguousarray(pixels), (self.width, height), interpolation=cv2.INTER_AREA
        )
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, list(_BINS), _RANGES)
        hist = np.asarray(hist, np.float32) / max(float(hist.sum()), 1.0)
        previous, self._previous = self._previous, (hsv, hist)
        if previous is None or previous[0].shape != hsv.shape:
            self._recent.clear()
            return CutScore(0.0, 0.0, False)
        old_hsv, old_hist = previous
        delta = cv2.absdiff(hsv, old_hsv).astype(np.float32)
        # hue is circular (0–179 in OpenCV): the short way round, rescaled to 0–255
        hue = np.minimum(delta[..., 0], 180.0 - delta[..., 0]) * (255.0 / 90.0)
        content = float((hue.mean() + delta[..., 1].mean() + delta[..., 2].mean()) / 3.0)
        distance = float(cv2.compareHist(old_hist, hist, cv2.HISTCMP_BHATTACHARYYA))
        recent = list(self._recent)
        spike = len(recent) >= 2 and content >= self.spike_ratio * (sum(recent) / len(recent))
        cut = content >= self.content_threshold and (distance >= self.histogram_threshold or spike)
        if cut:
            self._recent.clear()  # a new shot: its own history
        else:
            self._recent.append(content)
        return CutScore(content, distance, cut)
