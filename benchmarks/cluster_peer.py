"""Face clustering: faceprint against dlib's Chinese Whispers, same images, one run.

The peer is what dlib's ``face_clustering.py`` example and face_recognition's docs
tell users to do: per image ``face_recognition.face_locations`` (HOG, upsample 1) and
``face_encodings`` (dlib's ResNet, 128-d), then
``dlib.chinese_whispers_clustering(encodings, 0.5)`` (an edge wherever two encodings
are within Euclidean distance 0.5). Where HOG finds several faces the one whose box
centre is nearest the image centre is kept (LFW's labelled face is centred); an image
with no face found is its own cluster. faceprint runs as a user runs it:
``faceprint eval cluster --root ROOT --json`` in a subprocess, its report read from
stdout.

Both sides are scored over every image, no-face images as singletons, with
faceprint's own ``bcubed_scores`` and ``pairwise_scores`` (the label of an image is
its folder's name), and the results written to ``docs/bench/cluster-peer.json`` with
a markdown table on stdout. The peer encodes with a pool of 2 processes (dlib-bin's
kernels are single-threaded); its encodings are cached as a plain ``.npz`` under
``$FACEPRINT_HOME/bench/`` keyed by the root and image count, so a rerun only
clusters. The peer is a benchmark-only dependency: ``make bench-cluster`` installs
dlib-bin, face_recognition_models, ``setuptools<81`` (face_recognition_models imports
``pkg_resources``) and face_recognition with ``--no-deps`` (it names the source
distribution ``dlib``, which dlib-bin provides pre-built).

    make bench-cluster
    python benchmarks/cluster_peer.py --limit-people 200 --out /tmp/cluster-peer.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.core.clustering import bcubed_scores, pairwise_scores

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
HOME = Path(
    os.environ.get("FACEPRINT_HOME", Path(__file__).resolve().parents[1] / ".faceprint-home")
)
REPO = Path(__file__).resolve().parents[1]
SUFFIXES = {".jpg", ".jpeg", ".png"}
PEER_DISTANCE = 0.5  # dlib's face_clustering.py example
DIM = 128
PROGRESS_EVERY = 500


def list_images(root: Path, limit_people: int | None) -> tuple[list[str], list[Path]]:
    """The people (folder names, sorted) and their images, sorted within each."""
    people = sorted(p.name for p in root.iterdir() if p.is_dir())
    if limit_people is not None:
        people = people[:limit_people]
    paths = [
        path
        for person in people
        for path in sorted((root / person).iterdir())
        if path.suffix.lower() in SUFFIXES
    ]
    return people, paths


# --- the peer: face_recognition + dlib.chinese_whispers_clustering -------------------


def _worker_init() -> None:
    import warnings

    # face_recognition_models imports pkg_resources, which warns that it is deprecated.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    import face_recognition  # type: ignore[import-untyped]  # noqa: F401


def _encode(path: str) -> tuple[NDArray[np.float64] | None, int]:
    """The centred face's encoding (None if HOG finds no face) and how many it found."""
    import face_recognition

    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image)  # HOG, upsample 1
    if not boxes:
        return None, 0
    height, width = image.shape[:2]

    def off_centre(box: tuple[int, int, int, int]) -> float:
        top, right, bottom, left = box
        return float(((left + right) / 2 - width / 2) ** 2 + ((top + bottom) / 2 - height / 2) ** 2)

    box = min(boxes, key=off_centre)
    (encoding,) = face_recognition.face_encodings(image, [box])
    return np.asarray(encoding, dtype=np.float64), len(boxes)


def _cache_path(root: Path, count: int) -> Path:
    key = hashlib.sha256(f"{root.resolve()}\n{count}".encode()).hexdigest()[:16]
    return HOME / "bench" / f"cluster-peer-{key}.npz"


def peer_encodings(
    root: Path, paths: list[Path], workers: int, use_cache: bool
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.int64], float, bool]:
    """Encodings (zeros where no face), found mask, boxes per image, seconds, cached?"""
    names = [str(p.relative_to(root)) for p in paths]
    cache = _cache_path(root, len(paths))
    if use_cache and cache.exists():
        with np.load(cache, allow_pickle=False) as data:
            if [str(n) for n in data["paths"]] == names:
                print(f"peer: {len(names)} encodings from the cache {cache}", file=sys.stderr)
                return (
                    data["encodings"],
                    data["found"],
                    data["boxes"],
                    float(data["embed_seconds"]),
                    True,
                )
        print(f"peer: cache {cache} is for other images; re-encoding", file=sys.stderr)
    encodings = np.zeros((len(paths), DIM), dtype=np.float64)
    found = np.zeros(len(paths), dtype=bool)
    boxes = np.zeros(len(paths), dtype=np.int64)
    started = time.perf_counter()
    with multiprocessing.Pool(workers, initializer=_worker_init) as pool:
        results = pool.imap(_encode, [str(p) for p in paths], chunksize=8)
        for i, (encoding, n) in enumerate(results):
            boxes[i] = n
            if encoding is not None:
                encodings[i], found[i] = encoding, True
            if (i + 1) % PROGRESS_EVERY == 0 or i + 1 == len(paths):
                print(
                    f"peer: {i + 1}/{len(paths)} images encoded, "
                    f"{time.perf_counter() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    seconds = time.perf_counter() - started
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(cache.stem + ".partial.npz")
    np.savez(
        partial,
        paths=np.array(names, dtype=str),
        root=np.array(str(root.resolve())),
        encodings=encodings,
        found=found,
        boxes=boxes,
        embed_seconds=np.array(seconds),
        versions=np.array(
            [f"{d}=={metadata.version(d)}" for d in ("dlib-bin", "face_recognition")]
        ),
    )
    partial.replace(cache)
    return encodings, found, boxes, seconds, False


def _singletons(labels: Sequence[object]) -> int:
    return sum(1 for c in Counter(labels).values() if c == 1)


def run_peer(
    root: Path, paths: list[Path], truth: list[str], workers: int, use_cache: bool
) -> dict[str, Any]:
    import dlib  # type: ignore[import-untyped]

    encodings, found, boxes, embed_s, cached = peer_encodings(root, paths, workers, use_cache)
    descriptors = [dlib.vector(e.tolist()) for e in encodings[found]]
    started = time.perf_counter()
    clustered = dlib.chinese_whispers_clustering(descriptors, PEER_DISTANCE)
    cluster_s = time.perf_counter() - started
    labels: list[object] = []
    it = iter(clustered)
    for i, has_face in enumerate(found):
        labels.append(int(next(it)) if has_face else f"no-face-{i}")
    return {
        "system": f"dlib {metadata.version('dlib-bin')} chinese_whispers_clustering "
        f"on face_recognition {metadata.version('face_recognition')} (HOG) encodings",
        "images": len(paths),
        "images_with_face": int(found.sum()),
        "no_face": int((~found).sum()),
        "faces_clustered": int(found.sum()),  # the centred face of each image
        "faces_detected": int(boxes.sum()),
        "images_with_several_faces": int((boxes > 1).sum()),
        "clusters": len(set(labels)),
        "largest_cluster": max(Counter(labels).values()),
        "singletons": _singletons(labels),
        "identities": len(set(truth)),
        "bcubed": bcubed_scores(labels, truth).to_dict(),
        "pairwise": pairwise_scores(labels, truth).to_dict(),
        "seconds": {"embed": embed_s, "cluster": cluster_s},
        "embed_workers": workers,
        "embed_cached": cached,
        "threshold": {
            "distance": PEER_DISTANCE,
            "metric": "euclidean",
            "source": "dlib examples/face_clustering.py",
        },
        "no_face_images": [
            str(p.relative_to(root)) for p, f in zip(paths, found, strict=True) if not f
        ],
    }


# --- faceprint: the CLI, as a user runs it --------------------------------------------


def run_faceprint(
    root: Path, people: list[str], limited: bool, folder: Path | None
) -> dict[str, Any]:
    """``faceprint eval cluster --root … --out FOLDER --json``, its report from stdout.

    A limited run gets a temporary tree of the chosen people's folders holding symlinks
    to their images (faceprint does not follow symlinked folders). ``folder``
    None is a fresh clustering folder, so every image is embedded and timed (a kept
    folder embeds only images it has not seen: ``new_images``).
    """
    with tempfile.TemporaryDirectory(prefix="cluster-peer-") as tmp:
        tree = root
        if limited:
            tree = Path(tmp) / "images"
            tree.mkdir()
            for person in people:
                (tree / person).mkdir()
                for image in sorted((root / person).iterdir()):
                    if image.suffix.lower() in SUFFIXES:
                        (tree / person / image.name).symlink_to(image.resolve())
        out = folder if folder is not None else Path(tmp) / "clusters"
        command = [sys.executable, "-m", "faceprint", "eval", "cluster", "--root", str(tree)]
        command += ["--out", str(out), "--json"]
        print(f"faceprint: {' '.join(command)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}")
    report: dict[str, Any] = json.loads(done.stdout)
    no_face = report["no_face"]  # a count, or the images themselves
    listed = {"no_face_images": no_face} if isinstance(no_face, list) else {}
    no_faces = len(no_face) if isinstance(no_face, list) else int(no_face)
    return {
        "system": f"faceprint {metadata.version('faceprint')} (faceprint eval cluster, "
        f"{report.get('model', '?')})",
        "images": report["images"],
        "images_with_face": report["images"] - no_faces,
        "no_face": no_faces,
        # Every face found is clustered (background faces too); the primary one is scored.
        "faces_clustered": report["faces"],
        "clusters": report["clusters"],
        "singletons": report["singletons"],
        "identities": report["identities"],
        "bcubed": report["bcubed"],
        "pairwise": report["pairwise"],
        "seconds": {**report["seconds"], "command_wall": wall},
        "new_images": report.get("new_images"),
        "threshold": report["threshold"],
        **listed,
    }


# --- report ---------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


def _threshold(row: dict[str, Any]) -> str:
    t = row["threshold"]
    if t is None:
        return "none"
    if "distance" in t:
        return f"distance ≤ {t['distance']}"
    text = f"similarity ≥ {t['similarity']:.3f}"
    return text + (f" (FPIR {t['fpir']:g})" if t.get("fpir") is not None else "")


def table(results: dict[str, dict[str, Any]]) -> str:
    head = (
        "| system | images | no face | faces clustered | clusters | singletons | identities "
        "| BCubed P | BCubed R | BCubed F | pairwise P | pairwise R | pairwise F "
        "| embed (s) | cluster (s) | threshold |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for name, r in results.items():
        b, p, s = r["bcubed"], r["pairwise"], r["seconds"]
        lines.append(
            f"| {name} | {r['images']} | {r['no_face']} | {r['faces_clustered']} | {r['clusters']} "
            f"| {r['singletons']} | {r['identities']} "
            f"| {b['precision']:.4f} | {b['recall']:.4f} | {b['f']:.4f} "
            f"| {p['precision']:.4f} | {p['recall']:.4f} | {p['f']:.4f} "
            f"| {s['embed']:.1f} | {s['cluster']:.2f} | {_threshold(r)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=SHARED / "datasets" / "lfw" / "images")
    parser.add_argument(
        "--limit-people", type=int, default=None, help="only the first N people by name"
    )
    parser.add_argument("--workers", type=int, default=2, help="peer encoding processes")
    parser.add_argument("--no-cache", action="store_true", help="re-encode the peer's faces")
    parser.add_argument(
        "--faceprint-out",
        type=Path,
        default=None,
        help="keep faceprint's clustering folder here (default: a fresh temporary one)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench" / "cluster-peer.json")
    args = parser.parse_args()

    people, paths = list_images(args.root, args.limit_people)
    truth = [p.parent.name for p in paths]
    print(f"{len(paths)} images of {len(people)} people under {args.root}", file=sys.stderr)

    results: dict[str, dict[str, Any]] = {}
    results["face_recognition + dlib"] = run_peer(
        args.root, paths, truth, args.workers, not args.no_cache
    )
    error = None
    try:
        results["faceprint"] = run_faceprint(
            args.root, people, args.limit_people is not None, args.faceprint_out
        )
    except (RuntimeError, OSError, ValueError, KeyError) as exc:  # JSONDecodeError ⊂ ValueError
        error = f"faceprint eval cluster failed: {exc!r}"
        print(error, file=sys.stderr)

    report: dict[str, Any] = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": _machine(),
        "root": str(args.root),
        "limit_people": args.limit_people,
        "results": results,
    }
    if error:
        report["error"] = error
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nwritten to {args.out}", file=sys.stderr)
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
