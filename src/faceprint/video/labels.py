"""Which track (after splits) and identity every processed frame's faces have.

A track split hands its frames from the split on to a new track; a frame already
yielded keeps the track id it had then. :class:`FrameLabels` records each frame's
observations under the id they were seen with and resolves them through the splits,
so a frame read later (the look-ahead writer, a file's second annotation pass) gets
its faces' final tracks and identities.
"""

from __future__ import annotations

from faceprint.video.records import Observation, TrackResult, TrackSummary

__all__ = ["FrameLabels"]


class FrameLabels:
    """Per-frame records over the recogniser's ``tracks`` (shared, not copied)."""

    def __init__(self, tracks: dict[int, TrackSummary]) -> None:
        self.tracks = tracks
        # old track id → (first frame moved, new track id), one per split
        self._moved: dict[int, tuple[int, int]] = {}
        # processed frame index → (track id when observed, observation)
        self._by_frame: dict[int, list[tuple[int, Observation]]] = {}

    def record(self, track_id: int, obs: Observation) -> None:
        self._by_frame.setdefault(obs.frame_index, []).append((track_id, obs))

    def moved(self, track_id: int, from_frame: int, new_id: int) -> None:
        """``track_id``'s frames from ``from_frame`` on belong to ``new_id``."""
        self._moved[track_id] = (from_frame, new_id)

    def final_id(self, track_id: int, frame_index: int) -> int:
        while track_id in self._moved and frame_index >= self._moved[track_id][0]:
            track_id = self._moved[track_id][1]
        return track_id

    def forget_before(self, horizon: int) -> None:
        """Drop the frames before ``horizon`` (and the tracks' observations there)."""
        for index in [i for i in self._by_frame if i < horizon]:
            del self._by_frame[index]
        for track in self.tracks.values():
            if track.observed and track.observed[0].frame_index < horizon:
                track.observed = [o for o in track.observed if o.frame_index >= horizon]

    def results_at(self, frame_index: int, *, forget: bool = False) -> list[TrackResult]:
        """The tracked faces of one processed frame, labelled as known now (final
        tracks after splits, their identities); ``forget`` drops the frame from memory
        (a live writer that has written it)."""
        entries = (
            self._by_frame.pop(frame_index, []) if forget else self._by_frame.get(frame_index, [])
        )
        out = []
        for track_id, obs in entries:
            final = self.final_id(track_id, obs.frame_index)
            track = self.tracks[final]
            out.append(
                TrackResult(
                    final,
                    obs.frame_index,
                    obs.timestamp,
                    obs.detection,
                    obs.quality,
                    track.person,
                    track.similarity,
                    obs.embedded,
                )
            )
        return out

    def frame_tracks(self) -> dict[int, list[TrackResult]]:
        """Every recorded frame's tracked faces with their final labels."""
        return {f: self.results_at(f) for f in sorted(self._by_frame)}
