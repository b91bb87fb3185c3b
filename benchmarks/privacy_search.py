"""Encrypted 1:N search (CKKS): end-to-end time, accuracy and server memory.

For each gallery size: random unit 128-d templates (the cost of CKKS does not depend on
the values; accuracy is checked on real faces in ``--lfw``), a probe near one template.
Each repeat runs the whole path a client and a server take: the client encrypts the probe
and serialises it, the server parses it, scores it and serialises the result, the client
parses and decrypts it. Reported per stage (median over repeats), with the bytes on the
wire, the largest score error against float64 numpy, and whether every template's decision
equals the plaintext one. ``both`` runs the same search against a gallery the client
encrypted (the server holds no template in clear). Server memory is the peak resident set
(VmHWM) of the server process plus its worker processes.

``--lfw NPZ`` (arrays ``vectors``, ``found``, ``names`` of every LFW image, e.g. from the
embedding cache of ``benchmarks/privacy_cancelable.py``) adds the identification check: all
LFW people enrolled (each one's first image), every other image a probe; the encrypted
decisions (``decision`` mode) and the top-1 of ``scores`` mode against plaintext search.

    python benchmarks/privacy_search.py --sizes 10000 100000 --json docs/bench/privacy-search.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.privacy.ckks import KeySet
from faceprint.privacy.index import EncryptedIndex, Labels, encrypt_gallery


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def server_peak_mb(index: EncryptedIndex) -> float:
    total = _hwm_mb(os.getpid())
    for shard in index._shards:
        pid = shard._proc.pid
        if pid is not None:
            total += _hwm_mb(pid)
    return total


def unit_rows(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return rows


def run_size(
    keys: KeySet, n: int, *, repeats: int, workers: int, both: bool, threshold: float
) -> dict[str, Any]:
    rng = np.random.default_rng(n)
    gallery = unit_rows(n, keys.dim, rng)
    labels = Labels.of_persons([f"person{i}" for i in range(n)])
    public = KeySet.from_bytes(keys.public().to_bytes())
    t0 = time.perf_counter()
    if both:
        data = encrypt_gallery(keys, gallery, labels)
        encrypt_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        index = EncryptedIndex.from_encrypted(public, data, workers=workers)
        gallery_bytes = len(data)
    else:
        encrypt_s = 0.0
        index = EncryptedIndex.from_matrix(public, gallery, labels, workers=workers)
        gallery_bytes = 0
    build_s = time.perf_counter() - t0
    out: dict[str, Any] = {
        "templates": n,
        "gallery": "encrypted" if both else "plaintext",
        "workers": index.workers,
        "shares": [
            [s.chunks.start, s.chunks.stop, s.babies.start, s.babies.stop] for s in index.shares
        ],
        "chunks": index.plan.chunks,
        "baby_steps": index.plan.baby,
        "rotations": index.plan.rotations,
        "gallery_encrypt_s": round(encrypt_s, 3),
        "encrypted_gallery_mb": round(gallery_bytes / 1e6, 1),
        "index_build_s": round(build_s, 3),
        "modes": {},
    }
    try:
        for mode in ("decision", "scores"):
            stages: dict[str, list[float]] = {
                "encrypt": [],
                "server": [],
                "decrypt": [],
                "total": [],
            }
            err, agree, sizes = 0.0, True, (0, 0)
            checks: list[tuple[np.ndarray, Any]] = []
            for r in range(repeats + 1):
                target = int(rng.integers(n))
                probe = gallery[target] + 0.35 * unit_rows(1, keys.dim, rng)[0]
                probe /= np.linalg.norm(probe)
                a = time.perf_counter()
                wire = keys.encrypt_probe(probe)
                b = time.perf_counter()
                result = index.search(wire, threshold=threshold, mode=mode)
                c = time.perf_counter()
                plain = keys.decrypt_result(result)
                d = time.perf_counter()
                sizes = (len(wire), len(result))
                if r == 0:
                    continue  # warm-up
                stages["encrypt"].append(b - a)
                stages["server"].append(c - b)
                stages["decrypt"].append(d - c)
                stages["total"].append(d - a)
                checks.append((probe, plain))
            # checked after the timed searches: numpy's BLAS threads keep spinning for a
            # while after a product and would slow the next search's workers
            for probe, plain in checks:
                exact = gallery.astype(np.float64) @ probe
                agree &= bool(np.array_equal(plain.accepted, exact >= threshold))
                if mode == "scores":
                    err = max(err, float(np.abs(plain.values - exact).max()))
            out["modes"][mode] = {
                **{f"{k}_ms_p50": round(statistics.median(v) * 1e3, 1) for k, v in stages.items()},
                "total_ms_max": round(max(stages["total"]) * 1e3, 1),
                "probe_bytes": sizes[0],
                "result_bytes": sizes[1],
                "decisions_equal_plaintext": agree,
                **({"max_score_error": err} if mode == "scores" else {}),
            }
        out["server_peak_rss_mb"] = round(server_peak_mb(index), 1)
    finally:
        index.close()
    return out


def run_lfw(keys: KeySet, npz: Path, *, threshold: float, workers: int) -> dict[str, Any]:
    data = np.load(npz)
    found = data["found"]
    vectors = data["vectors"][found].astype(np.float32)
    names = data["names"][found]
    first: dict[str, int] = {}
    for i, name in enumerate(names):
        first.setdefault(str(name), i)
    enrolled = np.array(sorted(first.values()))
    taken = set(enrolled.tolist())
    probes = np.array([i for i in range(len(names)) if i not in taken])
    gallery = vectors[enrolled]
    labels = Labels.of_persons([str(names[i]) for i in enrolled])
    index = EncryptedIndex.from_matrix(
        KeySet.from_bytes(keys.public().to_bytes()), gallery, labels, workers=workers
    )
    same_decision = same_top1 = 0
    max_err = 0.0
    closest = 1.0
    try:
        for p in probes:
            exact = gallery.astype(np.float64) @ vectors[p].astype(np.float64)
            passed = {str(names[enrolled[j]]) for j in np.flatnonzero(exact >= threshold)}
            dec = keys.decrypt_result(
                index.search(keys.encrypt_probe(vectors[p]), threshold=threshold)
            )
            same_decision += int(set(dec.matched_persons()) == passed)
            sc = keys.decrypt_result(
                index.search(keys.encrypt_probe(vectors[p]), threshold=threshold, mode="scores")
            )
            max_err = max(max_err, float(np.abs(sc.values - exact).max()))
            best = int(np.argmax(exact))
            top = int(np.argmax(sc.values))
            plain_decision = (best, exact[best] >= threshold)
            enc_decision = (top, sc.values[top] >= threshold)
            same_top1 += int(plain_decision == enc_decision)
            closest = min(closest, float(np.abs(exact - threshold).min()))
    finally:
        index.close()
    return {
        "enrolled_persons": len(enrolled),
        "probes": len(probes),
        "threshold": threshold,
        "decision_mode_same_accepted_persons": same_decision,
        "scores_mode_same_top1_decision": same_top1,
        "max_score_error": max_err,
        "closest_plaintext_score_to_threshold": closest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threshold", type=float, default=0.3630)
    parser.add_argument("--no-both", action="store_true", help="skip the encrypted gallery")
    parser.add_argument(
        "--lfw", type=Path, help="npz of LFW embeddings for the identification check"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    t = time.perf_counter()
    keys = KeySet.generate(128)
    keygen_s = time.perf_counter() - t
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "python": platform.python_version(),
        "keygen_s": round(keygen_s, 3),
        "public_keys_mb": round(len(keys.public().to_bytes()) / 1e6, 1),
        "secret_keys_mb": round(len(keys.to_bytes()) / 1e6, 1),
        "runs": [],
    }
    for n in args.sizes:
        for both in (False,) if args.no_both else (False, True):
            row = run_size(
                keys,
                n,
                repeats=args.repeats,
                workers=args.workers,
                both=both,
                threshold=args.threshold,
            )
            print(json.dumps(row), flush=True)
            report["runs"].append(row)
    if args.lfw:
        from faceprint.core.thresholds import identification_threshold
        from faceprint.models.card import load_catalog

        names = np.load(args.lfw)["names"]
        calibrated = identification_threshold(
            load_catalog()["sface"].calibration, gallery_size=len(set(names.tolist())), fpir=0.01
        )
        report["lfw"] = run_lfw(
            keys, args.lfw, threshold=calibrated.similarity, workers=args.workers
        )
        print(json.dumps(report["lfw"]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
