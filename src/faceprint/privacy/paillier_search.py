"""Packed encrypted 1:N scoring under (threshold) Paillier: quantization, probe encryption,
server-side scoring.

The client quantizes its unit probe ``x`` to ``p = round(Sp·x)`` and sends ``Enc(p_i)`` per
coordinate. The server holds its gallery quantized to ``g = round(Sg·y)`` (plaintext) and
returns, for each block of ``k`` templates, one ciphertext of ``Σ_s s_s·B^s`` with
``s_s = p·g_s`` (exact integers; ``B = 2^w`` the slot base, signed slots in balanced form,
``B^k < n/2``).

Scoring, per probe: (1) precompute ``T[i][s] = Enc(p_i)^{B^s}`` for ``s < k1`` (``d·k1·w``
squarings, shared by every block; ``k1 = k`` for large galleries, smaller for small ones,
sub-blocks then joined by Horner's rule: :func:`.paillier_kernels.table_slots`); (2) per
(sub-)block, ``Π_{i,s} T[i][s]^{g[s][i]}`` as one bucket (Pippenger-style) multi-exponentiation with a single window over the offset values
``u = g − min g``: bases are folded into a running product in decreasing ``u``, and the
running product is folded into the total at each distinct value (``total = Π_u A_u^u``),
then ``· (Π T)^{min g}``: about one modular multiplication per (template, coordinate) plus
one per distinct gallery value; (3) multiply each output by a fresh ``rⁿ`` so it is a
uniformly random encryption of its plaintext (hides how it was computed). All three stages
run on a process pool (gmpy2 holds the GIL for n²-sized products, so threads do not scale).

Quantization error: with ``|x − p/Sp|_∞ ≤ 1/(2Sp)``, ``|y − g/Sg|_∞ ≤ 1/(2Sg)`` and unit
``x, y`` of dimension d, ``|x·y − p·g/(Sp·Sg)| ≤ (√d/2)(1/Sp + 1/Sg) + d/(4·Sp·Sg)``
(:meth:`Quantization.error_bound`); :meth:`Quantization.for_dim` picks the smallest
power-of-two scales with ``Sp = 4·Sg`` that keep it ≤ 1e-3 (d = 128: Sg = 2^13, Sp = 2^15,
bound 8.6e-4; d = 512: Sg = 2^14, Sp = 2^16, bound 8.6e-4).
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import UsageError, WrongKeyError

from . import paillier_kernels as kernels
from .paillier_keys import PublicKey
from .paillier_wire import Reader, Writer


@dataclass(frozen=True, slots=True)
class Quantization:
    """Integer scales: probe coordinates ``round(probe_scale·x)``, gallery coordinates
    ``round(gallery_scale·y)``; integer scores are divided by ``probe_scale·gallery_scale``."""

    probe_scale: int = 1 << 15
    gallery_scale: int = 1 << 13

    @classmethod
    def for_dim(cls, dim: int, *, max_error: float = 1e-3) -> Quantization:
        """Smallest power-of-two scales (``Sp = 4·Sg``) whose worst-case score error for
        unit vectors of ``dim`` is ≤ ``max_error``. Raises UsageError for dim < 1."""
        if dim < 1 or not max_error > 0:
            raise UsageError(f"need dim ≥ 1 and max_error > 0, got {dim}, {max_error}")
        sg = 1
        while cls(probe_scale=4 * sg, gallery_scale=sg).error_bound(dim) > max_error:
            sg *= 2
        return cls(probe_scale=4 * sg, gallery_scale=sg)

    def error_bound(self, dim: int) -> float:
        """Worst-case ``|x·y − score|`` for unit x, y of ``dim`` (rounding both)."""
        half = math.sqrt(dim) / 2
        return (
            half / self.probe_scale
            + half / self.gallery_scale
            + dim / (4 * self.probe_scale * self.gallery_scale)
        )

    def max_abs_score(self, dim: int) -> int:
        """Bound on ``|p·g|`` (Cauchy–Schwarz on the quantized norms, +1 margin each)."""
        half = math.sqrt(dim) / 2
        return math.ceil((self.probe_scale + half + 1) * (self.gallery_scale + half + 1))

    def slot_bits(self, dim: int) -> int:
        """Slot width w: signed scores fit in ``(−2^{w−1}, 2^{w−1})``."""
        return self.max_abs_score(dim).bit_length() + 1


def quantize(vectors: NDArray[Any], scale: int, *, what: str) -> NDArray[np.int64]:
    """``round(scale·v/‖v‖)`` row-wise for (N, d) or (d,) unit vectors (norm within 1e-3).
    Raises UsageError for non-finite, non-unit or empty input."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] == 0 or arr.size == 0:
        raise UsageError(f"{what} must be (d,) or (N, d) with d ≥ 1, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise UsageError(f"{what} contains NaN or infinity")
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    if np.any(np.abs(norms - 1.0) > 1e-3):
        raise UsageError(f"{what} must be unit-norm (L2-normalized embeddings)")
    out: NDArray[np.int64] = np.rint(arr / norms * scale).astype(np.int64)
    return out


def quantize_gallery(matrix: NDArray[Any], quant: Quantization) -> NDArray[np.int64]:
    """(N, d) unit templates → (N, d) int64 at ``quant.gallery_scale`` (the server's copy)."""
    out = quantize(matrix, quant.gallery_scale, what="gallery")
    return out.reshape(-1, out.shape[-1])


@dataclass(frozen=True, slots=True)
class EncryptedProbe:
    """``Enc(p_i)`` per coordinate (``dim`` ciphertexts of ``public.ciphertext_bytes``)."""

    key_id: str
    quant: Quantization
    ciphertexts: tuple[int, ...]

    @property
    def dim(self) -> int:
        return len(self.ciphertexts)

    def to_bytes(self) -> bytes:
        q = self.quant
        header = {"key_id": self.key_id, "sp": q.probe_scale, "sg": q.gallery_scale}
        w = Writer("probe", header)
        for c in self.ciphertexts:
            w.add_int(c)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedProbe:
        """Raises UsageError for bytes that are not a serialized encrypted probe."""
        r = Reader(data, "probe")
        h = r.header
        try:
            quant = Quantization(probe_scale=int(h["sp"]), gallery_scale=int(h["sg"]))
            key_id = str(h["key_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError("encrypted probe bytes are damaged (header)") from exc
        if quant.probe_scale < 1 or quant.gallery_scale < 1:
            raise UsageError("encrypted probe bytes are damaged (scales)")
        return cls(key_id=key_id, quant=quant, ciphertexts=tuple(r.rest_ints()))


@dataclass(frozen=True, slots=True)
class EncryptedScores:
    """Packed encrypted scores of ``count`` templates, ``slots`` per ciphertext (the last
    one may hold fewer), ``slot_bits`` each; integer scores divide by ``scale``."""

    key_id: str
    count: int
    slots: int
    slot_bits: int
    scale: int
    ciphertexts: tuple[int, ...]

    @property
    def layout(self) -> tuple[int, int, int, int]:
        return (self.count, self.slots, self.slot_bits, self.scale)

    @property
    def digest(self) -> str:
        """SHA-256 over layout and ciphertexts: binds partial decryptions to this result."""
        h = hashlib.sha256(repr((self.key_id, self.layout)).encode())
        for c in self.ciphertexts:
            h.update(c.to_bytes((c.bit_length() + 7) // 8 + 1, "big"))
        return h.hexdigest()

    def to_bytes(self) -> bytes:
        header = {"key_id": self.key_id, "layout": list(self.layout)}
        w = Writer("scores", header)
        for c in self.ciphertexts:
            w.add_int(c)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedScores:
        """Raises UsageError for bytes that are not serialized encrypted scores."""
        r = Reader(data, "scores")
        try:
            count, slots, bits, scale = (int(v) for v in r.header["layout"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError("encrypted scores bytes are damaged (layout)") from exc
        cts = tuple(r.rest_ints())
        if min(count, slots, bits, scale) < 1 or len(cts) != -(-count // slots):
            raise UsageError("encrypted scores bytes are damaged (ciphertext count)")
        return cls(str(r.header["key_id"]), count, slots, bits, scale, cts)


@dataclass(frozen=True, slots=True)
class ScoreTimings:
    """Wall-clock seconds of each server stage, the pool size and the slots the
    precomputed table covered (:func:`table_slots`)."""

    precompute_s: float
    multiexp_s: float
    rerandomize_s: float
    workers: int
    table_slots: int


def _split(items: list[Any], parts: int) -> list[list[Any]]:
    size = -(-len(items) // max(1, parts))
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def default_workers() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def _map(pool: Executor | None, fn: Any, chunks: list[Any], *shared: Any) -> list[Any]:
    calls = [(*shared, *c) if isinstance(c, tuple) else (*shared, c) for c in chunks]
    if pool is None:
        return [fn(*args) for args in calls]
    futures = [pool.submit(fn, *args) for args in calls]
    return [f.result() for f in futures]


def encrypt_probe(
    public: PublicKey,
    vector: NDArray[Any],
    quant: Quantization | None = None,
    *,
    workers: int = 1,
) -> EncryptedProbe:
    """Client side: quantize a unit (d,) probe and encrypt each coordinate (fresh rⁿ).

    ``quant`` defaults to :meth:`Quantization.for_dim`. Raises UsageError for a
    non-unit or non-finite vector or one that is not 1-D."""
    q = quant or Quantization.for_dim(int(np.asarray(vector).shape[-1]))
    ints = quantize(vector, q.probe_scale, what="probe")
    if ints.ndim != 1:
        raise UsageError(f"the probe must be one (d,) vector, got shape {ints.shape}")
    chunks = _split([int(v) for v in ints], workers)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = _map(pool, kernels.encrypt_chunk, chunks, public.n)
    else:
        parts = _map(None, kernels.encrypt_chunk, chunks, public.n)
    return EncryptedProbe(public.key_id, q, tuple(c for part in parts for c in part))


def score(
    public: PublicKey,
    probe: EncryptedProbe,
    gallery: NDArray[Any],
    *,
    workers: int | None = None,
) -> EncryptedScores:
    """Server side: packed encrypted scores of every gallery row against the probe.

    See :func:`score_with_timings` (same arguments)."""
    return score_with_timings(public, probe, gallery, workers=workers)[0]


def score_with_timings(
    public: PublicKey,
    probe: EncryptedProbe,
    gallery: NDArray[Any],
    *,
    workers: int | None = None,
) -> tuple[EncryptedScores, ScoreTimings]:
    """Server side, with per-stage timings.

    ``gallery`` is (N, d): integers already at ``probe.quant.gallery_scale`` (from
    :func:`quantize_gallery`) or unit float templates (quantized here). ``workers``:
    processes (default: all CPUs; 1 runs in this process). Raises WrongKeyError when the
    probe is for another key, UsageError for a dimension mismatch, an empty gallery or
    integer rows longer than a quantized unit vector (their scores could overflow a slot).
    """
    if probe.key_id != public.key_id:
        raise WrongKeyError(f"the probe is encrypted under key {probe.key_id}, not {public.key_id}")
    q = probe.quant
    if not all(0 < c < public.n2 for c in probe.ciphertexts):
        raise UsageError("the encrypted probe holds values outside Z/n²: damaged input")
    arr = np.asarray(gallery)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] != probe.dim:
        raise UsageError(f"gallery must be (N, {probe.dim}) with N ≥ 1, got {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        ints = arr.astype(np.int64)
        limit = q.gallery_scale + math.sqrt(probe.dim) / 2 + 1
        if np.any(np.linalg.norm(ints.astype(np.float64), axis=1) > limit):
            raise UsageError(
                "gallery rows are longer than unit vectors at this gallery scale; "
                "quantize them with quantize_gallery(matrix, probe.quant)"
            )
    else:
        ints = quantize_gallery(arr, q)
    dim = probe.dim
    bits = q.slot_bits(dim)
    slots = (public.bits - 2) // bits
    if slots < 1:
        raise UsageError(f"a {public.bits}-bit key cannot hold one {bits}-bit score slot")
    slots = min(slots, ints.shape[0])
    nproc = max(1, workers if workers is not None else default_workers())
    blocks = [ints[i : i + slots].tobytes() for i in range(0, ints.shape[0], slots)]
    pool = ProcessPoolExecutor(max_workers=nproc) if nproc > 1 else None
    try:
        t0 = time.perf_counter()
        stride = kernels.table_slots(ints, slots, len(blocks), bits)
        coord_chunks = _split(list(probe.ciphertexts), nproc)
        parts = _map(
            pool, kernels.precompute_chunk, [(c, bits, stride) for c in coord_chunks], public.n
        )
        table = [t for part in parts for t in part]
        t1 = time.perf_counter()
        block_chunks = _split(blocks, nproc)
        chunks = [(table, stride, bits, c) for c in block_chunks]
        parts = _map(pool, kernels.multiexp_chunk, chunks, public.n)
        packed = [c for part in parts for c in part]
        t2 = time.perf_counter()
        parts = _map(pool, kernels.rerandomize_chunk, _split(packed, nproc), public.n)
        final = tuple(c for part in parts for c in part)
        t3 = time.perf_counter()
    finally:
        if pool is not None:
            pool.shutdown()
    result = EncryptedScores(
        key_id=public.key_id,
        count=int(ints.shape[0]),
        slots=slots,
        slot_bits=bits,
        scale=q.probe_scale * q.gallery_scale,
        ciphertexts=final,
    )
    return result, ScoreTimings(t1 - t0, t2 - t1, t3 - t2, nproc, stride)


def unpack(plaintexts: list[int], n: int, layout: tuple[int, int, int, int]) -> list[int]:
    """Signed integer scores from packed plaintexts (balanced base-2^w digits).

    Raises UsageError when a plaintext does not unpack into in-range slots (not a result
    of :func:`score`)."""
    count, slots, bits, _ = layout
    if len(plaintexts) != -(-count // slots):
        raise UsageError("the number of decrypted ciphertexts does not match the layout")
    base, half, mask = 1 << bits, 1 << (bits - 1), (1 << bits) - 1
    out: list[int] = []
    for j, m in enumerate(plaintexts):
        value = m - n if m > n // 2 else m
        for _ in range(min(slots, count - j * slots)):
            digit = value & mask
            if digit >= half:
                digit -= base
            out.append(digit)
            value = (value - digit) >> bits
        if value != 0:
            raise UsageError("a decrypted result does not unpack into score slots")
    return out
