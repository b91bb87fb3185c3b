"""Video and streams: frames with timestamps, face tracks, one identity per track.

Optional dependencies (``pip install 'faceprint[video]'``): PyAV for decoding and
encoding, ``lap`` for the tracker's assignment. They are imported where used.
"""

from __future__ import annotations

from faceprint.video.outputs import EventLog, VideoWriter, annotate, summarize
from faceprint.video.outputs import save_unknown as save_unknown_tracks
from faceprint.video.recognizer import (
    Event,
    FrameResult,
    TrackResult,
    TrackSummary,
    VideoOptions,
    VideoRecognizer,
    VideoStats,
    recognize_video,
)
from faceprint.video.sources import Frame, SourceInfo, VideoSource
from faceprint.video.tracking import FaceTracker

__all__ = [
    "Event",
    "EventLog",
    "FaceTracker",
    "Frame",
    "FrameResult",
    "SourceInfo",
    "TrackResult",
    "TrackSummary",
    "VideoOptions",
    "VideoRecognizer",
    "VideoSource",
    "VideoStats",
    "VideoWriter",
    "annotate",
    "recognize_video",
    "save_unknown_tracks",
    "summarize",
]
