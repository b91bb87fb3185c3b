"""Video sources on small videos made here: striding by time, errors, writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from faceprint.errors import VideoSourceError  # noqa: E402
from faceprint.video import VideoSource, VideoWriter  # noqa: E402


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s of 30 fps 160×120 video: frame i has grey level 4·i (so frames are tellable)."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    with VideoWriter(path, fps=30, width=160, height=120) as writer:
        for i in range(90):
            writer.write(np.full((120, 160, 3), (4 * i) % 256, np.uint8))
    return path


def test_every_frame_with_increasing_timestamps(clip: Path) -> None:
    with VideoSource(clip) as source:
        frames = list(source)
        info = source.info
    assert len(frames) == 90
    assert (info.width, info.height, info.live, info.codec) == (160, 120, False, "h264")
    assert info.fps == pytest.approx(30.0)
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps) and stamps[-1] - stamps[0] == pytest.approx(89 / 30, abs=1e-3)
    assert [f.index for f in frames] == list(range(90))
    assert frames[0].pixels.shape == (120, 160, 3) and frames[0].pixels.dtype == np.uint8


@pytest.mark.parametrize(("fps", "expected"), [(10.0, 30), (5.0, 15), (1.0, 3), (100.0, 90)])
def test_stride_by_time(clip: Path, fps: float, expected: int) -> None:
    frames = list(VideoSource(clip, fps=fps))
    assert len(frames) == expected
    gaps = np.diff([f.timestamp for f in frames])
    assert gaps.min() >= min(1 / fps, 1 / 30) - 1e-3


def test_missing_and_non_video_files_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(VideoSourceError, match="no such video file"):
        VideoSource(tmp_path / "nope.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 50)
    with pytest.raises(VideoSourceError, match="cannot open"):
        list(VideoSource(junk))


def test_a_dead_stream_gives_up_after_its_retries() -> None:
    waits: list[float] = []
    source = VideoSource(
        "http://127.0.0.1:9/none.mjpg",
        max_retries=3,
        backoff=(0.5, 1.0),
        timeout=1,
        sleep=waits.append,
    )
    with pytest.raises(VideoSourceError, match="gave up after 3"):
        list(source)
    assert waits == [0.5, 1.0, 1.0]  # exponential back-off, capped
