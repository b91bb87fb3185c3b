"""Search speed of a gallery encrypted at rest against the same gallery in clear.

One synthetic gallery of random unit 128-d templates (``--faces``, 10 per person) is
written in clear, copied, and the copy encrypted with ``encrypt_gallery``; then, in the
same run, for both: open + first search (the index is built from the decrypted rows —
an encrypted gallery's index is never saved — while the clear one is timed both without
and with its saved ``<gallery>.index/``), search p50/p95 over ``--probes`` probes, and
the throughput of reading every row (``load_embeddings``: decrypt + check). Writes JSON.

    python benchmarks/at_rest.py --faces 100000 --out docs/bench/at-rest.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.gallery import Gallery
from faceprint.gallery.encryption import decrypt_gallery, encrypt_gallery
from faceprint.keysource import SecretKey
from faceprint.types import Embedding

MODEL = "sface"
DIM = 128


def _vectors(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    out: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def _write_plain(path: Path, vectors: np.ndarray, per_person: int) -> None:
    """The gallery written through SQL in one transaction (the rows enroll would write)."""
    Gallery.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO meta VALUES ('model_id', ?), ('embedding_dim', ?)", (MODEL, DIM))
    conn.execute("INSERT INTO collections VALUES (1, 'default', 't')")
    persons = (len(vectors) + per_person - 1) // per_person
    conn.executemany(
        "INSERT INTO persons VALUES (?, 1, ?, 't')", ((i + 1, f"p{i}") for i in range(persons))
    )
    conn.executemany(
        "INSERT INTO faces(person_id, embedding, enrolled_at) VALUES (?, ?, 't')",
        ((i // per_person + 1, v.astype("<f4").tobytes()) for i, v in enumerate(vectors)),
    )
    conn.commit()
    conn.close()


def _open_and_search(path: Path, key: SecretKey | None, probes: np.ndarray) -> dict[str, Any]:
    started = time.perf_counter()
    g = Gallery.open(path, create=False, key=key)
    opened = time.perf_counter()
    first = g.search(Embedding(probes[0], MODEL), k=5)
    done = time.perf_counter()
    times = []
    results = []
    for p in probes:
        t = time.perf_counter()
        matches = g.search(Embedding(p, MODEL), k=5)
        times.append((time.perf_counter() - t) * 1000)
        results.append([m.face_id for m in matches])
    t = time.perf_counter()
    rows = len(g._store.load_embeddings(None).face_ids)
    load_s = time.perf_counter() - t
    kind = g.index_info()["collections"]["default"]["kind"]
    g.close()
    times.sort()
    return {
        "open_s": round(opened - started, 4),
        "open_and_first_search_s": round(done - started, 3),
        "index": kind,
        "search_p50_ms": round(statistics.median(times), 3),
        "search_p95_ms": round(times[int(0.95 * (len(times) - 1))], 3),
        "read_all_rows_s": round(load_s, 3),
        "read_rows_per_s": round(rows / load_s),
        "_results": results,
        "_first": [m.face_id for m in first],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--probes", type=int, default=300)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    key = SecretKey(os.urandom(32), source="benchmark")
    vectors = _vectors(args.faces, seed=1)
    rng = np.random.default_rng(2)
    mates = vectors[rng.choice(len(vectors), args.probes // 2, replace=False)]
    probes = np.concatenate([mates, _vectors(args.probes - len(mates), seed=3)])
    with tempfile.TemporaryDirectory() as folder:
        plain, sealed = Path(folder) / "plain.db", Path(folder) / "sealed.db"
        _write_plain(plain, vectors, per_person=10)
        shutil.copyfile(plain, sealed)
        summary = encrypt_gallery(sealed, key)
        encrypt = {
            "seconds": round(summary.seconds, 3),
            "rows_per_s": round(summary.faces / summary.seconds),
        }
        cold = _open_and_search(plain, None, probes)  # builds and saves its PQ index
        warm = _open_and_search(plain, None, probes)  # restores the saved index
        encrypted = _open_and_search(sealed, key, probes)
        again = _open_and_search(sealed, key, probes)
        same = encrypted["_results"] == warm["_results"] == cold["_results"]
        copy = Path(folder) / "copy.db"
        shutil.copyfile(sealed, copy)
        decrypted = decrypt_gallery(copy, key)
        sizes = {"plain_bytes": plain.stat().st_size, "encrypted_bytes": sealed.stat().st_size}
    for entry in (cold, warm, encrypted, again):
        entry.pop("_results")
        entry.pop("_first")
    report = {
        "benchmark": "at_rest",
        "faces": args.faces,
        "dim": DIM,
        "probes": args.probes,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "encrypt": encrypt,
        "decrypt": {
            "seconds": round(decrypted.seconds, 3),
            "rows_per_s": round(decrypted.faces / decrypted.seconds),
        },
        "plain_no_saved_index": cold,
        "plain_saved_index": warm,
        "encrypted_first_open": encrypted,
        "encrypted_second_open": again,
        "identical_results": same,
        "file_sizes": sizes,
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
