"""Scene cuts on real photos: a cut between two photos, none within a shot that moves."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.lfw_photos import photo

from faceprint.errors import ConfigError
from faceprint.video.cuts import SceneCutDetector
from faceprint.video.observations import crowded as _crowded


def frame(person: str, dx: int = 0, gain: float = 1.0) -> np.ndarray:
    """A 320×180 frame: the person's photo on grey, shifted by ``dx`` px."""
    canvas = np.full((180, 320, 3), 90, np.uint8)
    tile = photo(person)[35:215, 35:215]
    canvas[:, 70 + dx : 250 + dx] = tile
    return np.clip(canvas.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def test_the_first_frame_is_never_a_cut() -> None:
    assert not SceneCutDetector().score(frame("Tony_Blair")).cut


def test_a_cut_between_two_scenes_is_found() -> None:
    detector = SceneCutDetector()
    detector.score(np.ascontiguousarray(photo("Tony_Blair")))
    score = detector.score(np.ascontiguousarray(photo("Colin_Powell")[::-1]))
    assert score.cut and score.content > 27 and score.histogram > 0.3


def test_a_moving_shot_is_not_a_cut() -> None:
    detector = SceneCutDetector()
    scores = [detector.score(frame("Tony_Blair", dx=4 * k)) for k in range(10)]
    assert not any(s.cut for s in scores)
    assert max(s.content for s in scores) > 0  # it did see the motion


def test_light_going_down_is_not_a_cut() -> None:
    detector = SceneCutDetector()
    cuts = [detector.score(frame("Tony_Blair", gain=g)).cut for g in (1.0, 0.9, 0.8, 0.7)]
    assert not any(cuts)


def test_a_new_frame_size_starts_afresh() -> None:
    detector = SceneCutDetector()
    detector.score(frame("Tony_Blair"))
    assert not detector.score(np.ascontiguousarray(photo("Colin_Powell"))).cut


def test_reset_forgets_the_previous_frame() -> None:
    detector = SceneCutDetector()
    detector.score(np.ascontiguousarray(photo("Tony_Blair")))
    detector.reset()
    assert not detector.score(np.ascontiguousarray(photo("Colin_Powell")[::-1])).cut


@pytest.mark.parametrize(
    "kwargs", [{"content_threshold": -1}, {"histogram_threshold": 1.5}, {"width": 4}]
)
def test_bad_settings_are_refused(kwargs) -> None:
    with pytest.raises(ConfigError):
        SceneCutDetector(**kwargs)


def _det(x: float, y: float, size: float = 60.0):
    from faceprint.types import Detection

    return Detection((x, y, x + size, y + size), 0.9, ((x, y),) * 5)


def test_crowded_detections_are_those_two_tracks_could_take() -> None:
    tracks = {1: (100.0, 100.0, 160.0, 160.0), 2: (130.0, 100.0, 190.0, 160.0)}
    apart = {1: (0.0, 0.0, 60.0, 60.0), 2: (300.0, 0.0, 360.0, 60.0)}
    between = [_det(115, 100)]
    assert _crowded(tracks, between, 0.2) == [0]
    assert _crowded(apart, [_det(2, 0), _det(298, 0)], 0.2) == []
    # one track, two detections it could take: both crowded
    assert _crowded({1: (100.0, 100.0, 160.0, 160.0)}, [_det(105, 100), _det(95, 100)], 0.2) == [
        0,
        1,
    ]
    assert _crowded({}, between, 0.2) == []


def test_a_cut_between_scenes_of_alike_colours_is_a_spike() -> None:
    """Two backdrops with the same colour statistics: the histogram barely moves, the
    content changes at once after a steady shot."""

    def scene(seed: int, dx: int) -> np.ndarray:
        small = np.random.default_rng(seed).integers(40, 200, size=(9, 16, 3)).astype(np.uint8)
        big = cv2.resize(small, (360, 180), interpolation=cv2.INTER_CUBIC)
        return np.ascontiguousarray(big[:, dx : dx + 320])

    detector = SceneCutDetector()
    steady = [detector.score(scene(1, k)) for k in range(5)]
    assert not any(s.cut for s in steady)
    after = detector.score(scene(2, 5))
    assert after.histogram < 0.3 and after.cut


def test_a_steady_pan_is_no_spike() -> None:
    detector = SceneCutDetector()
    image = np.ascontiguousarray(photo("Tony_Blair"))
    wide = np.concatenate([image, image[:, ::-1], image], axis=1)
    scores = [
        detector.score(np.ascontiguousarray(wide[:, 20 * k : 20 * k + 250])) for k in range(12)
    ]
    assert not any(s.cut for s in scores)
