"""What video recognition produces and is configured by: options, per-frame results,
events, per-track summaries and run counters (plain data, no behaviour beyond checks)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from faceprint.errors import ConfigError
from faceprint.types import Detection, Embedding
from faceprint.video.sources import Frame

__all__ = [
    "Event",
    "FrameResult",
    "Observation",
    "TrackResult",
    "TrackSummary",
    "VideoOptions",
    "VideoStats",
]


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
        scene_cuts: end every track at a scene cut.
        appearance_gate: split a track whose faces disagree, and veto crowded
            pairings by appearance (see the module's description).
        gate_fmr: the FMR of the 1:1 threshold the gate compares at.
        lookahead_seconds: how long the live writer holds frames before writing them
            with their tracks' identities (files are annotated in a second pass).
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
    scene_cuts: bool = True
    appearance_gate: bool = True
    gate_fmr: float = 1e-3
    lookahead_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.fps is not None and self.fps <= 0:
            raise ConfigError(f"fps must be positive, got {self.fps}")
        if self.max_embeddings < 1 or self.k < 1:
            raise ConfigError("max_embeddings and k must be at least 1")
        if not 0 < self.gate_fmr < 1:
            raise ConfigError(f"gate_fmr must be in (0, 1), got {self.gate_fmr}")
        if self.lookahead_seconds < 0:
            raise ConfigError("lookahead_seconds must not be negative")


@dataclass(frozen=True, slots=True)
class TrackResult:
    """One tracked face in one frame, with its track's identity."""

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
    """``track_started``, ``identified`` or ``track_ended`` (see :meth:`as_dict`).

    ``timestamp`` is when the event was known (events come in time order);
    ``first_timestamp`` is when its track began, which for a split track or a
    back-filled identity is earlier.
    """

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
    reason: str | None = None
    split_from: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "event": self.kind,
            "track_id": self.track_id,
            "timestamp": round(self.timestamp, 3),
            "frame": self.frame_index,
        }
        if self.first_timestamp is not None:
            out["first_timestamp"] = round(self.first_timestamp, 3)
        if self.kind == "track_started" and self.split_from is not None:
            out["split_from"] = self.split_from
        if self.kind != "track_started":
            out["person"] = self.person
            out["similarity"] = None if self.similarity is None else round(self.similarity, 4)
        if self.kind == "identified":
            out["threshold"] = None if self.threshold is None else round(self.threshold, 4)
        if self.kind == "track_ended":
            out["last_timestamp"] = self.last_timestamp
            out["observations"] = self.observations
            out["embeddings"] = self.embeddings
            out["reason"] = self.reason
        return out


@dataclass(frozen=True, slots=True, eq=False)
class FrameResult:
    """A processed frame: its tracked faces and the events it caused (in order)."""

    frame: Frame
    tracks: tuple[TrackResult, ...]
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Observation:
    """A track's face in one processed frame."""

    frame_index: int
    timestamp: float
    detection: Detection
    quality: float
    embedded: bool = False


@dataclass(slots=True, eq=False)
class TrackSummary:
    """A finished (or still running) track: when it was seen and who it is.

    ``observed`` holds every frame of the track (embedded or not); ``end_reason`` is
    ``left`` (unseen for ``lost_seconds``), ``scene_cut``, ``appearance`` (split:
    another face took its place; the new track's ``split_from`` is this one) or
    ``end`` (the source ended or the run stopped).
    """

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
    crops: list[tuple[float, int, np.ndarray]] = field(default_factory=list)
    last_embedded: float = -math.inf
    ended: bool = False
    end_reason: str | None = None
    split_from: int | None = None
    announced: bool = False  # its track_started event was emitted
    observed: list[Observation] = field(default_factory=list)
    # gating state: recent unembedded observations (crop, detection in the crop), and
    # embeddings that disagreed with the template, awaiting confirmation
    pending: list[tuple[Observation, np.ndarray, Detection]] = field(default_factory=list)
    suspect: list[tuple[Observation, np.ndarray]] = field(default_factory=list)

    def keep_crop(self, obs: Observation, pixels: Callable[[], np.ndarray], limit: int) -> None:
        """Keep the face of ``obs`` (``pixels()``, cut only when kept) among the track's
        ``limit`` best crops."""
        if len(self.crops) < limit or obs.quality > self.crops[-1][0]:
            self.crops.append((obs.quality, obs.frame_index, pixels()))
            self.crops.sort(key=lambda item: -item[0])
            del self.crops[limit:]

    def add_embedding(
        self, obs: Observation, vector: np.ndarray, *, limit: int, model_id: str
    ) -> bool:
        """Keep the ``limit`` best-quality embeddings and fuse them into the template
        (quality-weighted mean, renormalised); False when this one was not among them
        (a check: the template is unchanged)."""
        self.pending.clear()
        self.last_embedded = max(self.last_embedded, obs.timestamp)
        self.embeddings.append((obs.quality, vector))
        self.embeddings.sort(key=lambda item: -item[0])
        del self.embeddings[limit:]
        if all(v is not vector for _, v in self.embeddings):
            return False
        weights = np.array([q for q, _ in self.embeddings]) + 1e-6
        fused = (weights[:, None] * np.stack([v for _, v in self.embeddings])).sum(axis=0)
        fused /= np.linalg.norm(fused) + 1e-12
        self.template = Embedding(vector=fused.astype(np.float32), model_id=model_id)
        return True

    def split_at(self, obs: Observation, new_id: int) -> TrackSummary:
        """Another face took this track's place from ``obs``'s frame: move that frame
        and the later ones (observations, crops) to a new track ``new_id`` and end this
        one at its last earlier frame. Returns the new track."""
        new = TrackSummary(
            new_id,
            obs.timestamp,
            self.last_timestamp,
            obs.frame_index,
            self.last_frame,
            split_from=self.track_id,
        )
        keep = [o for o in self.observed if o.frame_index < obs.frame_index]
        new.observed = [o for o in self.observed if o.frame_index >= obs.frame_index]
        self.observed = keep
        new.observations, self.observations = self.observations - len(keep), len(keep)
        new.crops = [c for c in self.crops if c[1] >= obs.frame_index]
        self.crops = [c for c in self.crops if c[1] < obs.frame_index]
        if keep:
            self.last_timestamp, self.last_frame = keep[-1].timestamp, keep[-1].frame_index
        return new


@dataclass(slots=True)
class VideoStats:
    """Counters for the run (for progress and benchmarks)."""

    frames_decoded: int = 0
    frames_processed: int = 0
    observations: int = 0
    embedded: int = 0
    identifications: int = 0
    scene_cuts: int = 0
    splits: int = 0
    outliers_dropped: int = 0
    crowded_embeddings: int = 0
    vetoes: int = 0
    search_embeddings: int = 0
