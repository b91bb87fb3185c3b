"""A collection's rows as int16 with one scale each, to re-rank a scan's candidates.

Each row is stored as ``round(32767 · x / max|x|)`` (two bytes per dimension) and its
float32 scale ``max|x| / 32767``: a dot product moves by 1.8e-6 on average and 1e-5 at
most (5,000 LFW SFace templates). int16 is chosen over float16 for speed: numpy widens
int16 with SIMD but float16 one value at a time (200 candidates × 128 dimensions: 3 µs
against 77 µs here), at the same size. int8 (half the memory) was tried: its dot
products moved by up to 2.8e-3, enough to name the other of a person's two near-equal
faces in the gallery tests, which breaks the per-person maximum.

The rows live in blocks whose sizes double from :data:`FIRST_BLOCK` up to
:data:`LARGEST_BLOCK` rows, so an add never moves rows already written and a gather
touches few blocks. The first block is already large: its unwritten rows are zero
pages the system commits only when written, and a gather within one block is a single
fancy index (over five blocks it cost 0.2 ms of a 2 ms search at 1M faces).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

LEVELS = 32767
"""The largest stored magnitude: a row's peak maps to it."""

FIRST_BLOCK = 1 << 20
"""Rows in the first block (256 MiB of address space at 128-d)."""

LARGEST_BLOCK = 1 << 22
"""No block holds more rows than this (1 GiB at 128-d)."""


def quantise(vectors: NDArray[np.floating]) -> tuple[NDArray[np.int16], NDArray[np.float32]]:
    """``(int16 rows, float32 scales)`` with ``rows * scales[:, None] ≈ vectors``."""
    x = np.asarray(vectors, dtype=np.float32)
    peak = np.abs(x).max(axis=1) if len(x) else np.empty(0, dtype=np.float32)
    scales = np.where(peak > 0, peak / LEVELS, 1.0).astype(np.float32)
    codes = np.rint(x / scales[:, None]).clip(-LEVELS, LEVELS).astype(np.int16)
    return codes, scales


class QuantRows:
    """Rows ``0…`` of ``dim`` values each, written by :meth:`put`."""

    def __init__(self, dim: int) -> None:
        self._dim = dim
        self._codes: list[NDArray[np.int16]] = []
        self._scales: list[NDArray[np.float32]] = []
        self._starts: list[int] = [0]  # first row of each block, then the capacity

    @property
    def capacity(self) -> int:
        return self._starts[-1]

    def _grow(self) -> None:
        size = min(FIRST_BLOCK << len(self._codes), LARGEST_BLOCK)
        # np.zeros maps fresh zero pages: only the rows written are committed
        self._codes.append(np.zeros((size, self._dim), dtype=np.int16))
        self._scales.append(np.zeros(size, dtype=np.float32))
        self._starts.append(self._starts[-1] + size)

    def put(self, start: int, vectors: NDArray[np.floating]) -> None:
        """Write rows ``start…start + len(vectors)`` from float vectors."""
        self.put_quantised(start, *quantise(vectors))

    def put_quantised(
        self, start: int, codes: NDArray[np.int16], scales: NDArray[np.float32]
    ) -> None:
        """Write rows already quantised (as :meth:`saved` gives them back)."""
        end = start + len(codes)
        while self.capacity < end:
            self._grow()
        row = start
        b = int(np.searchsorted(self._starts, row, side="right")) - 1
        while row < end:
            first = self._starts[b]
            n = min(self._starts[b + 1], end) - row
            self._codes[b][row - first : row - first + n] = codes[row - start : row - start + n]
            self._scales[b][row - first : row - first + n] = scales[row - start : row - start + n]
            row += n
            b += 1

    def take(self, rows: NDArray[np.int64]) -> tuple[NDArray[np.int16], NDArray[np.float32]]:
        """The int16 rows and scales of some rows, in the order given: one fancy index
        per block touched."""
        if not self._codes:
            return np.empty((0, self._dim), np.int16), np.empty(0, np.float32)
        if len(self._codes) == 1 or len(rows) == 0:
            return self._codes[0][rows], self._scales[0][rows]
        starts = np.asarray(self._starts, dtype=np.int64)
        which = np.searchsorted(starts, rows, side="right") - 1
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(self._codes) + 1))
        codes = np.empty((len(rows), self._dim), dtype=np.int16)
        scales = np.empty(len(rows), dtype=np.float32)
        for b in range(len(self._codes)):
            if bounds[b + 1] > bounds[b]:
                at = order[bounds[b] : bounds[b + 1]]
                local = rows[at] - starts[b]
                codes[at] = self._codes[b][local]
                scales[at] = self._scales[b][local]
        return codes, scales

    def scores(self, rows: NDArray[np.int64], probe: NDArray[np.float32]) -> NDArray[np.float32]:
        """Approximate dot products of some rows with ``probe``."""
        codes, scales = self.take(rows)
        sims: NDArray[np.float32] = np.einsum("ij,j->i", codes.astype(np.float32), probe) * scales
        return sims

    def gather(self, rows: NDArray[np.int64]) -> NDArray[np.float32]:
        """Approximate float32 copies of some rows, in the order given."""
        codes, scales = self.take(rows)
        out: NDArray[np.float32] = codes.astype(np.float32) * scales[:, None]
        return out

    def chunks(self, used: int) -> Iterator[NDArray[np.float32]]:
        """Rows ``0…used`` as approximate float32, a block at a time."""
        for codes, scales in self.saved(used):
            yield codes.astype(np.float32) * scales[:, None]

    def saved(self, used: int) -> Iterator[tuple[NDArray[np.int16], NDArray[np.float32]]]:
        """Rows ``0…used`` as stored (views), a block at a time."""
        for b, codes in enumerate(self._codes):
            n = min(len(codes), used - self._starts[b])
            if n <= 0:
                break
            yield codes[:n], self._scales[b][:n]

    def nbytes(self, used: int) -> int:
        """Bytes of the rows in use (a block's unwritten rows are uncommitted zero pages)."""
        return used * (2 * self._dim + 4)
