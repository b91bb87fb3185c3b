"""End-to-end CPU throughput of the face pipeline on LFW images.

Decode → detect → landmarks → align → embed for every image of the LFW View-2 pairs
(7,701 images at 250×250), with the inference runtimes limited to ``--threads``
threads (default 2). Prints images/s and faces/s and a Markdown row for
docs/benchmarks.md; ``--json`` writes the full record.

    python benchmarks/throughput.py --embedder sface --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from faceprint.batch import analyze_images
from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.eval.datasets import pair_images, read_pairs
from faceprint.eval.embedding import embed_images
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, torch-cpu or auto")
    parser.add_argument("--half", action="store_true", help="float16 on CUDA")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw")
    parser.add_argument(
        "--faces",
        choices=("primary", "all"),
        default="primary",
        help="embed each image's primary face (default) or every face, as `identify` does",
    )
    parser.add_argument(
        "--no-restore",
        action="store_true",
        help="turn gated restoration off (PipelineConfig.restore)",
    )
    parser.add_argument(
        "--ab-restore",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="compare restoration on and off in this process: ROUNDS alternating runs of "
        "each over the same images; prints both medians and the cost of restoration",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.ab_restore:
        ab_restore(args)
        return

    store = ModelStore(Environment.read().store_config())
    pipeline = FacePipeline.from_config(
        PipelineConfig(
            embedder=args.embedder,
            threads=args.threads,
            device=args.device,
            half=args.half,
            restore=not args.no_restore,
        ),
        store=store,
    )
    paths = pair_images(read_pairs(args.lfw / "pairs.txt", root=args.lfw / "images"))
    if args.limit:
        paths = paths[: args.limit]

    def run(images: list[Path]) -> int:
        """Faces embedded in ``images``, through the path every command uses."""
        if args.faces == "primary":
            return embed_images(pipeline, images, workers=args.threads).faces
        return sum(len(r.faces) for r in analyze_images(pipeline, images, workers=args.threads))

    run(paths[:32])  # warm-up
    start = time.perf_counter()
    faces = run(paths)
    seconds = time.perf_counter() - start
    record = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores visible",
        "threads": args.threads,
        "device": args.device,
        "half": args.half,
        "embedder": args.embedder,
        "faces_embedded": args.faces,
        "images": len(paths),
        "faces": faces,
        "seconds": round(seconds, 2),
        "images_per_s": round(len(paths) / seconds, 1),
        "faces_per_s": round(faces / seconds, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "versions": {
            p: metadata.version(p)
            for p in ("faceprint", "onnxruntime", "openvino", "opencv-python-headless", "numpy")
        },
    }
    print(json.dumps(record, indent=2))
    print(
        f"| {record['date']} | {record['machine']} | {args.embedder} | {args.threads} | "
        f"{record['images']} | {record['images_per_s']} | {record['faces_per_s']} | {record['peak_rss_mb']} |"
    )
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


def ab_restore(args: argparse.Namespace) -> None:
    """Restoration on vs off, interleaved in one process so host noise hits both."""
    store = ModelStore(Environment.read().store_config())
    pipelines = {
        flag: FacePipeline.from_config(
            PipelineConfig(
                embedder=args.embedder, threads=args.threads, device=args.device, restore=flag
            ),
            store=store,
        )
        for flag in (True, False)
    }
    paths = pair_images(read_pairs(args.lfw / "pairs.txt", root=args.lfw / "images"))
    if args.limit:
        paths = paths[: args.limit]
    for pipeline in pipelines.values():
        embed_images(pipeline, paths[:32], workers=args.threads)  # warm-up
    rates: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(args.ab_restore):
        for flag in (True, False) if round_ % 2 == 0 else (False, True):
            start = time.perf_counter()
            embed_images(pipelines[flag], paths, workers=args.threads)
            rates[flag].append(len(paths) / (time.perf_counter() - start))
    on, off = (sorted(rates[f])[len(rates[f]) // 2] for f in (True, False))
    record = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores visible",
        "threads": args.threads,
        "embedder": args.embedder,
        "images": len(paths),
        "rounds": args.ab_restore,
        "images_per_s_restore_on": [round(r, 1) for r in rates[True]],
        "images_per_s_restore_off": [round(r, 1) for r in rates[False]],
        "median_on": round(on, 1),
        "median_off": round(off, 1),
        "restoration_cost_percent": round(100 * (1 - on / off), 1),
    }
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
