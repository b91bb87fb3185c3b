"""One video run, as ``faceprint video`` does it: recognise, log events, write the
annotated video with every track labelled from its first frame, summarise.

The annotated video needs identities that are only known later in the track (a face
is named when a good observation comes, or a track is split when another face takes
its place). A **file** is therefore annotated in a second pass, after recognition,
from the final track table (:meth:`VideoRecognizer.frame_tracks`): every frame of a
track shows the track's identity. A **live source** (stream, webcam) cannot be read
twice: its frames are held for ``VideoOptions.lookahead_seconds`` (default 2 s) and
written with what is known then, so the annotated stream runs that much behind.
The event log is written as events happen; ``identified`` events carry their
track's ``first_timestamp``, so the identity covers the track from there.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceprint.gallery import Gallery
from faceprint.pipeline import FacePipeline
from faceprint.video.outputs import EventLog, VideoWriter, annotate, save_unknown, summarize
from faceprint.video.recognizer import VideoRecognizer
from faceprint.video.records import FrameResult, VideoOptions, VideoStats
from faceprint.video.sources import Frame, SourceInfo, VideoSource
from faceprint.video.stream import recognize_video

__all__ = ["LookaheadWriter", "VideoReport", "annotate_file", "run_video"]

log = logging.getLogger(__name__)

VideoProgress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: stage ``recognise`` or ``annotate``, frames done
of ``total`` (0 when unknown)."""


@dataclass(slots=True)
class VideoReport:
    """What a run did (``to_dict`` is the CLI's JSON)."""

    source: SourceInfo
    interrupted: bool
    stats: VideoStats
    video_seconds: float | None
    elapsed_seconds: float
    threshold: float | None
    events: Path | None
    out: Path | None
    unknown_groups: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def processed_fps(self) -> float:
        return self.stats.frames_processed / max(self.elapsed_seconds, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "source": dataclasses.asdict(self.source),
            "interrupted": self.interrupted,
            "frames_decoded": stats.frames_decoded,
            "frames_processed": stats.frames_processed,
            "observations": stats.observations,
            "embedded": stats.embedded,
            "identifications": stats.identifications,
            "scene_cuts": stats.scene_cuts,
            "track_splits": stats.splits,
            "outliers_dropped": stats.outliers_dropped,
            "video_seconds": self.video_seconds,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "processed_fps": round(self.processed_fps, 2),
            "threshold": self.threshold,
            "events": None if self.events is None else str(self.events),
            "out": None if self.out is None else str(self.out),
            "unknown_groups": [str(p) for p in self.unknown_groups],
            **self.summary,
        }


class LookaheadWriter:
    """Writes processed frames ``delay`` seconds after they were processed, labelled
    with their tracks' identities as known by then (live sources)."""

    def __init__(self, recognizer: VideoRecognizer, path: Path, *, fps: float, delay: float):
        self.recognizer = recognizer
        self.path = path
        self.fps = fps
        self.delay = delay
        self._held: deque[FrameResult] = deque()
        self._writer: VideoWriter | None = None

    def push(self, result: FrameResult) -> None:
        self._held.append(result)
        now = result.frame.timestamp
        while self._held and self._held[0].frame.timestamp <= now - self.delay:
            self._write(self._held.popleft())

    def _write(self, result: FrameResult) -> None:
        frame = result.frame
        if self._writer is None:
            self._writer = VideoWriter(
                self.path, fps=self.fps, width=frame.width, height=frame.height
            )
        tracks = self.recognizer.results_at(frame.index, forget=True)
        self._writer.write(annotate(frame.pixels, tracks))

    def close(self) -> None:
        while self._held:
            self._write(self._held.popleft())
        if self._writer is not None:
            self._writer.close()


def annotate_file(
    source: str,
    recognizer: VideoRecognizer,
    path: Path,
    *,
    fps: float | None,
    last_frame: int,
    progress: VideoProgress | None = None,
) -> int:
    """Second pass over a file: write every processed frame (up to ``last_frame``) with
    its tracks' final labels. Returns the frames written."""
    table = recognizer.frame_tracks()
    total = recognizer.stats.frames_processed
    writer: VideoWriter | None = None
    written = 0
    try:
        with VideoSource(source, fps=fps) as again:
            rate = fps or again.info.fps or 25.0
            for frame in again:
                if frame.index > last_frame:
                    break
                if writer is None:
                    writer = VideoWriter(path, fps=rate, width=frame.width, height=frame.height)
                writer.write(annotate(frame.pixels, table.get(frame.index, [])))
                written += 1
                if progress is not None:
                    progress("annotate", written, total)
    finally:
        if writer is not None:
            writer.close()
    return written


def _video_seconds(last: Frame | None, info: SourceInfo) -> float | None:
    """How much video was covered: up to the end of the last decoded frame (the
    container's ``duration`` for a file read to its end)."""
    if last is None:
        return None
    frame_time = 1.0 / info.fps if info.fps else 0.0
    seconds = last.timestamp + frame_time
    if info.duration and not info.live:
        seconds = min(seconds, info.duration)
    return round(seconds, 3)


def run_video(
    pipeline: FacePipeline,
    gallery: Gallery | None,
    source: str,
    *,
    options: VideoOptions | None = None,
    out: Path | None = None,
    events: Path | None = None,
    unknown_dir: Path | None = None,
    max_seconds: float | None = None,
    progress: VideoProgress | None = None,
) -> VideoReport:
    """Recognise people in ``source`` (file, stream URL or webcam index) and write what
    was asked for; Ctrl-C stops cleanly (tracks end, events are flushed, the
    annotated video covers what was processed) and the report says ``interrupted``.

    Raises:
        faceprint.errors.VideoSourceError: the source cannot be read.
        faceprint.errors.ModelMismatchError: the gallery holds another model's embeddings.
    """
    options = options or VideoOptions()
    started = time.monotonic()
    interrupted = False
    last: Frame | None = None
    with VideoSource(source, fps=options.fps) as src:
        info = src.info
        recognizer = VideoRecognizer(
            pipeline,
            gallery,
            options=options,
            frame_rate=info.fps or 25.0,
            keep_frames=not info.live,
        )
        log_file = EventLog(events) if events else None
        rate = options.fps or info.fps or 25.0
        live = (
            LookaheadWriter(recognizer, out, fps=rate, delay=options.lookahead_seconds)
            if out is not None and info.live
            else None
        )
        total = 0
        if not info.live and info.duration and options.fps:
            total = max(1, round(info.duration * min(options.fps, info.fps or options.fps)))
        elif not info.live and info.frames:
            total = info.frames
        try:
            for result in recognize_video(
                pipeline, gallery, src, options=options, recognizer=recognizer
            ):
                fresh = result.frame is not last  # the closing result repeats a frame
                last = result.frame
                if log_file is not None:
                    log_file.write(result.events)
                if live is not None and fresh:
                    live.push(result)
                if progress is not None:
                    progress("recognise", recognizer.stats.frames_processed, total)
                if max_seconds is not None and last.timestamp >= max_seconds:
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            closing = recognizer.finish(last)
            if log_file is not None:
                log_file.write(closing)
                log_file.close()
            if live is not None:
                live.close()
    if out is not None and not info.live and last is not None:
        try:
            annotate_file(
                source, recognizer, out, fps=options.fps, last_frame=last.index, progress=progress
            )
        except KeyboardInterrupt:
            interrupted = True
    tracks = list(recognizer.tracks.values())
    groups: list[Path] = []
    if unknown_dir is not None:
        groups = save_unknown(tracks, unknown_dir, threshold=recognizer.gate)
    return VideoReport(
        source=info,
        interrupted=interrupted,
        stats=recognizer.stats,
        video_seconds=_video_seconds(last, info),
        elapsed_seconds=time.monotonic() - started,
        threshold=None if recognizer.threshold is None else recognizer.threshold.similarity,
        events=events,
        out=out,
        unknown_groups=groups,
        summary=summarize(tracks),
    )
