"""What a video run leaves behind: an annotated video, a JSONL event log, a summary of
who appeared when, and the faces of unknown tracks grouped for later enrollment."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import cv2
import numpy as np
from PIL import Image

from faceprint.errors import VideoError
from faceprint.types import ImageArray
from faceprint.video.records import Event, TrackResult, TrackSummary

log = logging.getLogger(__name__)

KNOWN = (46, 204, 113)
UNKNOWN = (255, 165, 0)


def annotate(image: ImageArray, tracks: Sequence[TrackResult]) -> ImageArray:
    """A copy of ``image`` with a box and a label (name and similarity, or
    ``unknown #id``) per tracked face."""
    out = np.ascontiguousarray(image.copy())
    scale = max(0.4, min(1.2, out.shape[0] / 720))
    thickness = max(1, round(2 * scale))
    for t in tracks:
        x1, y1, x2, y2 = (round(v) for v in t.detection.bbox_xyxy)
        color = KNOWN if t.person else UNKNOWN
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        label = (
            f"{t.person} {t.similarity:.2f}"
            if t.person and t.similarity is not None
            else f"unknown #{t.track_id}"
        )
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, thickness)
        top = y1 - th - base - 4 if y1 - th - base - 4 >= 0 else y2 + 2
        cv2.rectangle(out, (x1, top), (x1 + tw + 6, top + th + base + 4), color, -1)
        cv2.putText(
            out,
            label,
            (x1 + 3, top + th + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (0, 0, 0),
            thickness,
            cv2.LINE_AA,
        )
    return out


class VideoWriter:
    """H.264 MP4 (``libx264``, falling back to MPEG-4 Part 2) through PyAV."""

    def __init__(self, path: str | Path, *, fps: float, width: int, height: int) -> None:
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width - width % 2, height - height % 2
        self._container: Any
        try:
            self._container = av.open(str(self.path), mode="w")
        except (av.FFmpegError, OSError) as exc:
            raise VideoError(f"{self.path}: cannot write a video here ({exc})") from exc
        from fractions import Fraction

        rate = Fraction(fps).limit_denominator(1001)
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self._stream: Any = self._container.add_stream(codec, rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self._stream.options = {"crf": "23", "preset": "veryfast"}
        self.frames = 0

    def write(self, image: ImageArray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(image[: self.height, : self.width]), format="rgb24"
        )
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class EventLog:
    """JSONL events, one object per line, flushed as they happen (so an interrupted run
    keeps every event it emitted)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = self.path.open("w", encoding="utf-8")
        self.count = 0

    def write(self, events: Sequence[Event]) -> None:
        for event in events:
            self._file.write(json.dumps(event.as_dict(), ensure_ascii=False) + "\n")
            self.count += 1
        if events:
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def summarize(tracks: Sequence[TrackSummary]) -> dict[str, Any]:
    """Who appeared when: per person, the time spans of their tracks (from each
    track's first to its last frame, embedded or not); plus unknowns."""
    people: dict[str, list[dict[str, Any]]] = {}
    unknown = []
    for t in sorted(tracks, key=lambda t: (t.first_timestamp, t.track_id)):
        if t.observations == 0:
            continue
        span = {
            "track_id": t.track_id,
            "first_timestamp": round(t.first_timestamp, 3),
            "last_timestamp": round(t.last_timestamp, 3),
            "observations": t.observations,
            "similarity": None if t.similarity is None else round(t.similarity, 4),
        }
        if t.split_from is not None:
            span["split_from"] = t.split_from
        if t.person:
            people.setdefault(t.person, []).append(span)
        else:
            unknown.append(span)
    return {
        "people": [
            {
                "person": person,
                "first_timestamp": spans[0]["first_timestamp"],
                "last_timestamp": max(s["last_timestamp"] for s in spans),
                "tracks": spans,
            }
            for person, spans in sorted(people.items(), key=lambda kv: kv[1][0]["first_timestamp"])
        ],
        "unknown_tracks": unknown,
    }


def save_unknown(
    tracks: Sequence[TrackSummary], folder: str | Path, *, threshold: float, min_embeddings: int = 1
) -> list[Path]:
    """Group unknown tracks by template similarity and save their best face crops.

    Tracks are grouped greedily: a track joins the first group whose mean template is
    at least ``threshold`` similar (use the 1:1 threshold, e.g. FMR 1e-3), else starts a
    group. Each group becomes ``folder/unknown_NNN/track_<id>_<k>.jpg``, ready for
    ``faceprint enroll --person NAME folder/unknown_NNN``. Returns the group folders.
    """
    root = Path(folder)
    groups: list[tuple[np.ndarray, list[TrackSummary]]] = []
    for t in sorted(tracks, key=lambda t: t.track_id):
        if t.person or t.template is None or len(t.embeddings) < min_embeddings or not t.crops:
            continue
        vector = t.template.vector
        for i, (centre, members) in enumerate(groups):
            unit = centre / (np.linalg.norm(centre) + 1e-12)
            if float(np.dot(unit, vector)) >= threshold:
                members.append(t)
                groups[i] = (centre + vector, members)
                break
        else:
            groups.append((vector.astype(np.float64).copy(), [t]))
    written = []
    for n, (_, members) in enumerate(groups, start=1):
        out = root / f"unknown_{n:03d}"
        out.mkdir(parents=True, exist_ok=True)
        for t in members:
            for k, (_, _, crop) in enumerate(t.crops):
                Image.fromarray(crop).save(out / f"track_{t.track_id}_{k}.jpg", quality=92)
        written.append(out)
    log.info("saved %d unknown group(s) under %s", len(written), root)
    return written
