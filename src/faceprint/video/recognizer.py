"""Recognise people in video: detect every kept frame, track faces, identify per track.

A face is not re-identified in every frame. Each track keeps its best-quality
observations (quality = detector score × size × sharpness × frontality), embeds a few of
them (at most one every ``embed_interval`` seconds, up to ``max_embeddings``), fuses them
into one template (quality-weighted mean, renormalised) and identifies the template
against the gallery. It is identified again only when a better observation joins the
template, so the per-frame identity is the track's identity: stable, not flickering.

:func:`recognize_video` yields a :class:`FrameResult` per kept frame; it is what
``faceprint video`` runs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from faceprint.core.quality import crop_measures
from faceprint.errors import ConfigError
from faceprint.gallery import Gallery
from faceprint.pipeline import FacePipeline
from faceprint.types import BBox, Detection, Embedding, Threshold
from faceprint.video.sources import Frame, VideoSource
from faceprint.video.tracking import FaceTracker

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """How video is processed.

    Attributes:
        fps: frames per second of video to process (``None``: every frame).
        embed_interval: least time between two embeddings of one track (seconds).
        max_embeddings: best observations a track's template is fused from.
        min_quality: observations below this quality are never embedded.
        lost_seconds: how long a track may go unseen before it ends.
        collection: the gallery collection to search (``None``: all).
        k: candidates kept per identification.
        threshold, fpir: the open-set threshold (default FPIR 1 % for the gallery size).
        crops_per_track: best face crops kept per track (for ``save_unknown``).
    """

    fps: float | None = 10.0
    embed_interval: float = 0.4
    max_embeddings: int = 5
    min_quality: float = 0.15
    lost_seconds: float = 1.0
    collection: str | None = None
    k: int = 3
    threshold: float | None = None
    fpir: float | None = None
    crops_per_track: int = 3

    def __post_init__(self) -> None:
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if self.max_embeddings < 1 or self.k < 1:
            raise ConfigError("max_embeddings and k must be at least 1")


@dataclass(frozen=True, slots=True)
class TrackResult:
    """One tracked face in one frame, with its track's current identity."""

    track_id: int
    frame_index: int
    timestamp: float
    detection: Detection
    quality: float
    person: str | None
    similarity: float | None
    embedded: bool


@dataclass(frozen=True, slots=True)
class Event:
    """``track_started``, ``identified`` or ``track_ended`` (see :meth:`as_dict`)."""

    kind: str
    track_id: int
    timestamp: float
    frame_index: int
    person: str | None = None
    similarity: float | None = None
    threshold: float | None = None
    first_timestamp: float | None = None
    last_timestamp: float | None = None
    observations: int | None = None
    embeddings: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "event": self.kind,
            "track_id": self.track_id,
            "timestamp": round(self.timestamp, 3),
            "frame": self.frame_index,
        }
        if self.kind != "track_started":
            out["person"] = self.person
            out["similarity"] = None if self.similarity is None else round(self.similarity, 4)
        if self.kind == "identified":
            out["threshold"] = None if self.threshold is None else round(self.threshold, 4)
        if self.kind == "track_ended":
            out["first_timestamp"] = self.first_timestamp
            out["last_timestamp"] = self.last_timestamp
            out["observations"] = self.observations
            out["embeddings"] = self.embeddings
        return out


@dataclass(frozen=True, slots=True, eq=False)
class FrameResult:
    """A processed frame: its tracked faces and the events it caused (in order)."""

    frame: Frame
    tracks: tuple[TrackResult, ...]
    events: tuple[Event, ...]


@dataclass(slots=True, eq=False)
class TrackSummary:
    """A finished (or still running) track: when it was seen and who it is."""

    track_id: int
    first_timestamp: float
    last_timestamp: float
    first_frame: int
    last_frame: int
    observations: int = 0
    person: str | None = None
    similarity: float | None = None
    template: Embedding | None = None
    embeddings: list[tuple[float, np.ndarray]] = field(default_factory=list)
    crops: list[tuple[float, np.ndarray]] = field(default_factory=list)
    last_embedded: float = -math.inf
    ended: bool = False


@dataclass(slots=True)
class VideoStats:
    """Counters for the run (for progress and benchmarks)."""

    frames_decoded: int = 0
    frames_processed: int = 0
    observations: int = 0
    embedded: int = 0
    identifications: int = 0


def observation_quality(image: np.ndarray, detection: Detection) -> float:
    """A cheap quality in [0, 1]: detector score × size × sharpness × frontality."""
    x1, y1, x2, y2 = detection.bbox_xyxy
    h, w = image.shape[:2]
    side = min(x2 - x1, y2 - y1)
    size = min(1.0, max(0.0, side) / 112.0)
    ix1, iy1 = max(0, int(x1)), max(0, int(y1))
    ix2, iy2 = min(w, math.ceil(x2)), min(h, math.ceil(y2))
    if ix2 - ix1 < 4 or iy2 - iy1 < 4:
        return 0.0
    crop = np.asarray(
        cv2.resize(image[iy1:iy2, ix1:ix2], (64, 64), interpolation=cv2.INTER_AREA), np.uint8
    )
    sharpness = min(1.0, crop_measures(crop)[0] / 0.3)
    points = detection.landmarks_array()
    eye_mid = (points[0] + points[1]) / 2
    eye_dist = float(np.linalg.norm(points[1] - points[0])) + 1e-6
    offset = abs(float(points[2][0] - eye_mid[0])) / eye_dist  # 0 frontal, ~0.5 in profile
    frontal = max(0.0, 1.0 - 2.0 * offset)
    return float(detection.score * size * (0.3 + 0.7 * sharpness) * (0.3 + 0.7 * frontal))


def _crop(image: np.ndarray, box: BBox, margin: float = 0.3) -> np.ndarray:
    x1, y1, x2, y2 = box
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    h, w = image.shape[:2]
    ix1, iy1 = max(0, int(x1 - mw)), max(0, int(y1 - mh))
    ix2, iy2 = min(w, int(x2 + mw)), min(h, int(y2 + mh))
    return np.ascontiguousarray(image[iy1:iy2, ix1:ix2])


class VideoRecognizer:
    """Stateful per-video recogniser; :func:`recognize_video` drives it."""

    def __init__(
        self,
        pipeline: FacePipeline,
        gallery: Gallery | None,
        *,
        options: VideoOptions,
        frame_rate: float,
    ) -> None:
        self.pipeline = pipeline
        self.gallery = gallery
        self.options = options
        rate = options.fps or frame_rate or 25.0
        self.tracker = FaceTracker(lost_frames=max(1, round(options.lost_seconds * rate)))
        self.tracks: dict[int, TrackSummary] = {}
        self.stats = VideoStats()
        self.threshold: Threshold | None = None
        if gallery is not None:
            self.threshold = pipeline.identification_threshold(
                gallery_size=gallery.size(collection=options.collection),
                threshold=options.threshold,
                fpir=options.fpir,
            )

    def process(self, frame: Frame) -> FrameResult:
        """Detect, track, embed where it pays, identify where the template improved."""
        self.stats.frames_processed += 1
        image = frame.pixels
        detections = self.pipeline.detector.detect(image)
        update = self.tracker.update(detections)
        events: list[Event] = []
        for track_id in update.ended:
            events.append(self._end(track_id, frame))
        for track_id in update.started:
            events.append(Event("track_started", track_id, frame.timestamp, frame.index))

        to_embed: list[tuple[int, Detection, float]] = []
        observed: list[tuple[int, Detection, float]] = []
        for track_id, det in update.active:
            track = self.tracks.get(track_id)
            if track is None:
                track = TrackSummary(
                    track_id, frame.timestamp, frame.timestamp, frame.index, frame.index
                )
                self.tracks[track_id] = track
            track.last_timestamp, track.last_frame = frame.timestamp, frame.index
            track.observations += 1
            quality = observation_quality(image, det)
            observed.append((track_id, det, quality))
            self._keep_crop(track, image, det, quality)
            if self._wants_embedding(track, quality, frame.timestamp):
                to_embed.append((track_id, det, quality))
        self.stats.observations += len(observed)

        embedded_ids = self._embed(image, frame, to_embed, events)
        results = tuple(
            TrackResult(
                track_id=track_id,
                frame_index=frame.index,
                timestamp=frame.timestamp,
                detection=det,
                quality=quality,
                person=self.tracks[track_id].person,
                similarity=self.tracks[track_id].similarity,
                embedded=track_id in embedded_ids,
            )
            for track_id, det, quality in observed
        )
        return FrameResult(frame=frame, tracks=results, events=tuple(events))

    def finish(self, frame: Frame | None) -> list[Event]:
        """End every open track (the source ended or the run was interrupted)."""
        events = []
        for track_id in self.tracker.finish():
            if track_id in self.tracks and not self.tracks[track_id].ended:
                events.append(self._end(track_id, frame))
        return events

    # --- internals ------------------------------------------------------------------

    def _wants_embedding(self, track: TrackSummary, quality: float, now: float) -> bool:
        if quality < self.options.min_quality:
            return False
        if not track.embeddings:
            return True
        if now - track.last_embedded < self.options.embed_interval:
            return False
        if len(track.embeddings) < self.options.max_embeddings:
            return True
        return quality > min(q for q, _ in track.embeddings) * 1.1

    def _keep_crop(
        self, track: TrackSummary, image: np.ndarray, det: Detection, quality: float
    ) -> None:
        limit = self.options.crops_per_track
        if limit <= 0:
            return
        if len(track.crops) < limit or quality > track.crops[-1][0]:
            track.crops.append((quality, _crop(image, det.bbox_xyxy)))
            track.crops.sort(key=lambda item: -item[0])
            del track.crops[limit:]

    def _embed(
        self,
        image: np.ndarray,
        frame: Frame,
        items: list[tuple[int, Detection, float]],
        events: list[Event],
    ) -> set[int]:
        if not items:
            return set()
        detections = [det for _, det, _ in items]
        if self.pipeline.landmarks is not None:
            detections = self.pipeline.landmarks.refine(image, detections)
        faces = self.pipeline.embed(image, detections)
        self.stats.embedded += len(faces)
        for (track_id, _, quality), face in zip(items, faces, strict=True):
            track = self.tracks[track_id]
            track.last_embedded = frame.timestamp
            track.embeddings.append((quality, face.embedding.vector.astype(np.float32)))
            track.embeddings.sort(key=lambda item: -item[0])
            del track.embeddings[self.options.max_embeddings :]
            weights = np.array([q for q, _ in track.embeddings])
            fused = (weights[:, None] * np.stack([v for _, v in track.embeddings])).sum(axis=0)
            fused /= np.linalg.norm(fused) + 1e-12
            track.template = Embedding(
                vector=fused.astype(np.float32), model_id=self.pipeline.model_id
            )
            self._identify(track, frame, events)
        return {track_id for track_id, _, _ in items}

    def _identify(self, track: TrackSummary, frame: Frame, events: list[Event]) -> None:
        if self.gallery is None or self.threshold is None or track.template is None:
            return
        self.stats.identifications += 1
        found = self.gallery.identify(
            track.template,
            threshold=self.threshold,
            k=self.options.k,
            collection=self.options.collection,
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
                )
            )

    def _end(self, track_id: int, frame: Frame | None) -> Event:
        track = self.tracks[track_id]
        track.ended = True
        return Event(
            "track_ended",
            track_id,
            track.last_timestamp if frame is None else max(frame.timestamp, track.last_timestamp),
            track.last_frame if frame is None else frame.index,
            person=track.person,
            similarity=track.similarity,
            first_timestamp=round(track.first_timestamp, 3),
            last_timestamp=round(track.last_timestamp, 3),
            observations=track.observations,
            embeddings=len(track.embeddings),
        )


def recognize_video(
    pipeline: FacePipeline,
    gallery: Gallery | None,
    source: VideoSource,
    *,
    options: VideoOptions | None = None,
    recognizer: VideoRecognizer | None = None,
) -> Iterator[FrameResult]:
    """Yield one :class:`FrameResult` per processed frame, then a last one (with no
    tracks) carrying the ``track_ended`` events of tracks still open at the end.

    The stride is the source's own ``fps`` when it has one, else ``options.fps``
    (which is then set on the source); ``VideoOptions(fps=None)`` with an unstrided
    source processes every frame.

    Closing the generator early (``break``, Ctrl-C) also ends the open tracks: pass your
    own ``recognizer`` to read them afterwards with :meth:`VideoRecognizer.finish`.

    Raises:
        faceprint.errors.VideoSourceError: the source cannot be read.
        faceprint.errors.ModelMismatchError: the gallery holds another model's embeddings.
    """
    options = options or VideoOptions()
    if source.fps is None and options.fps is not None:
        source.fps = options.fps
    worker = recognizer or VideoRecognizer(
        pipeline, gallery, options=options, frame_rate=source.info.fps or 25.0
    )
    last: Frame | None = None
    for frame in source:
        worker.stats.frames_decoded = frame.index + 1
        last = frame
        yield worker.process(frame)
    if last is not None:
        ended = worker.finish(last)
        if ended:
            yield FrameResult(frame=last, tracks=(), events=tuple(ended))
