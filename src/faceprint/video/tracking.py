"""Multi-object tracking of faces across frames, ByteTrack-style.

Association follows ByteTrack (Zhang et al., ECCV 2022): every track's box is predicted
by a constant-velocity Kalman filter; confident detections are matched to tracks first
(IoU, optimal assignment), then the less confident ones to the tracks still unmatched,
so a face that blurs for a frame keeps its track. Unmatched tracks are kept as *lost*
for ``lost_frames`` before they end, so a face hidden for a moment comes back under the
same id.

The optimal assignment is ``lap.lapjv`` (the solver ByteTrack itself uses). The
trackers packaged with ``supervision``/``trackers`` were measured for and not taken:
every release that ships ByteTrack requires ``opencv-python`` (the GUI build, which
needs libGL and clashes with the ``opencv-python-headless`` faceprint depends on).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from faceprint.core.boxes import iou_matrix
from faceprint.types import BBox, Detection

F64 = NDArray[np.float64]

# Kalman noise, relative to the box height (the DeepSORT/ByteTrack constants).
_STD_POSITION = 1.0 / 20
_STD_VELOCITY = 1.0 / 160


def _xyah(box: BBox) -> F64:
    x1, y1, x2, y2 = box
    w, h = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
    return np.array([x1 + w / 2, y1 + h / 2, w / h, h], dtype=np.float64)


def _xyxy(xyah: F64) -> BBox:
    cx, cy, a, h = (float(v) for v in xyah[:4])
    w = a * h
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


class KalmanBox:
    """Constant-velocity Kalman filter over (centre x, centre y, aspect, height)."""

    _motion = np.eye(8)
    _motion[:4, 4:] = np.eye(4)
    _observe = np.eye(4, 8)

    def __init__(self, box: BBox) -> None:
        z = _xyah(box)
        self.mean = np.concatenate([z, np.zeros(4)])
        h = z[3]
        std = [
            2 * _STD_POSITION * h,
            2 * _STD_POSITION * h,
            1e-2,
            2 * _STD_POSITION * h,
            10 * _STD_VELOCITY * h,
            10 * _STD_VELOCITY * h,
            1e-5,
            10 * _STD_VELOCITY * h,
        ]
        self.covariance = np.diag(np.square(std))

    def predict(self) -> None:
        h = self.mean[3]
        std = [_STD_POSITION * h, _STD_POSITION * h, 1e-2, _STD_POSITION * h]
        std += [_STD_VELOCITY * h, _STD_VELOCITY * h, 1e-5, _STD_VELOCITY * h]
        self.mean = self._motion @ self.mean
        self.covariance = self._motion @ self.covariance @ self._motion.T + np.diag(np.square(std))

    def update(self, box: BBox) -> None:
        h = self.mean[3]
        noise = np.diag(np.square([_STD_POSITION * h, _STD_POSITION * h, 1e-1, _STD_POSITION * h]))
        projected = self._observe @ self.covariance @ self._observe.T + noise
        gain = np.linalg.solve(projected, (self.covariance @ self._observe.T).T).T
        self.mean = self.mean + gain @ (_xyah(box) - self._observe @ self.mean)
        self.covariance = self.covariance - gain @ projected @ gain.T

    @property
    def box(self) -> BBox:
        return _xyxy(self.mean)


def assign(cost: F64, limit: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Optimal assignment with cost ≤ ``limit``: (pairs, unmatched rows, unmatched cols)."""
    rows, cols = cost.shape
    if rows == 0 or cols == 0:
        return [], list(range(rows)), list(range(cols))
    import lap

    _, x, _ = lap.lapjv(cost, extend_cost=True, cost_limit=limit)
    pairs = [(r, int(c)) for r, c in enumerate(x) if c >= 0]
    matched_cols = {c for _, c in pairs}
    return (
        pairs,
        [r for r, c in enumerate(x) if c < 0],
        [c for c in range(cols) if c not in matched_cols],
    )


@dataclass(slots=True, eq=False)
class _Track:
    track_id: int
    kalman: KalmanBox
    detection: Detection
    last_frame: int
    hits: int = 1
    lost: bool = False
    confirmed: bool = False
    # (tracker frame, detection) matched before the track was confirmed
    tentative: list[tuple[int, Detection]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TrackerUpdate:
    """One frame's tracking result.

    Attributes:
        active: (track id, detection) for every track matched in this frame, in the
            order of the detections given.
        started: ids of tracks confirmed in this frame.
        ended: ids of tracks that ended (lost for too long) in this frame.
        earlier: (track id, frame number, detection) for the frames before this one
            in which a track just started was matched while still tentative (frame
            numbers count :meth:`FaceTracker.update` calls from 1), so its first frame
            can be attributed too.
    """

    active: tuple[tuple[int, Detection], ...]
    started: tuple[int, ...] = ()
    ended: tuple[int, ...] = ()
    earlier: tuple[tuple[int, int, Detection], ...] = ()


@dataclass(slots=True)
class FaceTracker:
    """ByteTrack-style tracker over :class:`~faceprint.types.Detection` lists.

    Attributes:
        high_score: detections at or above this are matched first and may start tracks.
        match_iou: least IoU between a prediction and a confident detection.
        low_match_iou: least IoU for the second round (less confident detections).
        lost_frames: frames a track may go unmatched before it ends.
        min_hits: matches before a new track is reported (a detection seen once, e.g.
            a false positive on a hand, never becomes a track).
    """

    high_score: float = 0.7
    match_iou: float = 0.2
    low_match_iou: float = 0.5
    lost_frames: int = 10
    min_hits: int = 2
    _tracks: list[_Track] = field(default_factory=list)
    _frame: int = 0
    _next_id: int = 1

    def predicted(self) -> dict[int, BBox]:
        """Where each live confirmed track is expected in the next frame (its Kalman
        prediction), without advancing the filter: to find faces that crowd."""
        out = {}
        for track in self._tracks:
            if track.confirmed:
                mean = KalmanBox._motion @ track.kalman.mean
                out[track.track_id] = _xyxy(mean)
        return out

    def update(
        self,
        detections: Sequence[Detection],
        *,
        veto: Callable[[int, int], bool] | None = None,
    ) -> TrackerUpdate:
        """Advance one frame with this frame's detections.

        ``veto(track_id, detection_index)`` true forbids that pairing whatever the
        boxes' overlap (appearance gating: the face there is someone else's); a vetoed
        confident detection starts a new track.
        """
        self._frame += 1
        for track in self._tracks:
            track.kalman.predict()
        high = [i for i, d in enumerate(detections) if d.score >= self.high_score]
        low = [i for i, d in enumerate(detections) if d.score < self.high_score]
        matched: dict[int, int] = {}  # detection index → track index

        def match(
            track_ix: list[int], det_ix: list[int], min_iou: float
        ) -> tuple[list[int], list[int]]:
            boxes_t = [self._tracks[t].kalman.box for t in track_ix]
            boxes_d = [detections[d].bbox_xyxy for d in det_ix]
            cost = 1.0 - iou_matrix(boxes_t, boxes_d)
            if veto is not None:
                for r, t in enumerate(track_ix):
                    for c, d in enumerate(det_ix):
                        if cost[r, c] <= 1.0 - min_iou and veto(self._tracks[t].track_id, d):
                            cost[r, c] = 1.0  # above every limit: never assigned
            pairs, free_t, free_d = assign(cost, 1.0 - min_iou)
            for r, c in pairs:
                matched[det_ix[c]] = track_ix[r]
            return [track_ix[r] for r in free_t], [det_ix[c] for c in free_d]

        everyone = list(range(len(self._tracks)))
        left_tracks, left_high = match(everyone, high, self.match_iou)
        still_visible = [t for t in left_tracks if not self._tracks[t].lost]
        match(still_visible, low, self.low_match_iou)

        started: list[int] = []
        for d, t in matched.items():
            track = self._tracks[t]
            if not track.confirmed:
                track.tentative.append((track.last_frame, track.detection))
            track.kalman.update(detections[d].bbox_xyxy)
            track.detection = detections[d]
            track.last_frame = self._frame
            track.hits += 1
            track.lost = False
        for d in left_high:
            track = _Track(
                self._next_id, KalmanBox(detections[d].bbox_xyxy), detections[d], self._frame
            )
            self._next_id += 1
            self._tracks.append(track)
            matched[d] = len(self._tracks) - 1
        earlier: list[tuple[int, int, Detection]] = []
        for track in self._tracks:
            if not track.confirmed and track.hits >= self.min_hits:
                track.confirmed = True
                started.append(track.track_id)
                earlier += [(track.track_id, f, det) for f, det in track.tentative]
                track.tentative = []
        active = [
            (self._tracks[matched[d]].track_id, detections[d])
            for d in sorted(matched)
            if self._tracks[matched[d]].confirmed
        ]

        ended: list[int] = []
        kept: list[_Track] = []
        for track in self._tracks:
            if track.last_frame != self._frame:
                if not track.confirmed:
                    continue  # a tentative track that missed a frame is dropped silently
                track.lost = True
            if self._frame - track.last_frame > self.lost_frames:
                ended.append(track.track_id)
            else:
                kept.append(track)
        self._tracks = kept
        return TrackerUpdate(
            active=tuple(active),
            started=tuple(started),
            ended=tuple(ended),
            earlier=tuple(earlier),
        )

    @property
    def frame(self) -> int:
        """The number of the last :meth:`update` (from 1)."""
        return self._frame

    def split(self, track_id: int) -> int:
        """Give the live track ``track_id`` a new id from now on (its box and motion
        are kept: the same place, another person); returns the new id.

        The new track counts as started (and confirmed) at once. Raises ``KeyError``
        for an id that is not live."""
        for track in self._tracks:
            if track.track_id == track_id:
                track.track_id = self._next_id
                self._next_id += 1
                track.confirmed = True
                return track.track_id
        raise KeyError(track_id)

    def finish(self) -> tuple[int, ...]:
        """End every remaining track (the source ended); returns their ids."""
        ended = tuple(t.track_id for t in self._tracks if t.confirmed)
        self._tracks = []
        return ended
