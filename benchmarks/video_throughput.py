"""Video recognition throughput on a 720p file, on the CPU.

Makes a 1280×720 H.264 copy of the sample clip (upscaled, same 29.97 fps), enrolls the
sample people, then runs the same code path as ``faceprint video`` at the default
stride (10 frames/s of video) and at every frame. Reports the real-time factor (video
seconds per wall second), frames decoded vs processed (detected + tracked), and face
observations embedded vs only tracked. It also times decoding alone with PyAV and with
OpenCV's FFmpeg backend (the reader choice).

    python benchmarks/video_throughput.py --threads 2 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
from throughput import cpu_name  # benchmarks/ is on sys.path when run as a script

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.gallery import Gallery
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.recognition import enroll_tree
from faceprint.video import VideoOptions, VideoSource, VideoWriter, recognize_video

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
CLIP = SHARED / "datasets" / "samples" / "video" / "short_hamilton_clip.mp4"


def make_720p(path: Path, *, repeat: int) -> None:
    """The sample clip upscaled to 1280×720, played ``repeat`` times back to back."""
    with VideoWriter(path, fps=30000 / 1001, width=1280, height=720) as writer:
        for _ in range(repeat):
            for frame in VideoSource(CLIP):
                writer.write(cv2.resize(frame.pixels, (1280, 720), interpolation=cv2.INTER_CUBIC))


def decode_speed(path: Path) -> dict[str, float]:
    """Frames per second of plain decoding to RGB arrays, PyAV vs OpenCV."""
    start = time.perf_counter()
    n = sum(1 for _ in VideoSource(path))
    pyav = n / (time.perf_counter() - start)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    start, m = time.perf_counter(), 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        m += 1
    capture.release()
    opencv = m / (time.perf_counter() - start)
    return {"pyav_fps": round(pyav, 1), "opencv_fps": round(opencv, 1), "frames": n}


def run(
    pipeline: FacePipeline, gallery: Gallery, path: Path, fps: float | None
) -> dict[str, object]:
    source = VideoSource(path)
    start = time.perf_counter()
    tracks_named: set[str] = set()
    observations = embedded = processed = 0
    last = 0.0
    first: float | None = None
    decoded = 0
    for result in recognize_video(pipeline, gallery, source, options=VideoOptions(fps=fps)):
        if result.tracks or result.events:
            tracks_named |= {t.person for t in result.tracks if t.person}
        observations += len(result.tracks)
        embedded += sum(t.embedded for t in result.tracks)
        processed += 1 if result.tracks is not None else 0
        first = result.frame.timestamp if first is None else first
        last = result.frame.timestamp
        decoded = result.frame.index + 1
    wall = time.perf_counter() - start
    video = last - (first or 0.0) + 1 / 29.97
    return {
        "stride_fps": fps,
        "video_seconds": round(video, 2),
        "wall_seconds": round(wall, 2),
        "realtime_factor": round(video / wall, 2),
        "frames_decoded": decoded,
        "frames_processed": processed - 1,  # the last result repeats the final frame
        "processed_share": round((processed - 1) / max(decoded, 1), 3),
        "face_observations": observations,
        "embedded": embedded,
        "embedded_share": round(embedded / max(observations, 1), 3),
        "people": sorted(tracks_named),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="clip repetitions (≈9 s each)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    store = ModelStore(Environment.read().store_config())
    pipeline = FacePipeline.from_config(PipelineConfig(threads=args.threads), store=store)
    cv2.setNumThreads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video = work / "clip_720p.mp4"
        make_720p(video, repeat=args.repeat)
        gallery = Gallery.open(work / "g.db")
        enroll_tree(pipeline, gallery, SHARED / "datasets" / "samples" / "known")
        record = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "cpu": cpu_name(),
            "threads": args.threads,
            "decode": decode_speed(video),
            "runs": [run(pipeline, gallery, video, fps) for fps in (10.0, None)],
        }
        gallery.close()
    print(json.dumps(record, indent=2))
    print(
        "\n| stride | video s | wall s | × real time | frames processed / decoded | faces embedded / observed |"
    )
    print("|---|---|---|---|---|---|")
    for r in record["runs"]:  # type: ignore[union-attr]
        stride = "every frame" if r["stride_fps"] is None else f"{r['stride_fps']:g} frames/s"
        print(
            f"| {stride} | {r['video_seconds']} | {r['wall_seconds']} | {r['realtime_factor']} | "
            f"{r['frames_processed']} / {r['frames_decoded']} ({r['processed_share']:.0%}) | "
            f"{r['embedded']} / {r['face_observations']} ({r['embedded_share']:.1%}) |"
        )
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
