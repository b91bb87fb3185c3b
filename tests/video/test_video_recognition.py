"""Video recognition on the sample clip and on a local MJPEG stream, real models."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.shared_paths import MODELS, SAMPLES
from tests.video.mjpeg_server import MJPEGServer, jpeg_frames

pytest.importorskip("av")

from faceprint.gallery import Gallery
from faceprint.recognition import enroll_tree
from faceprint.video import VideoOptions, VideoSource, recognize_video

pytestmark = pytest.mark.integration

CLIP = SAMPLES / "video" / "short_hamilton_clip.mp4"
STAR = "lin_manuel_miranda"


@pytest.fixture(scope="module")
def gallery_path(tmp_path_factory, pipeline) -> Path:
    path = tmp_path_factory.mktemp("video") / "samples.db"
    with Gallery.open(path) as g:
        report = enroll_tree(pipeline, g, SAMPLES / "known")
    assert STAR in report.persons
    return path


@pytest.fixture(scope="module")
def stream_frames() -> list[bytes]:
    return jpeg_frames(str(CLIP), every=3)


def check_events(events: list[dict]) -> None:
    """Ordered in time; per track: started, then identified, then ended (once)."""
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)
    state: dict[int, str] = {}
    for e in events:
        kind, track = e["event"], e["track_id"]
        if kind == "track_started":
            assert track not in state
            state[track] = "open"
        elif kind == "identified":
            assert state.get(track) == "open" and e["person"] and e["similarity"] >= e["threshold"]
        else:
            assert kind == "track_ended" and state.get(track) == "open"
            assert e["first_timestamp"] <= e["last_timestamp"]
            state[track] = "ended"
    assert set(state.values()) == {"ended"}  # every track was closed


def test_the_star_is_identified_on_his_tracks(pipeline, gallery_path) -> None:
    with Gallery.open(gallery_path, create=False) as g, VideoSource(CLIP) as source:
        results = list(recognize_video(pipeline, g, source, options=VideoOptions(fps=10)))
    events = [e.as_dict() for r in results for e in r.events]
    check_events(events)
    named = [e for e in events if e["event"] == "identified"]
    assert STAR in {e["person"] for e in named}
    ended = {e["track_id"]: e for e in events if e["event"] == "track_ended"}
    star_tracks = [e for e in ended.values() if e["person"] == STAR]
    # he is on screen for most of the clip, and his main track ends with a strong template
    assert sum(e["last_timestamp"] - e["first_timestamp"] for e in star_tracks) > 7.0
    assert max(e["similarity"] for e in star_tracks) > 0.7
    # the per-frame identity is the track's: once named, a track keeps its name
    by_track: dict[int, list[str | None]] = {}
    for r in results:
        for t in r.tracks:
            by_track.setdefault(t.track_id, []).append(t.person)
    for names in by_track.values():
        first = next((i for i, n in enumerate(names) if n), None)
        if first is not None:
            assert len(set(names[first:])) == 1
    # far fewer embeddings than face observations: identities are reused along tracks
    observations = sum(len(r.tracks) for r in results)
    embedded = sum(t.embedded for r in results for t in r.tracks)
    assert 0 < embedded < observations / 3


def test_cli_writes_a_playable_video_events_and_unknown_faces(tmp_path, gallery_path) -> None:
    from typer.testing import CliRunner

    from faceprint.cli.main import app

    env = {
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
        "FACEPRINT_HOME": str(tmp_path / "home"),
    }
    out, events, unknown = (
        tmp_path / "annotated.mp4",
        tmp_path / "events.jsonl",
        tmp_path / "unknown",
    )
    result = CliRunner().invoke(
        app,
        [
            "video",
            str(CLIP),
            "--gallery",
            str(gallery_path),
            "--out",
            str(out),
            "--events",
            str(events),
            "--save-unknown",
            str(unknown),
            "--json",
        ],
        env=env,
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert STAR in [p["person"] for p in report["people"]]
    assert report["frames_processed"] == pytest.approx(report["source"]["duration"] * 10, abs=3)
    check_events([json.loads(line) for line in events.read_text().splitlines()])
    probe = shutil.which("ffprobe")
    if probe:
        shown = json.loads(
            subprocess.run(
                [
                    probe,
                    "-v",
                    "error",
                    "-select_streams",
                    "v:0",
                    "-count_frames",
                    "-show_entries",
                    "stream=codec_name,width,height,nb_read_frames",
                    "-of",
                    "json",
                    str(out),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )["streams"][0]
        frames = int(shown["nb_read_frames"])
    else:
        import av

        with av.open(str(out)) as container:
            stream = container.streams.video[0]
            shown = {
                "codec_name": stream.codec_context.name,
                "width": stream.width,
                "height": stream.height,
            }
            frames = sum(1 for _ in container.decode(video=0))
    assert (shown["codec_name"], shown["width"], shown["height"]) == ("h264", 640, 360)
    assert frames == report["frames_processed"]
    groups = report["unknown_groups"]
    assert groups and all(any(Path(g).glob("*.jpg")) for g in groups)


def test_stream_survives_a_forced_disconnect(pipeline, gallery_path, stream_frames) -> None:
    with (
        MJPEGServer(stream_frames, fps=60, cuts=[25]) as server,
        Gallery.open(gallery_path, create=False) as g,
    ):
        source = VideoSource(server.url, max_retries=2, backoff=(0.05, 0.1), timeout=5)
        results = []
        with pytest.raises(Exception) as ended:  # after the last frame the server is gone for good
            for r in recognize_video(pipeline, g, source, options=VideoOptions(fps=None)):
                results.append(r)
        assert "gave up" in str(ended.value)
    assert server.connections >= 2 and source.reconnections >= 1
    frames = [r.frame for r in results if r.tracks or r.events]
    stamps = [f.timestamp for f in frames]
    assert stamps == sorted(stamps)
    decoded = {r.frame.index for r in results}
    assert len(decoded) >= len(stream_frames) - 2  # frames from before and after the cut
    named = {e.person for r in results for e in r.events if e.kind == "identified"}
    assert STAR in named


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_ends_tracks_and_flushes_events(tmp_path, gallery_path, stream_frames) -> None:
    events = tmp_path / "events.jsonl"
    env = {
        **os.environ,
        "FACEPRINT_MODEL_MIRROR": str(MODELS),
        "FACEPRINT_OFFLINE": "1",
        "FACEPRINT_HOME": str(tmp_path / "home"),
    }
    command = [sys.executable, "-c", "from faceprint.cli.main import main; main()"]
    with MJPEGServer(stream_frames * 5, fps=15) as server:
        proc = subprocess.Popen(
            [
                *command,
                "video",
                server.url,
                "--gallery",
                str(gallery_path),
                "--events",
                str(events),
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if events.exists() and '"identified"' in events.read_text():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr[-2000:]
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    check_events(lines)  # every started track was ended on the way out
    report = json.loads(stdout)
    assert report["interrupted"] is True and STAR in [p["person"] for p in report["people"]]
