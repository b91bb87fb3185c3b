"""Clustering on LFW: the user's command, the choice of algorithm, and 100,000 faces.

1. ``faceprint eval cluster --root LFW`` as a user runs it (every face of the 7,701
   images embedded into a clustering folder, clustered at the calibration-derived
   threshold, scored by the labelled faces);
2. the algorithm, chosen by measurement: on the same stored faces and the same gated
   k-NN graph, Chinese Whispers (faceprint's) against connected components and, with
   SciPy, average-linkage agglomerative clustering at the same similarity threshold, at
   thresholds derived for several FPIRs (the default, 1 %, is a round value, not fitted);
3. scale: the real usable faces plus synthetic neighbours (each real face gets noisy
   copies at a typical same-person similarity) to 100,000 faces, clustered through
   :func:`faceprint.people.recluster` and written out (``clusters.json``) as
   ``faceprint cluster`` does after embedding; wall time and peak memory.

    python benchmarks/cluster_lfw.py [--scale 100000]

Writes ``docs/bench/cluster-lfw.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.core.clustering import (
    bcubed_scores,
    chinese_whispers,
    clustering_threshold,
    knn_graph,
    pairwise_scores,
)
from faceprint.people import PeopleStore, list_clusters, recluster, write_outputs
from faceprint.people.store import NewFace

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
REPO = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(src.size), (src, dst)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _scores(labels: dict[int, object], primary: dict[str, int], truth: dict[str, str]) -> dict:
    predicted = [
        labels.get(primary[p], ("alone", p)) if p in primary else ("none", p) for p in truth
    ]
    true = list(truth.values())
    return {
        "clusters": len(set(predicted)),
        "bcubed": bcubed_scores(predicted, true).to_dict(),
        "pairwise": pairwise_scores(predicted, true).to_dict(),
    }


def compare_methods(folder: Path, root: Path, curve: Any) -> list[dict[str, Any]]:
    with PeopleStore.open(folder, create=False) as store:
        matrix = store.face_matrix()
        primary = store.primary_faces()
    truth = {str(p): p.parent.name for p in sorted(root.glob("*/*")) if p.suffix.lower() == ".jpg"}
    ids, vectors, usable = matrix.ids, matrix.vectors, matrix.usable
    rows = np.flatnonzero(usable)
    x = vectors[rows]
    linkage = None
    try:
        from scipy.cluster.hierarchy import fcluster
        from scipy.cluster.hierarchy import linkage as scipy_linkage

        started = time.perf_counter()
        linkage = scipy_linkage(x.astype(np.float64), "average", metric="cosine")
        linkage_seconds = time.perf_counter() - started
    except ImportError:
        fcluster = None
    out = []
    for fpir in (0.005, 0.01, 0.02, 0.05, 0.1):
        t = clustering_threshold(curve, int(rows.size), fpir=fpir)
        graph = knn_graph(x, threshold=t.similarity, k=32)
        entry: dict[str, Any] = {"fpir": fpir, "similarity": t.similarity, "fmr": t.fmr}
        started = time.perf_counter()
        cw = chinese_whispers(graph)
        entry["chinese_whispers"] = {
            **_scores(dict(zip(ids[rows].tolist(), cw.tolist(), strict=True)), primary, truth),
            "seconds": time.perf_counter() - started,
        }
        cc = _components(int(rows.size), graph.src, graph.dst)
        entry["connected_components"] = _scores(
            dict(zip(ids[rows].tolist(), cc.tolist(), strict=True)), primary, truth
        )
        if linkage is not None and fcluster is not None:
            al = fcluster(linkage, 1.0 - t.similarity, "distance")
            entry["average_linkage"] = {
                **_scores(dict(zip(ids[rows].tolist(), al.tolist(), strict=True)), primary, truth),
                "seconds_linkage": linkage_seconds,
            }
        out.append(entry)
        print(
            f"FPIR {fpir:<5} sim {t.similarity:.4f}: "
            + "  ".join(
                f"{k} F {v['bcubed']['f']:.4f}"
                for k, v in entry.items()
                if isinstance(v, dict) and "bcubed" in v
            ),
            flush=True,
        )
    return out


def scale(folder: Path, curve: Any, total: int, seed: int = 0) -> dict[str, Any]:
    with PeopleStore.open(folder, create=False) as store:
        matrix = store.face_matrix()
    base = matrix.vectors[matrix.usable]
    rng = np.random.default_rng(seed)
    copies = int(np.ceil(total / base.shape[0])) - 1
    # cos(v, v + s·n) ≈ 1 / sqrt(1 + s²·d): s for a same-person similarity of ~0.7
    spread = float(np.sqrt((1 / 0.7**2 - 1) / base.shape[1]))
    extra = np.repeat(base, copies, axis=0)
    extra = extra + spread * rng.standard_normal(extra.shape).astype(np.float32)
    extra /= np.linalg.norm(extra, axis=1, keepdims=True)
    vectors = np.concatenate([base, extra.astype(np.float32)])[:total]
    source = np.arange(base.shape[0])
    people = np.concatenate([source, np.repeat(source, copies)])[:total]
    with tempfile.TemporaryDirectory() as tmp:
        store = PeopleStore.open(Path(tmp), model_id="synthetic")
        started = time.perf_counter()
        with store.transaction():
            for i, v in enumerate(vectors):
                face = NewFace(0, (0.0, 0.0, 100.0, 100.0), 0.9, 0.9, (), v, None, primary=True)
                store.add_image(f"s{i}", f"/synthetic/{i}.jpg", width=250, height=250, faces=[face])
        insert_seconds = time.perf_counter() - started
        rss_before = _rss_mb()  # the faces and the store are loaded
        started = time.perf_counter()
        result = recluster(store, curve)
        cluster_seconds = time.perf_counter() - started
        started = time.perf_counter()
        outputs = write_outputs(store, Path(tmp), sheets=False)
        write_seconds = time.perf_counter() - started
        face_person = dict(zip(store.face_matrix().ids.tolist(), people.tolist(), strict=True))
        predicted, true = [], []
        for c in list_clusters(store):
            for m in c.members:
                predicted.append(c.id)
                true.append(face_person[m.face_id])
        store.close()
    sizes = Counter(predicted)
    report = {
        "faces": int(total),
        "real_faces": int(base.shape[0]),
        "copies_per_face": copies,
        "copy_similarity": 0.7,
        "threshold": result.threshold.similarity if result.threshold else None,
        "threshold_clamped": bool(result.threshold and result.threshold.clamped),
        "seconds_cluster": cluster_seconds,
        "seconds_write_outputs": write_seconds,
        "seconds_total": cluster_seconds + write_seconds,
        "seconds_store_insert": insert_seconds,
        "clusters": len(outputs.clusters),
        "largest_cluster": max(sizes.values()),
        "bcubed_vs_source_face": bcubed_scores(predicted, true).to_dict(),
        "peak_rss_mb": _rss_mb(),
        "peak_rss_mb_before_clustering": rss_before,
    }
    print(
        f"{total} faces: clustered in {cluster_seconds:.1f} s + outputs {write_seconds:.1f} s, "
        f"peak RSS {report['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=SHARED / "datasets" / "lfw" / "images")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "bench" / "cluster-lfw.json")
    parser.add_argument("--scale-only", type=Path, help=argparse.SUPPRESS)  # child process
    args = parser.parse_args()
    if args.scale_only is not None:  # a fresh process, so its peak memory is its own
        from faceprint.models.card import load_catalog

        with PeopleStore.open(args.scale_only, create=False) as store:
            model = str(store.model_id)
        curve = load_catalog()[model].calibration
        print(json.dumps(scale(args.scale_only, curve, args.scale)))
        return

    started = time.perf_counter()
    user = subprocess.run(
        [
            sys.executable,
            "-m",
            "faceprint",
            "-q",
            "eval",
            "cluster",
            "--root",
            str(args.root),
            "--json",
            "--plot",
            str(args.output.with_name("cluster-lfw-sizes.png")),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    command_seconds = time.perf_counter() - started
    evaluation = json.loads(user.stdout)
    print(
        f"faceprint eval cluster: BCubed F {evaluation['bcubed']['f']:.4f}, pairwise F "
        f"{evaluation['pairwise']['f']:.4f}, {evaluation['clusters']} clusters / "
        f"{evaluation['identities']} identities ({command_seconds:.1f} s)",
        flush=True,
    )
    from faceprint.models.card import load_catalog

    curve = load_catalog()[evaluation["model"]].calibration
    folder = Path(evaluation["folder"])
    methods = compare_methods(folder, args.root, curve)
    child = subprocess.run(
        [sys.executable, __file__, "--scale-only", str(folder), "--scale", str(args.scale)],
        check=True,
        capture_output=True,
        text=True,
    )
    scaled = json.loads(child.stdout.strip().splitlines()[-1])
    print(child.stdout.strip().splitlines()[0])
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "command": {**evaluation, "wall_seconds": command_seconds},
        "methods": methods,
        "scale": scaled,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
