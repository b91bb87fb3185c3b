"""Gallery search at scale: exact scan against the HNSW index, through ``Gallery.search``.

A gallery of ``N`` templates is made of real LFW people (the mated identities) and
synthetic distractors drawn around real LFW embeddings: identity centres from the
between-person covariance of LFW's SFace embeddings, templates from the within-person
covariance (1–3 per distractor), so impostor scores look like faces, not like random
vectors. The enrolled LFW people are those with two or more images (first image
enrolled, second used as a probe); LFW people with one image are the unknown probes.

For each index engine it reports: build time (the first search builds), index memory,
opening a saved gallery plus its first search, p50/p99 latency of ``Gallery.search``
(k = 10), recall@10 against exact search, *mate recall* (of the mated probes exact
search identifies above the threshold — FMR 1e-6, the strictest calibrated one: FPIR 1 %
at these sizes needs a lower FMR than the calibration reaches — the share the engine
identifies too),
identical open-set decisions on every probe, the first search after an enrollment, and
queries/s with 8 concurrent searcher threads. ``--peer-hnsw`` also times faiss's HNSW
graph on the same vectors (what the PQ scan was chosen against).

    python benchmarks/scale.py --sizes 100000 1000000 --json out/scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.config import PipelineConfig
from faceprint.environment import Environment
from faceprint.eval.datasets import pair_images, read_pairs
from faceprint.eval.embedding import embed_images
from faceprint.gallery import FaceRecord, Gallery
from faceprint.gallery.schema import INSERT_FACE, now_iso
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline
from faceprint.types import Embedding

SHARED = Path(
    os.environ.get("FACEPRINT_SHARED", Path(__file__).resolve().parents[1] / ".." / "shared")
)
CACHE = Path(__file__).resolve().parents[1] / ".bench-cache"


def rss_mb() -> float:
    """Anonymous resident memory: what the process allocated, not the gallery file's
    pages it maps (SQLite reads through mmap; those pages are the system's file cache)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


# --- data ----------------------------------------------------------------------------


def lfw_embeddings(embedder: str, threads: int) -> tuple[NDArray[np.float32], list[str], str]:
    """SFace embeddings of LFW's pair images (cached in .bench-cache as .npz)."""
    CACHE.mkdir(exist_ok=True)
    cache = CACHE / f"lfw-{embedder}.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        return data["vectors"], [str(p) for p in data["people"]], str(data["model"])
    store = ModelStore(Environment.read().store_config())
    pipeline = FacePipeline.from_config(
        PipelineConfig(embedder=embedder, threads=threads), store=store
    )
    root = SHARED / "datasets" / "lfw"
    paths = pair_images(read_pairs(root / "pairs.txt", root=root / "images"))
    print(f"embedding {len(paths)} LFW images (cached afterwards)…", file=sys.stderr)
    result = embed_images(pipeline, paths)
    vectors = result.vectors[result.found]
    people = [p.parent.name for p, ok in zip(paths, result.found, strict=True) if ok]
    model = pipeline.embedder.model_id
    np.savez(cache, vectors=vectors, people=np.array(people), model=np.array(model))
    return vectors, people, model


class FaceModel:
    """Gaussian identities fitted to real embeddings: between- and within-person parts."""

    def __init__(self, vectors: NDArray[np.float32], people: list[str]) -> None:
        labels = np.unique(np.array(people), return_inverse=True)[1]
        counts = np.bincount(labels)
        means = np.zeros((counts.size, vectors.shape[1]))
        np.add.at(means, labels, vectors)
        means /= counts[:, None]
        multi = counts[labels] >= 2
        within = vectors[multi] - means[labels[multi]]
        # unbiased: a person's deviations from their own mean shrink by (n - 1) / n
        scale = np.sqrt(counts[labels[multi]] / (counts[labels[multi]] - 1))[:, None]
        self.within = np.linalg.cholesky(np.cov((within * scale).T) + 1e-9 * np.eye(len(means[0])))
        self.centre = vectors.mean(axis=0)
        self.between = np.linalg.cholesky(np.cov(means.T) + 1e-9 * np.eye(len(means[0])))

    def sample(
        self, rng: np.random.Generator, persons: int, faces: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        """``faces[i]`` templates of each of ``persons`` new identities (float32, unit)."""
        d = len(self.centre)
        out = np.empty((int(faces.sum()), d), dtype=np.float32)
        row = 0
        for start in range(0, persons, 200_000):  # bounded float64 temporaries
            count = faces[start : start + 200_000]
            centres = self.centre + rng.standard_normal((len(count), d)) @ self.between.T
            rows = np.repeat(centres, count, axis=0)
            rows += rng.standard_normal(rows.shape) @ self.within.T
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            out[row : row + len(rows)] = rows
            row += len(rows)
        return out


def impostor_stats(vectors: NDArray[np.float32], rng: np.random.Generator) -> tuple[float, float]:
    a, b = rng.choice(len(vectors), 20000), rng.choice(len(vectors), 20000)
    sims = np.einsum("ij,ij->i", vectors[a], vectors[b])
    return float(sims.mean()), float(sims.std())


def write_gallery(
    path: Path,
    model: str,
    enrolled: NDArray[np.float32],
    enrolled_names: list[str],
    distractors: NDArray[np.float32],
    faces: NDArray[np.int64],
) -> None:
    """Fill a gallery file fast: the benchmark measures search, not enrollment, so the rows
    go in through the store's own write transaction, 50k at a time."""
    with Gallery.open(path, model_id=model) as g:
        store = g._store
        dim = enrolled.shape[1]
        now = now_iso()
        with store._write() as conn:
            store._pin_to(conn, model, dim)
            cid, _ = store._ensure_collection(conn, "default", now)
            rows = []
            for name, vector in zip(enrolled_names, enrolled, strict=True):
                pid, _ = store._ensure_person(conn, cid, name, now)
                rows.append(
                    (pid, vector.astype("<f4").tobytes(), "", "", None, None, None, None, None, now)
                )
            conn.executemany(INSERT_FACE, rows)
        owners = np.repeat(np.arange(len(faces)), faces)
        start = 0
        while start < len(distractors):
            end = min(start + 50_000, len(distractors))
            with store._write() as conn:
                first_person = int(owners[start])
                persons: dict[int, int] = {}
                for p in range(first_person, int(owners[end - 1]) + 1):
                    persons[p], _ = store._ensure_person(conn, cid, f"synthetic-{p:08d}", now)
                conn.executemany(
                    INSERT_FACE,
                    (
                        (
                            persons[int(owners[i])],
                            distractors[i].astype("<f4").tobytes(),
                            "",
                            "",
                            None,
                            None,
                            None,
                            None,
                            None,
                            now,
                        )
                        for i in range(start, end)
                    ),
                )
            start = end


# --- measurements --------------------------------------------------------------------


def decisions(
    g: Gallery, probes: NDArray[np.float32], model: str, threshold: float
) -> tuple[list[list[str]], list[str | None], list[float]]:
    tops, decided, latencies = [], [], []
    for vector in probes:
        probe = Embedding(vector=vector, model_id=model)
        t = time.perf_counter()
        matches = g.search(probe, k=10)
        latencies.append(time.perf_counter() - t)
        tops.append([m.person for m in matches])
        decided.append(
            matches[0].person if matches and matches[0].similarity >= threshold else None
        )
    return tops, decided, latencies


def top1_reference(
    enrolled: NDArray[np.float32],
    mated: list[str],
    distractors: NDArray[np.float32],
    faces: NDArray[np.int64],
    probes: NDArray[np.float32],
    threshold: float,
) -> list[str | None]:
    """Exact open-set decisions (best face over everything) by blocked matrix products."""
    best = enrolled @ probes.T
    best_sim, best_row = best.max(axis=0), best.argmax(axis=0)
    owners = np.repeat(np.arange(len(faces)), faces)
    for start in range(0, len(distractors), 250_000):
        sims = distractors[start : start + 250_000] @ probes.T
        top, at = sims.max(axis=0), sims.argmax(axis=0) + start + len(enrolled)
        better = top > best_sim
        best_sim[better], best_row[better] = top[better], at[better]
    names = [
        mated[r] if r < len(mated) else f"synthetic-{owners[r - len(mated)]:08d}"
        for r in best_row.tolist()
    ]
    return [n if s >= threshold else None for n, s in zip(names, best_sim.tolist(), strict=True)]


def concurrent_qps(
    g: Gallery, probes: NDArray[np.float32], model: str, threads: int, seconds: float
) -> float:
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def worker(i: int) -> None:
        j = i
        while time.perf_counter() < stop:
            g.search(Embedding(vector=probes[j % len(probes)], model_id=model), k=10)
            counts[i] += 1
            j += threads

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return sum(counts) / (time.perf_counter() - start)


def measure(
    path: Path,
    engine: str,
    model: str,
    probes: NDArray[np.float32],
    threshold: float,
    reference: tuple[list[list[str]], list[str | None]] | None,
    truth: list[str | None],
    args: argparse.Namespace,
) -> tuple[dict[str, Any], list[list[str]], list[str | None]]:
    row: dict[str, Any] = {"engine": engine}
    before = rss_mb()
    with Gallery.open(path) as g:
        g.set_index(engine)
        t = time.perf_counter()
        g.search(Embedding(vector=probes[0], model_id=model), k=10)
        row["build_s"] = round(time.perf_counter() - t, 2)
        info = g.index_info()["collections"]["default"]
        row["kind"] = info["kind"]
        row["index_memory_mb"] = round(info.get("memory_bytes", 0) / 2**20, 1)
        row["rss_growth_mb"] = round(rss_mb() - before, 1)
        t = time.perf_counter()
    row["save_on_close_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    with Gallery.open(path) as g:
        g.search(Embedding(vector=probes[1], model_id=model), k=10)
        row["open_first_search_s"] = round(time.perf_counter() - t, 3)
        tops, decided, latencies = decisions(g, probes, model, threshold)
        ms = sorted(x * 1000 for x in latencies)
        row["p50_ms"] = round(statistics.median(ms), 3)
        row["p99_ms"] = round(ms[int(0.99 * (len(ms) - 1))], 3)
        if reference is not None:
            ref_tops, ref_decided = reference
            if ref_tops is not None:
                overlap = [
                    len(set(a) & set(b)) / max(len(b), 1)
                    for a, b in zip(tops, ref_tops, strict=True)
                ]
                row["recall_at_10"] = round(float(np.mean(overlap)), 4)
            mated = [
                i
                for i, (d, want) in enumerate(zip(ref_decided, truth, strict=True))
                if want is not None and d == want
            ]
            row["mate_recall"] = round(
                sum(decided[i] == truth[i] for i in mated) / max(len(mated), 1), 4
            )
            row["mated_probes_found_by_exact"] = len(mated)
            row["same_decisions"] = round(
                float(np.mean([a == b for a, b in zip(decided, ref_decided, strict=True)])), 4
            )
        # a write, then the first search after it (this process's own enrollment)
        after = []
        rng = np.random.default_rng(0)
        for i in range(5):
            v = rng.standard_normal(probes.shape[1]).astype(np.float32)
            v /= np.linalg.norm(v)
            g.add_faces(
                f"late-{engine}-{i}", [FaceRecord(embedding=Embedding(vector=v, model_id=model))]
            )
            t = time.perf_counter()
            top = g.search(Embedding(vector=v, model_id=model), k=1)[0]
            after.append((time.perf_counter() - t) * 1000)
            assert top.person == f"late-{engine}-{i}", top
        row["search_after_enroll_ms"] = round(statistics.median(after), 2)
        row["search_after_enroll_max_ms"] = round(max(after), 2)
        row["qps_8_threads"] = round(concurrent_qps(g, probes, model, 8, args.qps_seconds), 0)
        row["qps_1_thread"] = round(concurrent_qps(g, probes, model, 1, args.qps_seconds), 0)
        for i in range(5):
            g.remove_person(f"late-{engine}-{i}")
    return row, tops, decided


def peer_hnsw(
    vectors: NDArray[np.float32], probes: NDArray[np.float32], mates: list[int]
) -> list[dict[str, Any]]:
    """faiss's HNSW (M = 32) on the same vectors: the graph this index was chosen against.

    ``mates[i]`` is the row of probe ``i``'s enrolled mate (-1: not counted)."""
    import faiss

    faiss.omp_set_num_threads(2)
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = 128
    t = time.perf_counter()
    index.add(vectors)
    build = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    counted = sum(m >= 0 for m in mates)
    rows = []
    for ef in (128, 256, 512):
        index.hnsw.efSearch = ef
        lat, found = [], 0
        for p, mate in zip(probes, mates, strict=True):
            t = time.perf_counter()
            _, ids = index.search(p[None, :], 40)
            lat.append((time.perf_counter() - t) * 1000)
            found += mate >= 0 and mate in set(ids[0].tolist())
        rows.append(
            {
                "engine": f"faiss HNSW32 ef{ef} (bare index, peer)",
                "build_s": round(build, 1),
                "p50_ms": round(statistics.median(lat), 3),
                "mate_recall": round(found / max(counted, 1), 4),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument("--engines", nargs="+", default=["exact", "pq"])
    parser.add_argument("--embedder", default="sface")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--unknown-probes", type=int, default=1000)
    parser.add_argument("--qps-seconds", type=float, default=5.0)
    parser.add_argument("--peer-hnsw", action="store_true", help="also time faiss HNSW32")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    vectors, people, model = lfw_embeddings(args.embedder, args.threads)
    rng = np.random.default_rng(0)
    names = np.array(people)
    first: dict[str, int] = {}
    second: dict[str, int] = {}
    for i, name in enumerate(people):
        if name not in first:
            first[name] = i
        elif name not in second:
            second[name] = i
    mated = sorted(second)
    singles = [n for n in first if n not in second]
    enrolled = vectors[[first[n] for n in mated]]
    unknown_pick = rng.choice(len(singles), min(args.unknown_probes, len(singles)), replace=False)
    probes = np.vstack(
        [vectors[[second[n] for n in mated]], vectors[[first[singles[i]] for i in unknown_pick]]]
    )
    truth: list[str | None] = [*mated, *([None] * len(unknown_pick))]
    face_model = FaceModel(vectors, list(names))
    store = ModelStore(Environment.read().store_config())
    pipeline = FacePipeline.from_config(
        PipelineConfig(embedder=args.embedder, threads=1), store=store
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="faceprint-scale-"))
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "model": model,
        "mated_probes": len(mated),
        "unknown_probes": len(unknown_pick),
        "real_impostor_mean_std": impostor_stats(vectors, rng),
        "sizes": [],
    }
    for size in args.sizes:
        n_synthetic = size - len(enrolled)
        faces = rng.integers(1, 4, size=n_synthetic).astype(np.int64)
        faces = faces[np.cumsum(faces) <= n_synthetic]
        faces = np.append(faces, n_synthetic - faces.sum()) if faces.sum() < n_synthetic else faces
        faces = faces[faces > 0]
        distractors = face_model.sample(rng, len(faces), faces)
        path = workdir / f"scale-{size}.db"
        t = time.perf_counter()
        if not path.exists():
            write_gallery(path, model, enrolled, mated, distractors, faces)
        fill = time.perf_counter() - t
        # FPIR 1 % needs a per-comparison FMR below the calibrated range (1e-6) past ~10k
        # templates, so the benchmark decides at the strictest calibrated FMR, 1e-6.
        threshold = pipeline.identification_threshold(gallery_size=size, fmr=1e-6).similarity
        entry: dict[str, Any] = {
            "templates": size,
            "persons": len(faces) + len(mated),
            "fill_s": round(fill, 1),
            "threshold": round(threshold, 4),
            "synthetic_impostor_mean_std": impostor_stats(distractors, rng),
            "engines": [],
        }
        print(f"[{size}] filled in {fill:.0f} s; threshold {threshold:.4f}", file=sys.stderr)
        reference = None
        if "exact" not in args.engines:  # too large to scan per probe: one blocked BLAS pass
            reference = (
                None,
                top1_reference(enrolled, mated, distractors, faces, probes, threshold),
            )
        for engine in args.engines:
            row, tops, decided = measure(
                path, engine, model, probes, threshold, reference, truth, args
            )
            if engine == "exact":
                reference = (tops, decided)
                row["mate_rate"] = round(
                    sum(d == w for d, w in zip(decided, truth, strict=True) if w is not None)
                    / len(mated),
                    4,
                )
            print(json.dumps(row), file=sys.stderr)
            entry["engines"].append(row)
        if args.peer_hnsw and reference is not None:
            both = np.vstack([enrolled, distractors])
            mates = [
                i if want is not None and decided == want else -1
                for i, (decided, want) in enumerate(zip(reference[1], truth, strict=True))
            ][: len(mated)]
            entry["peers"] = peer_hnsw(both, probes[: len(mated)], mates)
            print(json.dumps(entry["peers"]), file=sys.stderr)
        report["sizes"].append(entry)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
