"""Recognise people in video: detect every kept frame, track faces, identify per track.

A face is not re-identified in every frame. Each track keeps its best-quality
observations (quality = detector score × size × sharpness × frontality), embeds a few of
them (at most one every ``embed_interval`` seconds, up to ``max_embeddings``), fuses them
into one template (quality-weighted mean, renormalised) and identifies the template
against the gallery. The identity is the track's, from its first frame to its last.

A track must therefore never hold two people. Three guards keep it to one:

- **Scene cuts** (:class:`~faceprint.video.cuts.SceneCutDetector`) end every track.
- **Appearance gating of the template.** Each new embedding of a track (and, once
  its template is full, one check per ``embed_interval``) is compared with the
  track's template at the 1:1 threshold (FMR 1e-3). One that disagrees is
  not averaged in: the track's recent observations since its last embedding (kept as
  small crops) are embedded to find where the disagreement began, and when at least
  two consecutive embeddings disagree the track is *split* there: the old track ends
  at its last agreeing frame and a new track (``split_from`` the old one) takes the
  rest. A lone disagreement is held as a suspect and the next observation is
  embedded at once: if that one agrees, the suspect was an outlier (a turned head, a
  hand) and is dropped.
- **Appearance in association where faces crowd.** When a detection could be
  matched to the predicted boxes of two tracks (IoU above the tracker's matching
  threshold), or a track to two detections, those detections are embedded *before*
  association, and a pairing whose embedding
  disagrees with the track's template is vetoed (DeepSORT-style gating of the IoU
  assignment), so two people crossing do not swap tracks.

Labels cover whole tracks: :meth:`VideoRecognizer.results_at` gives any frame seen so
far its faces' final tracks (after splits) and identities, for the look-ahead writer
and a file's second annotation pass (:mod:`faceprint.video.job`, what ``faceprint
video`` runs). :func:`recognize_video` yields a :class:`FrameResult` per kept frame,
labelled with what was known at that frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import numpy as np

from faceprint.gallery import Gallery
from faceprint.pipeline import FacePipeline
from faceprint.types import Detection, Threshold
from faceprint.video.cuts import SceneCutDetector
from faceprint.video.labels import FrameLabels
from faceprint.video.observations import crop, crowded, observation_quality, shifted, window
from faceprint.video.records import (
    Event,
    FrameResult,
    Observation,
    TrackResult,
    TrackSummary,
    VideoOptions,
    VideoStats,
)
from faceprint.video.sources import Frame
from faceprint.video.tracking import FaceTracker

log = logging.getLogger(__name__)


__all__ = ["VideoRecognizer"]


class VideoRecognizer:
    """Stateful per-video recogniser; :func:`recognize_video` drives it."""

    def __init__(
        self,
        pipeline: FacePipeline,
        gallery: Gallery | None,
        *,
        options: VideoOptions,
        frame_rate: float,
        keep_frames: bool = True,
    ) -> None:
        """``keep_frames=False`` (live sources) keeps each track's frames only for as
        long as a split or the look-ahead writer may need them, so a stream that runs
        for days does not grow; :meth:`frame_tracks` then covers recent frames only."""
        self.pipeline = pipeline
        self.gallery = gallery
        self.options = options
        rate = options.fps or frame_rate or 25.0
        self.tracker = FaceTracker(lost_frames=max(1, round(options.lost_seconds * rate)))
        self.cuts = SceneCutDetector() if options.scene_cuts else None
        self.tracks: dict[int, TrackSummary] = {}
        self.stats = VideoStats()
        self.threshold: Threshold | None = None
        self.gate = pipeline.verification_threshold(fmr=options.gate_fmr).similarity
        self._unsent: list[Event] = []
        self.labels = FrameLabels(self.tracks)
        # tracker frame number → (frame index, timestamp, quality by detection id)
        self._recent: dict[int, tuple[int, float, dict[int, float]]] = {}
        self._pending_limit = max(2, math.ceil(2 * options.embed_interval * rate))
        self._keep_frames = keep_frames
        # frames a live run keeps: the look-ahead, the gating window, some slack
        self._window = (
            math.ceil((options.lookahead_seconds + 4 * options.embed_interval) * rate) + 4
        )
        if gallery is not None:
            self.threshold = pipeline.identification_threshold(
                gallery_size=gallery.size(collection=options.collection),
                threshold=options.threshold,
                fpir=options.fpir,
            )

    # --- the per-frame step ------------------------------------------------------------

    def process(self, frame: Frame) -> FrameResult:
        """Detect, track, embed where it pays, identify where the template improved.

        If the step is interrupted (Ctrl-C), the events it had already decided (a
        track ended at a cut, a track started) are kept for :meth:`finish`, so the
        event log stays whole."""
        events: list[Event] = []
        try:
            return self._step(frame, events)
        except BaseException:
            self._unsent.extend(events)
            raise

    def _step(self, frame: Frame, events: list[Event]) -> FrameResult:
        image = frame.pixels
        if self.cuts is not None and self.cuts.score(image).cut:
            self.stats.scene_cuts += 1
            for track_id in self.tracker.finish():
                if track_id in self.tracks and not self.tracks[track_id].ended:
                    events.append(self._end(track_id, frame, "scene_cut"))
        detections = self.pipeline.detector.detect(image)
        qualities = [observation_quality(image, d) for d in detections]
        early = self._embed_crowded(image, detections, qualities)
        veto = None
        if early:

            def veto(track_id: int, index: int) -> bool:
                vetoed = index in early and self._disagrees(track_id, early[index])
                self.stats.vetoes += vetoed
                return vetoed

        update = self.tracker.update(detections, veto=veto)
        index_of = {id(d): i for i, d in enumerate(detections)}
        self._recent[self.tracker.frame] = (
            frame.index,
            frame.timestamp,
            {id(d): q for d, q in zip(detections, qualities, strict=True)},
        )
        self._recent.pop(self.tracker.frame - self.tracker.min_hits - 1, None)
        for track_id in update.ended:
            events.append(self._end(track_id, frame, "left"))
        started = set(update.started)
        self._backfill_start(update.earlier)

        to_embed: list[tuple[TrackSummary, Observation]] = []
        absorbed: list[tuple[TrackSummary, Observation, np.ndarray]] = []
        seen: list[tuple[int, Observation]] = []
        for track_id, det in update.active:
            track = self.tracks.get(track_id)
            if track is None:
                track = TrackSummary(
                    track_id, frame.timestamp, frame.timestamp, frame.index, frame.index
                )
                self.tracks[track_id] = track
            if track_id in started:
                events.append(
                    Event(
                        "track_started",
                        track_id,
                        frame.timestamp,
                        frame.index,
                        first_timestamp=track.first_timestamp,
                    )
                )
                track.announced = True
            index = index_of[id(det)]
            quality = qualities[index]
            obs = Observation(frame.index, frame.timestamp, det, quality)
            track.last_timestamp, track.last_frame = frame.timestamp, frame.index
            track.observations += 1
            if self.options.crops_per_track > 0:
                cut = lambda box=det.bbox_xyxy: crop(image, box)  # noqa: E731
                track.keep_crop(obs, cut, self.options.crops_per_track)
            if index in early:
                absorbed.append((track, obs, early[index]))
            elif self._wants_embedding(track, quality, frame.timestamp):
                to_embed.append((track, obs))
            elif self.options.appearance_gate and quality >= self.options.min_quality:
                self._hold(track, image, obs)
            seen.append((track_id, obs))
        self.stats.observations += len(seen)

        absorbed += self._embed(image, to_embed)
        embedded = {id(obs) for _, obs, _ in absorbed}
        for track, obs, vector in absorbed:
            self._absorb(track, replace(obs, embedded=True), vector, frame, events)
        for track_id, obs in seen:
            final = self.labels.final_id(track_id, frame.index)
            kept = replace(obs, embedded=id(obs) in embedded)
            self.tracks[final].observed.append(kept)
            self.labels.record(track_id, kept)
        if not self._keep_frames:
            self.labels.forget_before(frame.index - self._window)
        results = tuple(
            TrackResult(
                track_id=(final := self.labels.final_id(track_id, frame.index)),
                frame_index=frame.index,
                timestamp=frame.timestamp,
                detection=obs.detection,
                quality=obs.quality,
                person=self.tracks[final].person,
                similarity=self.tracks[final].similarity,
                embedded=id(obs) in embedded,
            )
            for track_id, obs in seen
        )
        self.stats.frames_processed += 1  # counted once complete (an interrupt may stop it)
        return FrameResult(frame=frame, tracks=results, events=tuple(events))

    def finish(self, frame: Frame | None) -> list[Event]:
        """End every open track (the source ended or the run was interrupted); the
        events of an interrupted step come first."""
        events, self._unsent = self._unsent, []
        # an interrupted step may have decided events at a later frame than ``frame``
        # (the last one completed): the tracks end no earlier, so the log stays in order
        floor = max(events, key=lambda e: e.timestamp, default=None)
        self.tracker.finish()
        for track in list(self.tracks.values()):
            if track.announced and not track.ended:
                events.append(self._end(track.track_id, frame, "end", not_before=floor))
        return events

    # --- labels for the whole track ----------------------------------------------------

    def results_at(self, frame_index: int, *, forget: bool = False) -> list[TrackResult]:
        """The tracked faces of one processed frame as known now (final tracks after
        splits, their identities); ``forget`` drops the frame (a live writer wrote it)."""
        return self.labels.results_at(frame_index, forget=forget)

    def frame_tracks(self) -> dict[int, list[TrackResult]]:
        """Every processed frame's tracked faces with their final labels (frame index →
        results): what a second annotation pass over a file draws."""
        return self.labels.frame_tracks()

    # --- embedding and gating ----------------------------------------------------------

    def _backfill_start(self, earlier: tuple[tuple[int, int, Detection], ...]) -> None:
        """Attribute to a just-confirmed track the frames it was matched in while
        still tentative (its real first frames)."""
        for track_id, number, det in earlier:
            if number not in self._recent:
                continue
            index, timestamp, qualities = self._recent[number]
            track = self.tracks.get(track_id)
            if track is None:
                track = TrackSummary(track_id, timestamp, timestamp, index, index)
                self.tracks[track_id] = track
            obs = Observation(index, timestamp, det, qualities.get(id(det), 0.0))
            track.observed.insert(0, obs)
            track.observations += 1
            track.first_timestamp, track.first_frame = timestamp, index
            self.stats.observations += 1
            self.labels.record(track_id, obs)

    def _wants_embedding(self, track: TrackSummary, quality: float, now: float) -> bool:
        if quality < self.options.min_quality:
            return False
        if not track.embeddings or track.suspect:
            return True  # a first template, or a suspect to confirm or drop at once
        if now - track.last_embedded < self.options.embed_interval:
            return False
        if len(track.embeddings) < self.options.max_embeddings:
            return True
        # a better observation improves the template; with the gate on, a full
        # template's track is still checked once per interval (is it the same face?)
        return self.options.appearance_gate or quality > min(q for q, _ in track.embeddings) * 1.1

    def _hold(self, track: TrackSummary, image: np.ndarray, obs: Observation) -> None:
        """Keep a small crop of an unembedded observation, to find where a track's
        face changed if a later embedding disagrees."""
        left, top, right, bottom = window(image, obs.detection.bbox_xyxy, 0.5)
        small = np.ascontiguousarray(image[top:bottom, left:right])
        track.pending.append((obs, small, shifted(obs.detection, left, top)))
        del track.pending[: -self._pending_limit]

    def _vectors(self, image: np.ndarray, detections: list[Detection]) -> list[np.ndarray]:
        """Embeddings of detections in one image (landmarks refined in one batch)."""
        if not detections:
            return []
        if self.pipeline.landmarks is not None:
            detections = self.pipeline.landmarks.refine(image, detections)
        faces = self.pipeline.embed(image, detections)
        self.stats.embedded += len(faces)
        return [f.embedding.vector.astype(np.float32) for f in faces]

    def _embed(
        self, image: np.ndarray, items: list[tuple[TrackSummary, Observation]]
    ) -> list[tuple[TrackSummary, Observation, np.ndarray]]:
        vectors = self._vectors(image, [obs.detection for _, obs in items])
        return [(track, obs, v) for (track, obs), v in zip(items, vectors, strict=True)]

    def _embed_crowded(
        self, image: np.ndarray, detections: list[Detection], qualities: list[float]
    ) -> dict[int, np.ndarray]:
        if not self.options.appearance_gate:
            return {}
        predicted = {
            t: box
            for t, box in self.tracker.predicted().items()
            if t in self.tracks and self.tracks[t].template is not None
        }
        chosen = [
            i
            for i in crowded(predicted, detections, self.tracker.match_iou)
            if qualities[i] >= self.options.min_quality
        ]
        if not chosen:
            return {}
        vectors = self._vectors(image, [detections[i] for i in chosen])
        self.stats.crowded_embeddings += len(vectors)
        return dict(zip(chosen, vectors, strict=True))

    def _disagrees(self, track_id: int, vector: np.ndarray) -> bool:
        track = self.tracks.get(track_id)
        if track is None or track.template is None:
            return False
        return float(np.dot(track.template.vector, vector)) < self.gate

    def _absorb(
        self,
        track: TrackSummary,
        obs: Observation,
        vector: np.ndarray,
        frame: Frame,
        events: list[Event],
    ) -> None:
        """Add an embedding to its track's template, or gate it out (see the module)."""
        track = self.tracks[self.labels.final_id(track.track_id, obs.frame_index)]
        if not self.options.appearance_gate or track.template is None:
            self._add(track, obs, vector, frame, events)
            return
        if not self._disagrees(track.track_id, vector):
            if track.suspect:
                self.stats.outliers_dropped += len(track.suspect)
                track.suspect.clear()
            self._add(track, obs, vector, frame, events)
            return
        # Where did the disagreement begin? Embed the frames held since the last
        # embedding, and look for the run of disagreeing faces at the end.
        held = track.pending
        track.pending = []
        vectors = [v for _, small, det in held for v in self._vectors(small, [det])]
        self.stats.search_embeddings += len(vectors)
        sequence = sorted(
            [*track.suspect, *((o, v) for (o, _, _), v in zip(held, vectors, strict=True))],
            key=lambda item: item[0].frame_index,
        )
        sequence.append((obs, vector))
        start = len(sequence)
        while start > 0 and self._disagrees(track.track_id, sequence[start - 1][1]):
            start -= 1
        run = sequence[start:]
        if len(run) < 2:
            track.suspect = run  # a lone disagreement: confirm (or drop) with the next face
            return
        track.suspect = []
        self._split(track, run, frame, events)

    def _add(
        self,
        track: TrackSummary,
        obs: Observation,
        vector: np.ndarray,
        frame: Frame,
        events: list[Event],
    ) -> None:
        if track.add_embedding(
            obs, vector, limit=self.options.max_embeddings, model_id=self.pipeline.model_id
        ):
            self._identify(track, frame, events)

    def _split(
        self,
        track: TrackSummary,
        run: list[tuple[Observation, np.ndarray]],
        frame: Frame,
        events: list[Event],
    ) -> None:
        """Another face took this track's place from ``run[0]``'s frame: end the track
        before it and give the rest (and the live tracker state) a new track."""
        first = run[0][0]
        new_id = self.tracker.split(track.track_id)
        self.stats.splits += 1
        self.labels.moved(track.track_id, first.frame_index, new_id)
        new = track.split_at(first, new_id)
        self.tracks[new_id] = new
        events.append(self._end(track.track_id, None, "appearance"))
        events[-1] = replace(events[-1], timestamp=frame.timestamp, frame_index=frame.index)
        events.append(
            Event(
                "track_started",
                new_id,
                frame.timestamp,
                frame.index,
                first_timestamp=first.timestamp,
                split_from=track.track_id,
            )
        )
        new.announced = True
        for obs, vector in run:
            self._add(new, obs, vector, frame, events)

    def _identify(self, track: TrackSummary, frame: Frame, events: list[Event]) -> None:
        if self.gallery is None or self.threshold is None or track.template is None:
            return
        self.stats.identifications += 1
        found = self.gallery.identify(
            track.template,
            threshold=self.threshold,
            k=self.options.k,
            collection=self.options.collection,
            rescore=self.pipeline.rescore if self.pipeline.score_adjuster is not None else None,
        )
        best = found.candidates[0] if found.candidates else None
        before = track.person
        track.person = found.person
        track.similarity = None if best is None else best.similarity
        if found.person is not None and found.person != before:
            events.append(
                Event(
                    "identified",
                    track.track_id,
                    frame.timestamp,
                    frame.index,
                    person=found.person,
                    similarity=track.similarity,
                    threshold=self.threshold.similarity,
                    first_timestamp=track.first_timestamp,
                )
            )

    def _end(
        self, track_id: int, frame: Frame | None, reason: str, *, not_before: Event | None = None
    ) -> Event:
        track = self.tracks[track_id]
        track.ended = True
        track.end_reason = reason
        track.pending.clear()
        track.suspect.clear()
        when = track.last_timestamp if frame is None else max(frame.timestamp, track.last_timestamp)
        index = track.last_frame if frame is None else frame.index
        if not_before is not None and not_before.timestamp > when:
            when, index = not_before.timestamp, max(index, not_before.frame_index)
        return Event(
            "track_ended",
            track_id,
            when,
            index,
            person=track.person,
            similarity=track.similarity,
            first_timestamp=track.first_timestamp,
            last_timestamp=round(track.last_timestamp, 3),
            observations=track.observations,
            embeddings=len(track.embeddings),
            reason=reason,
        )
