"""Modular-arithmetic kernels of the packed Paillier scoring (run on a process pool, so
they live at module level and take and return plain ints and bytes).

* :func:`precompute_chunk`: ``T[i][s] = Enc(p_i)^{B^s}`` by repeated powering.
* :func:`bucket`: one bucket (Pippenger-style) multi-exponentiation ``Π T[i][s]^{g[s][i]}``
  with a single window over the offset values — about one n²-product per (template,
  coordinate) plus one per distinct value.
* :func:`multiexp_chunk`: one packed ciphertext per block, sub-blocks joined by Horner.
* :func:`table_slots`: how many slots to precompute, from a cost model.
* :func:`encrypt_chunk`, :func:`rerandomize_chunk`: fresh ``rⁿ`` factors.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .paillier_keys import gmp


def random_unit(g: Any, n: Any) -> Any:
    while True:
        r = g.mpz(secrets.randbelow(int(n) - 1) + 1)
        if g.gcd(r, n) == 1:
            return r


def encrypt_chunk(n_int: int, values: list[int]) -> list[int]:
    g = gmp()
    n = g.mpz(n_int)
    n2 = n * n
    return [int((1 + (v % n) * n) * g.powmod(random_unit(g, n), n, n2) % n2) for v in values]


def rerandomize_chunk(n_int: int, cts: list[int]) -> list[int]:
    g = gmp()
    n = g.mpz(n_int)
    n2 = n * n
    return [int(g.mpz(c) * g.powmod(random_unit(g, n), n, n2) % n2) for c in cts]


def precompute_chunk(n_int: int, cts: list[int], slot_bits: int, slots: int) -> list[int]:
    """Flattened ``[c, c^B, c^{B²}, …, c^{B^{k−1}}]`` for each ciphertext c."""
    g = gmp()
    n2 = g.mpz(n_int) ** 2
    base = g.mpz(1) << slot_bits
    out: list[int] = []
    for c in cts:
        t = g.mpz(c)
        for _ in range(slots):
            out.append(int(t))
            t = g.powmod(t, base, n2)
    return out


def bucket(g: Any, n2: Any, tab: list[Any], rows: NDArray[np.int64], stride: int) -> Any:
    """``Π_{s,i} T[i][s]^{rows[s,i]}`` with ``T[i][s] = tab[i·stride + s]``: one window over
    ``u = rows − min``, bases folded into a running product in decreasing u, the running
    product folded into the total once per distinct u (``Π_u A_u^u``), then ``·(Π T)^min``."""
    k_b, dim = rows.shape
    low = int(rows.min())
    u = (rows - low).ravel()  # (s, i) row-major
    index = (np.arange(dim)[None, :] * stride + np.arange(k_b)[:, None]).ravel()
    order = np.argsort(-u, kind="stable")
    su, sidx = u[order], index[order]
    cuts = np.flatnonzero(np.diff(su)) + 1
    starts = np.concatenate(([0], cuts)).tolist()
    ends = np.concatenate((cuts, [len(su)])).tolist()
    values = [*su[starts].tolist(), 0]
    idx = sidx.tolist()
    running = g.mpz(1)
    total = g.mpz(1)
    for j, (a, b) in enumerate(zip(starts, ends, strict=True)):
        for t in idx[a:b]:
            running = running * tab[t] % n2
        gap = values[j] - values[j + 1]
        if gap == 1:
            total = total * running % n2
        elif gap > 1:
            total = total * power(g, running, gap, n2) % n2
    if low:
        total = total * g.powmod(running, low, n2) % n2
    return total


def power(g: Any, x: Any, e: int, n2: Any) -> Any:
    """``x^e mod n²``; square-and-multiply here for small e (GMP's powmod costs about four
    products of set-up), powmod above."""
    if e >= 64:
        return g.powmod(x, e, n2)
    result = None
    for bit in bin(e)[2:]:
        result = x if result is None else result * result % n2
        if bit == "1" and result is not x:
            result = result * x % n2
    return result


def bucket_cost(rows: NDArray[np.int64]) -> int:
    """Modular products :func:`_bucket` spends on ``rows`` (bases + folds + gap powers)."""
    vals = np.unique(rows)[::-1] - int(rows.min())
    gaps = -np.diff(np.append(vals, 0))
    gaps = gaps[gaps > 0]
    extra = sum(e.bit_length() - 1 + e.bit_count() - 1 for e in gaps.tolist())
    return int(rows.size + len(gaps) + extra)


def multiexp_chunk(
    n_int: int, table: list[int], stride: int, slot_bits: int, blocks: list[bytes]
) -> list[int]:
    """One packed ciphertext per block (the int64 bytes of its (k_b, d) rows). The table
    covers ``stride`` slots; a block of more slots is cut into sub-blocks of ``stride``
    rows, each bucketed on its own, and joined by Horner's rule in ``B^stride``."""
    g = gmp()
    n2 = g.mpz(n_int) ** 2
    tab = [g.mpz(t) for t in table]
    dim = len(tab) // stride
    shift = g.mpz(1) << (slot_bits * stride)
    out = []
    for raw in blocks:
        rows = np.frombuffer(raw, dtype=np.int64).reshape(-1, dim)
        subs = [rows[i : i + stride] for i in range(0, rows.shape[0], stride)]
        acc = bucket(g, n2, tab, subs[-1], stride)
        for sub in reversed(subs[:-1]):
            acc = g.powmod(acc, shift, n2) * bucket(g, n2, tab, sub, stride) % n2
        out.append(int(acc))
    return out


def table_slots(rows: NDArray[np.int64], slots: int, blocks: int, slot_bits: int) -> int:
    """Slots the precomputed table covers, from a cost model in modular multiplications:
    table ``d·k1·w`` squarings once, then per block the bucket products of each sub-block
    (counted on the first block: bases, folds, gap powers) and ``(k − k1)·w`` Horner
    squarings. Few blocks favour a short table, many blocks the full one."""
    dim = rows.shape[1]
    first = rows[:slots]
    best, best_cost = slots, float("inf")
    for k1 in sorted({max(1, -(-slots // part)) for part in (1, 2, 3, 4, 6, 8)}):
        subs = [first[i : i + k1] for i in range(0, first.shape[0], k1)]
        per_block = sum(bucket_cost(sub) for sub in subs) + (len(subs) - 1) * k1 * slot_bits
        cost = dim * k1 * slot_bits + blocks * per_block
        if cost < best_cost:
            best, best_cost = k1, cost
    return best
