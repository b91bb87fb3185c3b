"""Threshold (two-party) Paillier encrypted 1:N search: cost per stage at N templates.

Random unit 128-d templates and a random unit probe (the cost does not depend on the
values beyond their quantized range). Per size it reports: client encryption of the
probe, the server's scoring per stage (precompute ``Enc(p_i)^{B^s}``, bucket
multi-exponentiation, rerandomization), each party's partial decryption, combining and
unpacking, the total, bytes on the wire (probe, encrypted result, one partial), peak RSS
of this process and of its worker processes, and the worker count. Key generation (the
trusted dealer) is timed once. Every run checks that the decrypted integer scores equal
the plaintext integer dot products and the float scores are within the stated bound. For
reference it also times single-key Paillier decryption (CRT, one key holder) of as many
ciphertexts: scoring is the same for both, only decryption differs.

    python benchmarks/privacy_threshold.py --sizes 1000 10000 --json docs/bench/privacy-threshold.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.privacy.paillier import (
    ThresholdKeys,
    combine,
    combine_integers,
    encrypt_probe,
    partial_decrypt,
    quantize_gallery,
    score_with_timings,
)
from faceprint.privacy.paillier_search import default_workers


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def single_key_decrypt_s(gmpy2: object, bits: int, count: int) -> float:
    """Seconds to decrypt ``count`` ciphertexts with an ordinary (single-key) Paillier key
    of the same size, by CRT (the key holder knows p, q): the baseline that threshold
    decryption replaces. The cost does not depend on the plaintexts."""
    g: Any = gmpy2
    rs = g.random_state(int.from_bytes(os.urandom(8), "big"))

    def prime() -> Any:
        return g.next_prime(g.mpz_urandomb(rs, bits // 2) | (g.mpz(3) << (bits // 2 - 2)))

    p, q = prime(), prime()
    n = p * q
    n2 = n * n
    cts = [g.mpz_random(rs, n2) for _ in range(count)]
    hp = g.invert((g.powmod(n + 1, p - 1, p * p) - 1) // p, p)
    hq = g.invert((g.powmod(n + 1, q - 1, q * q) - 1) // q, q)
    q_inv = g.invert(q, p)
    t = time.perf_counter()
    for c in cts:
        mp = (g.powmod(c, p - 1, p * p) - 1) // p * hp % p
        mq = (g.powmod(c, q - 1, q * q) - 1) // q * hq % q
        _ = mq + ((mp - mq) * q_inv % p) * q
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--bits", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import gmpy2  # type: ignore[import-untyped,unused-ignore]

    t = time.perf_counter()
    public, share_a, share_b = ThresholdKeys.generate(bits=args.bits)
    keygen_s = time.perf_counter() - t
    rng = np.random.default_rng(0)
    report: dict[str, object] = {
        "benchmark": "privacy_threshold",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_name(),
            "cpus": os.cpu_count(),
            "usable_cpus": default_workers(),
            "python": platform.python_version(),
            "gmpy2": gmpy2.version(),
            "gmp": gmpy2.mp_version(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "key_bits": args.bits,
        "dim": args.dim,
        "workers": args.workers,
        "keygen_s": round(keygen_s, 3),
        "sizes": [],
    }
    sizes: list[dict[str, object]] = []
    report["sizes"] = sizes
    for size in args.sizes:
        probe_vec = unit(rng, (args.dim,))
        templates = unit(rng, (size, args.dim))
        t0 = time.perf_counter()
        probe = encrypt_probe(public, probe_vec, workers=args.workers)
        t1 = time.perf_counter()
        gallery = quantize_gallery(templates, probe.quant)
        t2 = time.perf_counter()
        result, stages = score_with_timings(public, probe, gallery, workers=args.workers)
        t3 = time.perf_counter()
        part_a = partial_decrypt(share_a, result, workers=args.workers)
        t4 = time.perf_counter()
        part_b = partial_decrypt(share_b, result, workers=args.workers)
        t5 = time.perf_counter()
        scores = combine(public, part_a, part_b)
        t6 = time.perf_counter()
        ints = combine_integers(public, part_a, part_b)
        want = gallery @ np.rint(probe_vec * probe.quant.probe_scale).astype(np.int64)
        bound = probe.quant.error_bound(args.dim)
        err = float(np.abs(scores - templates @ probe_vec).max())
        row = {
            "templates": size,
            "slots_per_ciphertext": result.slots,
            "slot_bits": result.slot_bits,
            "result_ciphertexts": len(result.ciphertexts),
            "probe_scale": probe.quant.probe_scale,
            "gallery_scale": probe.quant.gallery_scale,
            "error_bound": bound,
            "max_abs_error": err,
            "exact_integer_scores": bool(np.array_equal(ints, want)),
            "client_encrypt_s": round(t1 - t0, 3),
            "server_score_s": round(t3 - t2, 3),
            "server_precompute_s": round(stages.precompute_s, 3),
            "server_multiexp_s": round(stages.multiexp_s, 3),
            "server_rerandomize_s": round(stages.rerandomize_s, 3),
            "partial_a_s": round(t4 - t3, 3),
            "partial_b_s": round(t5 - t4, 3),
            "combine_s": round(t6 - t5, 3),
            "single_key_crt_decrypt_s": round(
                single_key_decrypt_s(gmpy2, args.bits, len(result.ciphertexts)), 3
            ),
            "total_s": round((t1 - t0) + (t6 - t2), 3),
            "probe_bytes": len(probe.to_bytes()),
            "result_bytes": len(result.to_bytes()),
            "partial_bytes": len(part_a.to_bytes()),
            "peak_rss_mb": round(peak_rss_mb(resource.RUSAGE_SELF), 1),
            "peak_rss_workers_mb": round(peak_rss_mb(resource.RUSAGE_CHILDREN), 1),
            "workers": stages.workers,
            "table_slots": stages.table_slots,
        }
        print(json.dumps(row), file=sys.stderr)
        sizes.append(row)
        if not row["exact_integer_scores"] or err > bound:
            raise SystemExit("decrypted scores do not match the plaintext scores")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
