"""Enrollment throughput: one process against Ray actors, on the same cores.

Enrolls the LFW images (``images/<Name>/*.jpg``: 7,701 images of 4,281 people) into two
fresh galleries — with ``enroll_stream`` (the models in this process, ``--threads``
inference threads) and with ``enroll_stream_ray`` (``--actors`` Ray actors reserving
``--cpus-per-actor`` CPUs each, ``--actor-threads`` inference threads each, on a local
cluster of ``--cluster-cpus`` CPUs) — then checks that the two galleries hold the same
faces (person, image sha256, box) with embeddings within 1e-5, and that enrolling again
with Ray adds nothing. Give the actors the local run's thread count
(``--actor-threads 2``) for identical galleries: OpenCV's thread count (set from the
pipeline's threads) moves the defocus measure of a few faces, and with it their
restoration (one LFW image at 1 thread against 2).

Reports images/s for each: over the whole call (the Ray side includes starting the
actors and loading their models; the local cluster's own start is reported apart), and
from the first committed outcome to the last (steady state), with the 1-minute load
average before and after each (other work on the machine skews both).

    python benchmarks/ray_enroll.py [--limit 2000] [--actors 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from throughput import cpu_name  # benchmarks/ is on sys.path when run as a script

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.gallery import Gallery
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.recognition import (
    EnrolledFace,
    RayOptions,
    enroll_stream,
    enroll_stream_ray,
    plan_enrollment,
)

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)


def timed(outcomes: Iterable[Any], total: int, label: str) -> dict[str, Any]:
    """Consume an enrollment's outcomes; seconds overall and from first to last."""
    start = time.perf_counter()
    first = last = start
    enrolled = skipped = 0
    reasons: dict[str, int] = {}
    for done, outcome in enumerate(outcomes, start=1):
        last = time.perf_counter()
        if done == 1:
            first = last
        if isinstance(outcome, EnrolledFace):
            enrolled += 1
        else:
            skipped += 1
            reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
        if done % 1000 == 0:
            print(f"  {label}: {done}/{total} ({done / (last - start):.1f} images/s)", flush=True)
    seconds = last - start
    steady = last - first
    return {
        "enrolled": enrolled,
        "skipped": skipped,
        "skip_reasons": reasons,
        "seconds": round(seconds, 2),
        "images_per_s": round(total / seconds, 1),
        "first_outcome_s": round(first - start, 2),
        "steady_images_per_s": round((total - 1) / steady, 1) if steady > 0 else None,
    }


def faces(gallery: Path) -> dict[tuple[str, str], tuple[tuple[float, ...], np.ndarray]]:
    """(person, image sha256) → (box, embedding) of every face in a gallery file."""
    with sqlite3.connect(gallery) as db:
        rows = db.execute(
            "SELECT p.name, f.source_sha256, f.bbox_x1, f.bbox_y1, f.bbox_x2, f.bbox_y2, "
            "f.embedding FROM faces f JOIN persons p ON p.id = f.person_id"
        ).fetchall()
    return {(r[0], r[1]): (tuple(r[2:6]), np.frombuffer(r[6], dtype="<f4")) for r in rows}


def compare(local: Path, distributed: Path) -> dict[str, Any]:
    a, b = faces(local), faces(distributed)
    common = sorted(set(a) & set(b))
    diffs = [float(np.max(np.abs(a[k][1] - b[k][1]))) for k in common]
    box_diffs = [max(abs(x - y) for x, y in zip(a[k][0], b[k][0], strict=True)) for k in common]
    return {
        "faces_local": len(a),
        "faces_ray": len(b),
        "only_local": len(set(a) - set(b)),
        "only_ray": len(set(b) - set(a)),
        "max_embedding_abs_diff": max(diffs, default=0.0),
        "embeddings_bitwise_equal": sum(d == 0.0 for d in diffs),
        "embeddings_over_1e-5": [
            {"person": k[0], "sha256": k[1], "max_abs_diff": d}
            for k, d in zip(common, diffs, strict=True)
            if d > 1e-5
        ],
        "max_box_abs_diff": max(box_diffs, default=0.0),
        "identical": set(a) == set(b)
        and max(diffs, default=0.0) <= 1e-5
        and max(box_diffs, default=0.0) <= 1e-6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0 = all)")
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--threads", type=int, default=2, help="local: inference threads")
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--cpus-per-actor", type=float, default=0.5)
    parser.add_argument(
        "--actor-threads", type=int, default=0, help="0: the actor's CPUs, at least 1"
    )
    parser.add_argument("--cluster-cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--keep", type=Path, default=None, help="write the galleries here")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import ray  # the [ray] extra

    env = Environment.read()
    items = plan_enrollment([args.lfw / "images"], person=None).items
    if args.limit:
        items = items[: args.limit]
    total = len(items)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="ray-enroll-"))
    workdir.mkdir(parents=True, exist_ok=True)
    local_db, ray_db = workdir / "local.db", workdir / "ray.db"
    for path in (local_db, ray_db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"{total} images of {len({p for p, _ in items})} persons -> {workdir}", flush=True)
    load_before = os.getloadavg()

    start = time.perf_counter()
    pipeline = FacePipeline.from_config(
        PipelineConfig(embedder=args.embedder, threads=args.threads),
        store=ModelStore(env.store_config()),
    )
    load_s = time.perf_counter() - start
    with Gallery.open(local_db, model_id=pipeline.model_id) as gallery:
        local = timed(enroll_stream(pipeline, gallery, items, workers=2), total, "local")
    local["pipeline_load_s"] = round(load_s, 2)
    local["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
    del pipeline

    start = time.perf_counter()
    ray.init(num_cpus=args.cluster_cpus, include_dashboard=False, log_to_driver=False)
    cluster_s = time.perf_counter() - start
    options = RayOptions(actors=args.actors, cpus_per_actor=args.cpus_per_actor)
    config = PipelineConfig(embedder=args.embedder, threads=args.actor_threads)
    try:
        with Gallery.open(ray_db, model_id=args.embedder) as gallery:
            run = enroll_stream_ray(
                gallery, items, config=config, store=env.store_config(), options=options
            )
            distributed = timed(run, total, "ray")
            start = time.perf_counter()
            rerun = list(
                enroll_stream_ray(
                    gallery, items, config=config, store=env.store_config(), options=options
                )
            )
            rerun_s = time.perf_counter() - start
    finally:
        ray.shutdown()
    distributed["cluster_start_s"] = round(cluster_s, 2)
    distributed["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
    rerun_added = sum(isinstance(o, EnrolledFace) for o in rerun)
    rerun_already = sum(getattr(o, "reason", "") == "already_enrolled" for o in rerun)

    record = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores visible",
        "embedder": args.embedder,
        "images": total,
        "loadavg_1min_before": round(load_before[0], 2),  # other work on the machine
        "local": {"threads": args.threads, **local},
        "ray": {
            "actors": args.actors,
            "cpus_per_actor": args.cpus_per_actor,
            "actor_threads": args.actor_threads or options.threads,
            "cluster_cpus": args.cluster_cpus,
            **distributed,
        },
        "rerun": {
            "seconds": round(rerun_s, 2),
            "enrolled": rerun_added,
            "already_enrolled": rerun_already,
        },
        "galleries": compare(local_db, ray_db),
        "versions": {p: metadata.version(p) for p in ("faceprint", "ray", "openvino", "numpy")},
    }
    print(json.dumps(record, indent=2))
    print(
        f"| {record['date']} | {record['machine']} | {total} | {local['images_per_s']} "
        f"({local['steady_images_per_s']}) | {args.actors}×{args.cpus_per_actor} CPU, "
        f"{record['ray']['actor_threads']} thread(s) | {distributed['images_per_s']} "
        f"({distributed['steady_images_per_s']}) | "
        f"{record['galleries']['max_embedding_abs_diff']:.2e} |"
    )
    if args.json:
        args.json.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
