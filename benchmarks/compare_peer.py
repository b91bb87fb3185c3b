"""faceprint vs the `face_recognition` package (dlib HOG + ResNet), same images, one run.

Both libraries process the same first N images of the LFW View-2 pairs end to end
(decode → detect → embed every face found), with 2 threads for inference. The peer is
an optional benchmark dependency: `make bench-peer` installs dlib-bin,
face_recognition_models and face_recognition (the latter with --no-deps, because it
names the source distribution `dlib`, which dlib-bin provides pre-built).

    python benchmarks/compare_peer.py --limit 1000
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.eval.datasets import pair_images, read_pairs
from faceprint.eval.embedding import embed_images
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)


def run_faceprint(paths: list[Path], threads: int) -> dict[str, float]:
    pipeline = FacePipeline.from_config(
        PipelineConfig(threads=threads), store=ModelStore(Environment.read().store_config())
    )
    embed_images(pipeline, paths[:32], workers=threads)  # warm-up
    # All faces, not only the primary one, to match what the peer does.
    start = time.perf_counter()
    faces = sum(len(f) for f in _analyze_all(pipeline, paths, threads))
    seconds = time.perf_counter() - start
    return {"images": len(paths), "faces": faces, "seconds": seconds}


def _analyze_all(pipeline: FacePipeline, paths: list[Path], threads: int) -> list[list[object]]:
    from concurrent.futures import ThreadPoolExecutor

    from faceprint.media.images import load_image

    out: list[list[object]] = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for start in range(0, len(paths), 64):
            images = list(pool.map(load_image, paths[start : start + 64]))
            out.extend(pipeline.analyze_batch(images))
    return out


def run_peer(paths: list[Path]) -> dict[str, float]:
    import face_recognition  # type: ignore[import-not-found]

    face_recognition.face_encodings(face_recognition.load_image_file(str(paths[0])))  # warm-up
    faces = 0
    start = time.perf_counter()
    for path in paths:
        image = face_recognition.load_image_file(str(path))
        boxes = face_recognition.face_locations(image, model="hog")
        faces += len(face_recognition.face_encodings(image, known_face_locations=boxes))
    seconds = time.perf_counter() - start
    return {"images": len(paths), "faces": faces, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    paths = pair_images(read_pairs(args.lfw / "pairs.txt", root=args.lfw / "images"))[: args.limit]
    results = {"faceprint": run_faceprint(paths, args.threads), "face_recognition": run_peer(paths)}
    for name, r in results.items():
        r["images_per_s"] = round(r["images"] / r["seconds"], 2)
        r["faces_per_s"] = round(r["faces"] / r["seconds"], 2)
        print(
            f"{name:17} {r['images']} images, {r['faces']} faces in {r['seconds']:.1f} s: "
            f"{r['images_per_s']} images/s, {r['faces_per_s']} faces/s"
        )
    ratio = results["faceprint"]["faces_per_s"] / results["face_recognition"]["faces_per_s"]
    print(f"faceprint / face_recognition (faces/s): {ratio:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
