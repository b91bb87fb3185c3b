"""Fairness on LFW: the per-group audit, the held-out mitigations, and their cost.

Runs the commands a user runs, on all LFW View 2 images:

1. ``faceprint eval fairness --groups predicted`` (the attribute model's gender and age
   band: predicted proxies) with ``--pairs pairs.txt --mitigate …`` on the predicted
   gender, writing ``docs/bench/fairness-predicted.json`` and the PNG;
2. the same with first-name-derived gender labels (``gender-guesser``: GPL-3.0, a
   benchmark-only tool installed by ``make bench-fairness``, never a dependency; names
   it does not call plainly male or female are left unlabelled), as a groups CSV;
3. the speed of matching with each catalog adjuster against raw cosine similarity in
   the same run: 1:1 scores per second (``FacePipeline.score``) and 1:N searches per
   second on a gallery of every LFW face (``Gallery.search`` with ``rescore``), and the
   wall time of ``faceprint verify`` with and without ``--fairness``.

    python benchmarks/fairness_lfw.py [--rounds 1000]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
REPO = Path(__file__).resolve().parents[1]
METHODS = "none,faircal-20,faircal-100,group-thresholds,centroid-0.5,centroid-1"
ADJUSTERS = ("sface-faircal-20", "sface-gender-thresholds", "sface-gender-centroid")


def _cli(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "faceprint", *args], check=True)
    return time.perf_counter() - started


def _name_groups(images: Path, out: Path) -> dict[str, int]:
    import gender_guesser.detector as gender  # type: ignore[import-not-found]

    guesser = gender.Detector(case_sensitive=False)
    counts: dict[str, int] = {}
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["person", "name_gender"])
        for person in sorted(p.name for p in images.iterdir() if p.is_dir()):
            label = guesser.get_gender(person.split("_")[0])
            label = label if label in ("male", "female") else ""
            counts[label or "unlabelled"] = counts.get(label or "unlabelled", 0) + 1
            writer.writerow([person, label])
    return counts


def _speed(cache: Path) -> dict[str, object]:
    from faceprint.eval.audit.dataset import AuditSet
    from faceprint.gallery import FaceRecord, Gallery
    from faceprint.models.adjusters import load_adjuster
    from faceprint.pipeline import FacePipeline
    from faceprint.testing import FakeDetector, FakeEmbedder
    from faceprint.types import Embedding

    faces = AuditSet.load(next(cache.glob("faces-sface-*.npz")))
    rng = np.random.default_rng(0)
    a = faces.vectors[rng.integers(0, len(faces), 5000)]
    b = faces.vectors[rng.integers(0, len(faces), 5000)]
    probes = faces.vectors[rng.integers(0, len(faces), 300)]
    gallery = Gallery.open(":memory:")
    by_person: dict[str, list[FaceRecord]] = {}
    for person, vector in zip(faces.persons, faces.vectors, strict=True):
        by_person.setdefault(person, []).append(FaceRecord(embedding=Embedding(vector, "sface")))
    for person, records in by_person.items():
        gallery.add_faces(person, records)
    rows: dict[str, object] = {}
    for name in (None, *ADJUSTERS):
        adjuster = None if name is None else load_adjuster(name, model_id="sface")
        pipe = FacePipeline(
            detector=FakeDetector(), embedder=FakeEmbedder(), score_adjuster=adjuster
        )
        ea = [Embedding(v, "sface") for v in a]
        eb = [Embedding(v, "sface") for v in b]
        started = time.perf_counter()
        for x, y in zip(ea, eb, strict=True):
            pipe.score(x, y)
        one_to_one = len(ea) / (time.perf_counter() - started)
        rescore = None if adjuster is None else pipe.rescore
        started = time.perf_counter()
        for p in probes:
            gallery.search(Embedding(p, "sface"), k=5, rescore=rescore)
        searches = len(probes) / (time.perf_counter() - started)
        rows[name or "raw cosine"] = {
            "scores_per_s": round(one_to_one),
            "searches_per_s": round(searches, 1),
            "gallery_faces": len(faces),
            "gallery_persons": len(by_person),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lfw", type=Path, default=SHARED / "datasets" / "lfw")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "bench")
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()
    images, pairs = args.lfw / "images", args.lfw / "pairs.txt"
    home = Path(os.environ.get("FACEPRINT_HOME", REPO / ".faceprint-home"))
    cache = home / "audit"
    args.out.mkdir(parents=True, exist_ok=True)
    common = ["--root", str(images), "--pairs", str(pairs), "--mitigate", METHODS]
    common += ["--rounds", str(args.rounds), "--cache", str(cache)]
    seconds = {}
    seconds["predicted"] = _cli(
        "eval", "fairness", *common, "--groups", "predicted", "--column", "predicted_gender",
        "--output", str(args.out / "fairness-predicted.json"),
        "--plot", str(args.out / "fairness-predicted.png"),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        names = Path(tmp) / "name-gender.csv"
        name_counts = _name_groups(images, names)
        seconds["name_gender"] = _cli(
            "eval", "fairness", *common, "--groups", str(names),
            "--output", str(args.out / "fairness-name-gender.json"),
            "--plot", str(args.out / "fairness-name-gender.png"),
        )  # fmt: skip
    a, b = sorted((images / "Aaron_Peirsol").glob("*.jpg"))[:2]
    verify = {}
    for name in (None, *ADJUSTERS):
        extra = [] if name is None else ["--fairness", name]
        runs = [_cli("verify", str(a), str(b), *extra) for _ in range(3)]
        verify[name or "raw cosine"] = round(min(runs), 2)
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "command_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "name_gender_persons": name_counts,
        "matching_speed": _speed(cache),
        "verify_command_seconds_best_of_3": verify,
    }
    (args.out / "fairness-speed.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
