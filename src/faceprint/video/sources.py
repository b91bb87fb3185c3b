"""Frames from video files, stream URLs and webcams, with timestamps (PyAV).

PyAV (FFmpeg's libraries, shipped in its wheel) reads files, ``rtsp://``, ``http(s)://``
(including MJPEG over HTTP) and, on Linux, webcams (``0`` → ``/dev/video0``). It was
chosen over OpenCV's FFmpeg backend for real presentation timestamps, open/read
time-outs and FFmpeg options per source (see docs/benchmarks.md for the decode-speed
comparison).

Frames are strided by time: with ``fps`` set, a frame is kept when its timestamp
reaches the next slot (``1/fps`` apart), so variable-frame-rate sources stride evenly.
Live sources (streams, webcams) reconnect with exponential back-off when the stream
fails or ends; files simply end.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.errors import ConfigError, VideoSourceError
from faceprint.types import ImageArray

log = logging.getLogger(__name__)

_STREAM = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp|srt)://", re.IGNORECASE)


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One decoded frame.

    Attributes:
        index: the frame's number among the frames decoded from the source (0-based,
            counting frames skipped by the stride).
        timestamp: seconds since the source's first frame (presentation time; for live
            sources, continuous across reconnections).
        pixels: H×W×3 uint8 RGB.
    """

    index: int
    timestamp: float
    pixels: ImageArray

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What the source says about itself (``None`` where a stream does not say)."""

    uri: str
    live: bool
    width: int
    height: int
    fps: float | None
    frames: int | None
    duration: float | None
    codec: str


def is_live(uri: str) -> bool:
    """Streams and webcams are live; paths are files."""
    return bool(_STREAM.match(uri)) or uri.isdigit() or uri.startswith("/dev/video")


class VideoSource:
    """Iterate the frames of a file, stream or webcam.

    Args:
        uri: a path, a stream URL, or a webcam index (``"0"``).
        fps: keep at most this many frames per second of video (``None``: all).
        reconnect: reconnect when a live source fails or ends (default: live sources do).
        max_retries: consecutive failed (re)connections before giving up.
        backoff: first and largest wait between reconnections, in seconds.
        timeout: seconds to wait when opening, and for each read, before failing.
        format: force an FFmpeg input format (e.g. ``"mpjpeg"``, ``"v4l2"``).
        options: FFmpeg options (``{"rtsp_transport": "tcp"}`` is the RTSP default).
        sleep: the wait function (tests pass a fake).

    Raises (when iterated):
        VideoSourceError: the source cannot be opened or read, and no reconnection
            (for live sources) succeeded within ``max_retries``.
    """

    def __init__(
        self,
        uri: str | Path,
        *,
        fps: float | None = None,
        reconnect: bool | None = None,
        max_retries: int = 8,
        backoff: tuple[float, float] = (0.5, 8.0),
        timeout: float = 10.0,
        format: str | None = None,
        options: dict[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.uri = str(uri)
        if fps is not None and fps <= 0:
            raise ConfigError(f"fps must be positive, got {fps}")
        self.live = is_live(self.uri)
        if not self.live and not Path(self.uri).is_file():
            raise VideoSourceError(f"{self.uri}: no such video file")
        self.fps = fps
        self.reconnect = self.live if reconnect is None else reconnect
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self.format = format
        self.options = dict(options or {})
        self.reconnections = 0
        self._sleep = sleep
        self._container: Any = None
        self._info: SourceInfo | None = None

    # --- opening -------------------------------------------------------------------

    def _open(self) -> Any:
        import av

        target, fmt = self.uri, self.format
        options = dict(self.options)
        if self.uri.isdigit():  # webcam index
            target, fmt = f"/dev/video{self.uri}", fmt or "v4l2"
        if self.uri.lower().startswith("rtsp"):
            options.setdefault("rtsp_transport", "tcp")
        try:
            container = av.open(
                target, format=fmt, options=options, timeout=(self.timeout, self.timeout)
            )
            if not container.streams.video:
                container.close()
                raise VideoSourceError(f"{self.uri}: no video stream")
        except VideoSourceError:
            raise
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise VideoSourceError(f"{self.uri}: cannot open ({exc})") from exc
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.base_rate
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        self._info = SourceInfo(
            uri=self.uri,
            live=self.live,
            width=int(stream.codec_context.width or 0),
            height=int(stream.codec_context.height or 0),
            fps=float(rate) if rate else None,
            frames=int(stream.frames) if stream.frames else None,
            duration=duration,
            codec=str(stream.codec_context.name),
        )
        return container

    @property
    def info(self) -> SourceInfo:
        """Source properties (opens the source if it is not open yet)."""
        if self._info is None:
            self._container = self._open()
        assert self._info is not None
        return self._info

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        import av

        index = 0
        offset = 0.0  # live sources: timestamps continue across reconnections
        last = -1.0
        next_slot = 0.0
        failures = 0
        while True:
            try:
                if self._container is None:
                    self._container = self._open()
                container = self._container
                stream = container.streams.video[0]
                started = time.monotonic()
                first_pts: float | None = None
                for frame in container.decode(stream):
                    failures = 0
                    if frame.pts is not None and frame.time_base is not None:
                        pts = float(frame.pts * frame.time_base)
                        # sources may start at any pts (streams; files with a start
                        # offset): the first frame is at 0, as a player shows it
                        first_pts = pts if first_pts is None else first_pts
                        pts = pts - first_pts
                    else:
                        pts = time.monotonic() - started
                    stamp = offset + pts
                    if stamp <= last:  # repeated or missing timestamps
                        stamp = last + 1e-3
                    last = stamp
                    keep = self.fps is None or stamp + 1e-6 >= next_slot
                    if keep:
                        if self.fps is not None:
                            next_slot = max(next_slot + 1.0 / self.fps, stamp)
                        pixels = np.ascontiguousarray(frame.to_ndarray(format="rgb24"))
                        yield Frame(index=index, timestamp=stamp, pixels=pixels)
                    index += 1
                reason = "the stream ended"
            except VideoSourceError as exc:
                reason = str(exc).removeprefix(f"{self.uri}: ")
                if not self.reconnect:
                    raise
            except (av.FFmpegError, OSError) as exc:
                reason = f"read failed ({exc})"
                if not self.reconnect:
                    self.close()
                    raise VideoSourceError(f"{self.uri}: {reason}") from exc
            self.close()
            if not self.reconnect:
                return
            failures += 1
            if failures > self.max_retries:
                raise VideoSourceError(
                    f"{self.uri}: gave up after {self.max_retries} failed reconnections ({reason})"
                )
            wait = min(self.backoff[1], self.backoff[0] * 2 ** (failures - 1))
            log.warning("%s: %s; reconnecting in %.1f s", self.uri, reason, wait)
            self._sleep(wait)
            self.reconnections += 1
            offset = last + (1.0 / self.fps if self.fps else 1e-3)
