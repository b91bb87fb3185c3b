"""The face tracker on synthetic detections: ids stay, gaps are bridged, noise is ignored."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.core.boxes import iou, iou_matrix
from faceprint.types import Detection
from faceprint.video.tracking import FaceTracker, KalmanBox


def det(x: float, y: float, size: float = 60.0, score: float = 0.9) -> Detection:
    box = (x, y, x + size, y + size)
    cx, cy = x + size / 2, y + size / 2
    marks = ((cx - 10, cy - 8), (cx + 10, cy - 8), (cx, cy), (cx - 8, cy + 10), (cx + 8, cy + 10))
    return Detection(bbox_xyxy=box, score=score, landmarks_5=marks)


def test_iou_matrix_matches_scalar_iou() -> None:
    a = [(0.0, 0.0, 10.0, 10.0), (5.0, 5.0, 20.0, 25.0)]
    b = [(5.0, 5.0, 15.0, 15.0), (100.0, 100.0, 110.0, 110.0), (0.0, 0.0, 10.0, 10.0)]
    m = iou_matrix(a, b)
    assert m.shape == (2, 3)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            assert m[i, j] == pytest.approx(iou(x, y))
    assert iou_matrix([], b).shape == (0, 3)


def test_kalman_follows_constant_motion() -> None:
    k = KalmanBox((0.0, 0.0, 50.0, 50.0))
    for step in range(1, 8):
        k.predict()
        k.update((10.0 * step, 0.0, 10.0 * step + 50, 50.0))
    k.predict()
    assert k.box[0] == pytest.approx(80.0, abs=3.0)  # it learnt the velocity


def test_two_moving_faces_keep_their_ids() -> None:
    tracker = FaceTracker()
    seen: dict[int, set[int]] = {0: set(), 1: set()}
    started: list[int] = []
    for f in range(30):
        update = tracker.update([det(10 + 4 * f, 50), det(400 - 4 * f, 60)])
        started += update.started
        for track_id, d in update.active:
            seen[0 if d.bbox_xyxy[1] == 50 else 1].add(track_id)
    assert started == [1, 2]  # both confirmed on their second frame
    assert seen == {0: {1}, 1: {2}}


def test_a_short_gap_keeps_the_id_and_a_long_one_ends_the_track() -> None:
    tracker = FaceTracker(lost_frames=5)
    for f in range(5):
        tracker.update([det(100 + 2 * f, 100)])
    for _ in range(3):  # hidden for 3 frames
        assert tracker.update([]).active == ()
    update = tracker.update([det(116, 100)])
    assert [t for t, _ in update.active] == [1]
    ended = []
    for _ in range(7):
        ended += tracker.update([]).ended
    assert ended == [1]
    tracker.update([det(300, 300)])
    update = tracker.update([det(301, 300)])
    assert update.started == (2,)


def test_a_one_frame_false_positive_never_becomes_a_track() -> None:
    tracker = FaceTracker()
    updates = [
        tracker.update([det(50, 50)] + ([det(300, 40, 20)] if f == 3 else [])) for f in range(8)
    ]
    assert {t for u in updates for t, _ in u.active} == {1}
    assert tracker.finish() == (1,)


def test_low_score_detections_continue_tracks_but_do_not_start_them() -> None:
    tracker = FaceTracker(high_score=0.7)
    for f in range(3):
        tracker.update([det(100 + f, 100)])
    update = tracker.update([det(104, 100, score=0.55), det(400, 400, score=0.55)])
    assert [t for t, _ in update.active] == [1]
    update = tracker.update([det(105, 100, score=0.55), det(401, 400, score=0.55)])
    assert [t for t, _ in update.active] == [1] and update.started == ()


def test_tracker_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    frames = [[det(float(x), float(y)) for x, y in rng.uniform(0, 500, (3, 2))] for _ in range(5)]

    def run() -> list[tuple[int, ...]]:
        t = FaceTracker()
        return [tuple(i for i, _ in t.update(f).active) for f in frames]

    assert run() == run()


def test_a_track_s_first_frames_are_reported_when_it_is_confirmed() -> None:
    tracker = FaceTracker(min_hits=3)
    first, second = tracker.update([det(100, 100)]), tracker.update([det(103, 100)])
    assert first.active == () and second.active == ()  # still tentative
    third = tracker.update([det(106, 100)])
    assert third.started == (1,)
    assert [(t, f) for t, f, _ in third.earlier] == [(1, 1), (1, 2)]
    assert third.earlier[0][2].bbox_xyxy[0] == 100  # the detections of those frames
    assert tracker.update([det(109, 100)]).earlier == ()


def test_split_gives_the_live_track_a_new_id_and_keeps_its_motion() -> None:
    tracker = FaceTracker()
    for k in range(4):
        tracker.update([det(100 + 10 * k, 100)])
    new = tracker.split(1)
    assert new == 2
    moved = tracker.update([det(140, 100)])
    assert [t for t, _ in moved.active] == [2] and moved.started == ()
    with pytest.raises(KeyError):
        tracker.split(1)


def test_a_veto_keeps_a_detection_off_a_track_whatever_the_overlap() -> None:
    tracker = FaceTracker()
    for _ in range(3):
        tracker.update([det(100, 100)])
    vetoed = tracker.update([det(100, 100)], veto=lambda track, index: track == 1)
    # the confident detection starts a tentative track instead; track 1 is lost
    assert vetoed.active == ()
    allowed = tracker.update([det(100, 100)], veto=lambda track, index: False)
    assert [t for t, _ in allowed.active] == [1]


def test_predicted_boxes_do_not_advance_the_filter() -> None:
    tracker = FaceTracker()
    for k in range(5):
        tracker.update([det(100 + 10 * k, 100)])
    ahead = tracker.predicted()[1]
    assert ahead[0] == pytest.approx(150.0, abs=4.0)
    assert tracker.predicted()[1] == ahead
