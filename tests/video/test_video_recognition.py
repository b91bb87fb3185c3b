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
from faceprint.video import VideoOptions, VideoRecognizer, VideoSource, recognize_video

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


# Hand-checked labels of the sample clip (what a reviewer sees on its frames): its
# shots, each from the first frame after a hard cut (29.97 frames/s: the cuts fall
# between frames 19|20, 81|82 and 210|211), and who may be named in each.
SHOTS = [
    (0.000, {STAR}),  # wide stage shot: he stands at the right, a pianist far left
    (0.650, {STAR}),  # the audience; his profile in close-up at the right
    (2.720, {STAR}),  # he sings, medium shot
    (7.022, {"barack_obama"}),  # the audience: Barack Obama in the centre, Michelle beside
]
OBAMA_REGION = (290.0, 20.0, 400.0, 160.0)  # his face in the last shot (640×360 frames)


def shot_of(timestamp: float) -> int:
    return max(k for k, (start, _) in enumerate(SHOTS) if start <= timestamp)


def test_the_sample_clip_names_no_one_for_someone_else(pipeline, gallery_path) -> None:
    with Gallery.open(gallery_path, create=False) as g, VideoSource(CLIP) as source:
        recognizer = VideoRecognizer(pipeline, g, options=VideoOptions(fps=10), frame_rate=29.97)
        results = list(recognize_video(pipeline, g, source, recognizer=recognizer))
    events = [e.as_dict() for r in results for e in r.events]
    check_events(events)
    assert recognizer.stats.scene_cuts == 3
    labelled = [t for ts in recognizer.frame_tracks().values() for t in ts]
    # no track runs across a cut
    shots: dict[int, set[int]] = {}
    for t in labelled:
        shots.setdefault(t.track_id, set()).add(shot_of(t.timestamp))
    assert all(len(s) == 1 for s in shots.values())
    # identity switches against the hand labels: none
    switches = [
        (t.timestamp, t.person)
        for t in labelled
        if t.person is not None and t.person not in SHOTS[shot_of(t.timestamp)][1]
    ]
    assert switches == []
    # Obama's face is never given the star's name (it was, before tracks ended at cuts)
    x1, y1, x2, y2 = OBAMA_REGION
    on_obama = [
        t
        for t in labelled
        if shot_of(t.timestamp) == 3
        and x1 <= (t.detection.bbox_xyxy[0] + t.detection.bbox_xyxy[2]) / 2 <= x2
        and y1 <= (t.detection.bbox_xyxy[1] + t.detection.bbox_xyxy[3]) / 2 <= y2
    ]
    assert on_obama and {t.person for t in on_obama} <= {"barack_obama", None}
    # the star is named on his medium shot from its first frame to its last, and on
    # the wide shot; his main track ends with a strong template
    medium = [t for t in labelled if shot_of(t.timestamp) == 2 and t.person == STAR]
    frames_in_medium = {t.frame_index for t in labelled if shot_of(t.timestamp) == 2}
    assert len({t.frame_index for t in medium}) >= 0.9 * len(frames_in_medium)
    assert any(t.person == STAR for t in labelled if shot_of(t.timestamp) == 0)
    assert max(t.similarity or 0.0 for t in medium) > 0.7
    # the per-frame identity is the track's, from its first frame
    by_track: dict[int, set[str | None]] = {}
    for t in labelled:
        by_track.setdefault(t.track_id, set()).add(t.person)
    assert all(len(names) == 1 for names in by_track.values())
    # far fewer embeddings than face observations: identities are reused along tracks
    assert 0 < recognizer.stats.embedded < recognizer.stats.observations / 2


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
    assert report["video_seconds"] == pytest.approx(report["source"]["duration"], abs=0.05)
    assert report["scene_cuts"] == 3
    # the summary's spans come from the tracks' frames: the star's medium shot is
    # covered from its cut (2.74 s) to the next (7.04 s)
    spans = [s for p in report["people"] if p["person"] == STAR for s in p["tracks"]]
    assert any(s["first_timestamp"] <= 2.9 and s["last_timestamp"] >= 6.9 for s in spans)
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
    events, out = tmp_path / "events.jsonl", tmp_path / "live.mp4"
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
                "--out",
                str(out),
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
    # the live writer's look-ahead was flushed on the way out: every processed frame
    # (but the one whose result Ctrl-C may have caught on its way to the writer)
    import av

    with av.open(str(out)) as container:
        written = sum(1 for _ in container.decode(video=0))
    assert report["frames_processed"] - 1 <= written <= report["frames_processed"]
    assert written >= 2
