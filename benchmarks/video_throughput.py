"""Video recognition throughput on a 720p file, on the CPU.

Makes a 1280×720 H.264 copy of the sample clip (upscaled, same 29.97 fps), enrolls the
sample people, then runs the same code path as ``faceprint video`` at the default
stride (10 frames/s of video) — with the identity guards (scene cuts, appearance
gating) on and off, and with the annotated video written (a second pass) — and at
every frame. Reports the real-time factor (video seconds per wall second), frames
decoded vs processed (detected + tracked), and face embeddings vs observations. It also times decoding alone with PyAV and with
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
from faceprint.video import VideoOptions, VideoSource, VideoWriter, run_video

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
    pipeline: FacePipeline,
    gallery: Gallery,
    path: Path,
    fps: float | None,
    *,
    guards: bool = True,
    out: Path | None = None,
) -> dict[str, object]:
    """One ``faceprint video`` run (``run_video``, the command's code path)."""
    options = VideoOptions(fps=fps, scene_cuts=guards, appearance_gate=guards)
    start = time.perf_counter()
    report = run_video(pipeline, gallery, str(path), options=options, out=out)
    wall = time.perf_counter() - start
    stats = report.stats
    video = report.video_seconds or 0.0
    return {
        "stride_fps": fps,
        "guards": guards,
        "annotated_out": out is not None,
        "video_seconds": round(video, 2),
        "wall_seconds": round(wall, 2),
        "realtime_factor": round(video / wall, 2),
        "frames_decoded": stats.frames_decoded,
        "frames_processed": stats.frames_processed,
        "processed_share": round(stats.frames_processed / max(stats.frames_decoded, 1), 3),
        "face_observations": stats.observations,
        "embedded": stats.embedded,
        "embedded_share": round(stats.embedded / max(stats.observations, 1), 3),
        "scene_cuts": stats.scene_cuts,
        "splits": stats.splits,
        "crowded_embeddings": stats.crowded_embeddings,
        "search_embeddings": stats.search_embeddings,
        "people": [p["person"] for p in report.summary["people"]],
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
            "runs": [
                run(pipeline, gallery, video, 10.0),
                run(pipeline, gallery, video, 10.0, guards=False),
                run(pipeline, gallery, video, 10.0, out=work / "annotated.mp4"),
                run(pipeline, gallery, video, None),
            ],
        }
        gallery.close()
    print(json.dumps(record, indent=2))
    print(
        "\n| stride | guards | --out | video s | wall s | × real time "
        "| frames processed / decoded | face embeddings / observations |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in record["runs"]:  # type: ignore[union-attr]
        stride = "every frame" if r["stride_fps"] is None else f"{r['stride_fps']:g} frames/s"
        print(
            f"| {stride} | {'on' if r['guards'] else 'off'} | "
            f"{'yes' if r['annotated_out'] else 'no'} | "
            f"{r['video_seconds']} | {r['wall_seconds']} | {r['realtime_factor']} | "
            f"{r['frames_processed']} / {r['frames_decoded']} ({r['processed_share']:.0%}) | "
            f"{r['embedded']} / {r['face_observations']} ({r['embedded_share']:.1%}) |"
        )
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
