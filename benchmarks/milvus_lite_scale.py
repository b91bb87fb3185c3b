"""A milvus-lite-indexed gallery at scale, through ``Gallery.search``.

Builds a gallery of ``--n`` synthetic 128-d unit templates (one face per person) in a
temporary folder, sets its index to ``milvus-lite:…`` (``--index`` picks the Milvus
index type, FLAT by default) and reports:

* SQLite fill: the templates go in through the store's own write transaction, 50k at
  a time (the benchmark measures the index, not enrollment; ``--api-sample`` persons
  are added through ``Gallery.add_faces`` first to time that path);
* Milvus fill: the first search, which builds the index (LiveIndex reads every row
  and upserts them) and saves it (milvus-lite's flush and the watermark);
* reopen: closing, opening the file again and its first search (restores the
  watermark: no rebuild);
* p50/p99 latency of ``Gallery.search`` (k = 10) over ``--probes`` probes, half of them
  noisy copies of enrolled templates, half random;
* recall@10 of those searches against :class:`~faceprint.gallery.vectors.ExactIndex`
  over the same vectors;
* the first search right after one ``add_faces`` (replay of one change), ``--adds``
  times.

    python benchmarks/milvus_lite_scale.py --n 100000 --json out/milvus-lite-100k.json
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.gallery import FaceRecord, Gallery
from faceprint.gallery.schema import INSERT_FACE, now_iso
from faceprint.gallery.vectors import ExactIndex, best_per_person
from faceprint.types import Embedding

MODEL = "bench-128"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def unit_rows(rng: np.random.Generator, n: int, dim: int) -> NDArray[np.float32]:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), dim)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def fill_sqlite(g: Gallery, vectors: NDArray[np.float32], first: int) -> None:
    """Rows ``first…`` straight through the store's write transaction, 50k at a time."""
    store = g._store
    now = now_iso()
    with store._write() as conn:
        store._pin_to(conn, MODEL, vectors.shape[1])
        cid, _ = store._ensure_collection(conn, "default", now)
    for start in range(first, len(vectors), 50_000):
        end = min(start + 50_000, len(vectors))
        with store._write() as conn:
            rows = []
            for i in range(start, end):
                pid, _ = store._ensure_person(conn, cid, f"p{i:08d}", now)
                rows.append(
                    (
                        pid,
                        vectors[i].astype("<f4").tobytes(),
                        "",
                        "",
                        None,
                        None,
                        None,
                        None,
                        None,
                        now,
                    )
                )
            conn.executemany(INSERT_FACE, rows)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng(args.seed)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="fp-milvus-lite-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gallery.db"
    spec = f"milvus-lite:{folder / 'vectors.db'}" + (
        f"?index={args.index}" if args.index != "FLAT" else ""
    )
    out: dict[str, Any] = {
        "n": args.n,
        "dim": args.dim,
        "index": spec,
        "probes": args.probes,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "pymilvus": metadata.version("pymilvus"),
        "milvus_lite": metadata.version("milvus-lite"),
        "cpu_count": __import__("os").cpu_count(),
    }
    print(f"{args.n} templates, {spec}", file=sys.stderr)
    vectors = unit_rows(rng, args.n, args.dim)

    t = time.perf_counter()
    g = Gallery.open(path)
    g.set_index(spec)
    sample = min(args.api_sample, args.n)
    for i in range(sample):
        g.add_faces(
            f"p{i:08d}", [FaceRecord(embedding=Embedding(vector=vectors[i], model_id=MODEL))]
        )
    api_s = time.perf_counter() - t
    fill_sqlite(g, vectors, sample)
    out["sqlite_fill_s"] = round(time.perf_counter() - t, 2)
    out["add_faces_ms_each"] = round(1000 * api_s / max(sample, 1), 3)
    print(f"SQLite filled in {out['sqlite_fill_s']} s", file=sys.stderr)

    noise = rng.standard_normal((args.probes, args.dim)).astype(np.float32) * 0.04
    mates = vectors[rng.choice(args.n, args.probes // 2, replace=False)] + noise[: args.probes // 2]
    strangers = unit_rows(rng, args.probes - len(mates), args.dim)
    probes = np.vstack([mates, strangers]).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)

    t = time.perf_counter()
    g.search(Embedding(vector=probes[0], model_id=MODEL), k=args.k)
    out["milvus_fill_s"] = round(time.perf_counter() - t, 2)
    out["rss_mb_after_fill"] = round(rss_mb(), 1)
    print(f"Milvus filled (first search) in {out['milvus_fill_s']} s", file=sys.stderr)

    t = time.perf_counter()
    g.close()
    out["close_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    g = Gallery.open(path)
    g.search(Embedding(vector=probes[0], model_id=MODEL), k=args.k)
    out["reopen_first_search_s"] = round(time.perf_counter() - t, 3)
    print(f"reopened + first search in {out['reopen_first_search_s']} s", file=sys.stderr)

    exact = ExactIndex(args.dim)
    ids = np.arange(1, args.n + 1, dtype=np.int64)  # face i (0-based) has id i + 1
    exact.add(ids, ids, vectors)
    latencies, recalls = [], []
    for probe in probes:
        t = time.perf_counter()
        found = g.search(Embedding(vector=probe, model_id=MODEL), k=args.k)
        latencies.append(time.perf_counter() - t)
        truth = {h.face_id for h in best_per_person(exact, probe, args.k)}
        recalls.append(len(truth & {m.face_id for m in found}) / max(len(truth), 1))
    out["search_p50_ms"] = round(1000 * percentile(latencies, 50), 1)
    out["search_p99_ms"] = round(1000 * percentile(latencies, 99), 1)
    out["recall_at_10"] = round(statistics.fmean(recalls), 4)
    print(
        f"search p50 {out['search_p50_ms']} ms, p99 {out['search_p99_ms']} ms, "
        f"recall@{args.k} {out['recall_at_10']}",
        file=sys.stderr,
    )

    after_add = []
    for j in range(args.adds):
        v = unit_rows(rng, 1, args.dim)[0]
        g.add_faces(f"new{j}", [FaceRecord(embedding=Embedding(vector=v, model_id=MODEL))])
        t = time.perf_counter()
        top = g.search(Embedding(vector=v, model_id=MODEL), k=args.k)[0]
        after_add.append(time.perf_counter() - t)
        assert top.person == f"new{j}", "the new face was not found"
    out["first_search_after_add_ms"] = {
        "median": round(1000 * statistics.median(after_add), 1),
        "max": round(1000 * max(after_add), 1),
    }
    print(f"first search after one add: {out['first_search_after_add_ms']} ms", file=sys.stderr)
    out["faces_in_milvus"] = g.index_info()["collections"]["default"]["faces"]
    g.close()
    if not args.keep and not args.folder:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="templates (default 100000)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--adds", type=int, default=5, help="single adds timed (default 5)")
    parser.add_argument("--api-sample", type=int, default=1000, help="persons via add_faces")
    parser.add_argument("--index", default="FLAT", help="Milvus index type (default FLAT)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", help="keep the gallery here (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="do not delete the temporary folder")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    out = run(args)
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
