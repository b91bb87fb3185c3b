"""Per-component CPU timings: embed-only throughput by batch size, detection latency by
image size, and peak RSS.

* embed-only: aligned 112×112 crops of LFW faces through the embedder, batches of
  1, 32 and 256 (faces/s);
* detection: YuNet + landmark refinement on a real group photo resized to 640×480 and
  1920×1080 (median ms over repeats);

    python benchmarks/components.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.eval.datasets import pair_images, read_pairs
from faceprint.media.images import load_image
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--faces", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    pipeline = FacePipeline.from_config(
        PipelineConfig(embedder=args.embedder, threads=args.threads),
        store=ModelStore(Environment.read().store_config()),
    )
    lfw = SHARED / "datasets" / "lfw"
    paths = pair_images(read_pairs(lfw / "pairs.txt", root=lfw / "images"))[: args.faces]
    images = [load_image(p) for p in paths]
    items = [(img, pipeline.primary_detection(img)) for img in images]
    record: dict[str, object] = {"embedder": args.embedder, "threads": args.threads}

    embedder = pipeline.embedder
    embed_rates = {}
    for batch in (1, 32, 256):
        n = min(len(items), max(batch * 4, 256))
        chunks = [items[i : i + batch] for i in range(0, n, batch)]
        embedder.embed(chunks[0])  # warm-up
        start = time.perf_counter()
        for chunk in chunks:
            embedder.embed(chunk)
        embed_rates[batch] = round(n / (time.perf_counter() - start), 1)
    record["embed_faces_per_s_by_batch"] = embed_rates

    group = load_image(SHARED / "datasets" / "samples" / "groups" / "t1.jpg")
    latency = {}
    for width, height in ((640, 480), (1920, 1080)):
        frame = np.ascontiguousarray(cv2.resize(group, (width, height)))
        pipeline.detect(frame)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            faces = pipeline.detect(frame)
            times.append(time.perf_counter() - start)
        latency[f"{width}x{height}"] = {
            "median_ms": round(statistics.median(times) * 1e3, 2),
            "faces": len(faces),
        }
    record["detect_ms"] = latency
    record["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(record, indent=2))
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
