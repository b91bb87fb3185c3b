"""The CLI as users run it: whole processes, model loading included, beside the peer.

In one run, on the same first N images of the LFW View-2 pairs (a folder of links):

1. ``faceprint identify DIR`` against a gallery of one person, as one process
   (``--threads 2``), wall clock from exec to exit;
2. ``benchmarks/throughput.py --limit N --threads 2`` (the in-process pipeline speed,
   steady state, model loading and a warm-up batch excluded), embedding every face as
   ``identify`` does (``--faces all``: the same work) and only each image's primary
   face (its default);
3. the ``face_recognition`` command of the face_recognition package
   (``face_recognition KNOWN_DIR DIR``, dlib HOG + ResNet, 2 BLAS threads), wall clock;
4. start-up: ``faceprint identify ONE.jpg`` and ``face_recognition KNOWN_DIR ONE.jpg``,
   ``--repeat`` times each, alternating, on a warm cache; the median wall time.

    python benchmarks/cli_speed.py --limit 1000 [--repeat 7] [--json out.json]

``make bench-peer`` installs the peer and runs this after compare_peer.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from faceprint.eval.datasets import pair_images, read_pairs

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEPRINT_SHARED", ROOT.parent / "shared"))
BIN = Path(sys.executable).parent


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} … failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7, help="start-up runs of each")
    parser.add_argument("--rounds", type=int, default=2, help="identify/throughput rounds")
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    paths = pair_images(read_pairs(args.lfw / "pairs.txt", root=args.lfw / "images"))
    paths = paths[: args.limit]
    work = Path(tempfile.mkdtemp(prefix="faceprint-cli-bench-"))
    probes, known = work / "probes", work / "known"
    probes.mkdir()
    known.mkdir()
    for i, path in enumerate(paths):
        (probes / f"{i:05d}_{path.name}").symlink_to(path)
    person = paths[0]
    (known / person.name).symlink_to(person)
    one = paths[1]
    env = {
        **os.environ,
        "FACEPRINT_MODEL_MIRROR": os.environ.get("FACEPRINT_MODEL_MIRROR", str(SHARED / "models")),
        "FACEPRINT_OFFLINE": "1",
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
    }
    gallery = work / "one-person.db"
    faceprint = [str(BIN / "faceprint"), "-q", "--threads", "2"]
    peer = [str(BIN / "face_recognition"), "--cpus", "1"]
    try:
        timed([*faceprint, "models", "pull", "--default"], env)
        timed([*faceprint, "enroll", "--person", "someone", str(person), "-g", str(gallery)], env)
        results: dict[str, object] = {"images": len(paths), "date": time.strftime("%Y-%m-%d")}

        script = str(ROOT / "benchmarks" / "throughput.py")
        steady_command = [sys.executable, script, "--limit", str(len(paths)), "--threads", "2"]
        rounds: list[dict[str, float]] = []
        for turn in range(1, args.rounds + 1):
            cli_s, out = timed([*faceprint, "identify", str(probes), "-g", str(gallery)], env)
            lines = sum(1 for line in out.splitlines() if "\tno face" not in line)
            row = {"identify_images_per_s": len(paths) / cli_s, "identify_seconds": cli_s}
            print(
                f"round {turn}: faceprint identify (whole process): {len(paths)} images, "
                f"{lines} face lines in {cli_s:.1f} s = {len(paths) / cli_s:.1f} images/s"
            )
            for mode in ("all", "primary"):
                _, out = timed([*steady_command, "--faces", mode], env)
                steady = json.loads(out[: out.rindex("}") + 1])["images_per_s"]
                row[f"throughput_{mode}_images_per_s"] = steady
                print(
                    f"round {turn}: benchmarks/throughput.py --faces {mode} (in process, steady "
                    f"state): {steady} images/s; identify reaches {len(paths) / cli_s / steady:.1%}"
                )
            rounds.append(row)
        results["rounds"] = rounds
        cli_s = statistics.mean(r["identify_seconds"] for r in rounds)

        if shutil.which(peer[0]):
            peer_s, _ = timed([*peer, str(known), str(probes)], env)
            results["face_recognition_cli"] = {
                "seconds": peer_s,
                "images_per_s": len(paths) / peer_s,
            }
            print(
                f"face_recognition command: {len(paths) / peer_s:.2f} images/s; "
                f"faceprint identify is {peer_s / cli_s:.1f}x faster"
            )

        starts: dict[str, list[float]] = {"faceprint": [], "face_recognition": []}
        for _ in range(args.repeat):
            starts["faceprint"].append(
                timed([*faceprint, "identify", str(one), "-g", str(gallery)], env)[0]
            )
            if shutil.which(peer[0]):
                starts["face_recognition"].append(timed([*peer, str(known), str(one)], env)[0])
        for name, times in starts.items():
            if times:
                results[f"startup_{name}_median_s"] = statistics.median(times)
                print(
                    f"one image through {name}: median {statistics.median(times):.2f} s "
                    f"(min {min(times):.2f}, max {max(times):.2f}, n={len(times)})"
                )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
