"""Video and streams: frames with timestamps, face tracks, one identity per track.

Optional dependencies (``pip install 'faceprint[video]'``): PyAV for decoding and
encoding, ``lap`` for the tracker's assignment. They are imported where used.
"""

from __future__ import annotations

from faceprint.video.cuts import CutScore, SceneCutDetector
from faceprint.video.job import LookaheadWriter, VideoReport, annotate_file, run_video
from faceprint.video.outputs import EventLog, VideoWriter, annotate, summarize
from faceprint.video.outputs import save_unknown as save_unknown_tracks
from faceprint.video.recognizer import VideoRecognizer
from faceprint.video.records import (
    Event,
    FrameResult,
    Observation,
    TrackResult,
    TrackSummary,
    VideoOptions,
    VideoStats,
)
from faceprint.video.sources import Frame, SourceInfo, VideoSource
from faceprint.video.stream import recognize_video
from faceprint.video.tracking import FaceTracker

__all__ = [
    "CutScore",
    "Event",
    "EventLog",
    "FaceTracker",
    "Frame",
    "FrameResult",
    "LookaheadWriter",
    "Observation",
    "SceneCutDetector",
    "SourceInfo",
    "TrackResult",
    "TrackSummary",
    "VideoOptions",
    "VideoRecognizer",
    "VideoReport",
    "VideoSource",
    "VideoStats",
    "VideoWriter",
    "annotate",
    "annotate_file",
    "recognize_video",
    "run_video",
    "save_unknown_tracks",
    "summarize",
]
