"""How a gallery and a probe are laid out in CKKS slots (pure numpy, no encryption).

The server computes every similarity ``s = G · p`` of an encrypted probe ``p`` (``dim``
values) against a gallery ``G`` (``n × dim``) with plaintext–ciphertext products and
rotations only. The layout is the packed *diagonal* method of Halevi–Shoup with
baby-step/giant-step rotations (Halevi & Shoup, "Algorithms in HElib", 2014):

* The probe is zero-padded to ``width`` (the next power of two ≥ ``dim``) and repeated
  to fill all ``slots`` (``N/2``) of one ciphertext. Rotating it by ``k`` gives, in the
  slot of template row ``u``, probe value ``(u mod width + k) mod width``.
* A *chunk* scores ``2 × slots`` templates in one ciphertext: row ``u`` of the chunk's
  first half is the real part of slot ``u``, row ``u`` of its second half the imaginary
  part (a real probe times a complex plaintext keeps the two apart), so one product
  scores two templates per slot.
* Diagonal ``k`` of a chunk holds, in slot ``u``, template ``u``'s value
  ``(u mod width + k) mod width``; ``Σ_k diag_k ⊙ rot(probe, k)`` is every score.
* With ``k = baby·j + i`` the ``baby − 1`` rotations of the probe are shared by every
  chunk, and each chunk needs ``giant − 1`` rotations of partial sums (the diagonals are
  stored pre-rotated by ``−baby·j``, so ``Σ_j rot(Σ_i pdiag_{j,i} ⊙ rot(p, i), baby·j)``).
  :func:`plan` picks ``baby`` to minimise the rotations for a gallery's chunk count.

Nothing here depends on TenSEAL; :mod:`faceprint.privacy.ckks` encodes these arrays.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from faceprint.errors import UsageError

__all__ = [
    "BABY_STEPS",
    "Plan",
    "Share",
    "chunk_diagonals",
    "plan",
    "probe_slots",
    "split_work",
    "unpack_scores",
]

BABY_STEPS = (16,)
"""The baby-step sizes a key set supports (its Galois keys cover each; :func:`plan`
picks one per gallery). The largest is capped at ``width``."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The slot layout of one gallery: sizes and the rotation schedule."""

    dim: int
    """Embedding dimension (values of the probe)."""
    width: int
    """``dim`` padded to a power of two; the period of the repeated probe."""
    slots: int
    """Slots of one ciphertext (``N / 2``)."""
    count: int
    """Templates laid out."""
    baby: int
    """Baby steps: the probe is rotated by ``1 … baby − 1``."""

    @property
    def giant(self) -> int:
        """Giant steps (``width / baby``)."""
        return self.width // self.baby

    @property
    def per_chunk(self) -> int:
        """Templates one ciphertext scores (two per slot)."""
        return 2 * self.slots

    @property
    def chunks(self) -> int:
        """Ciphertexts the gallery's scores need."""
        return max(1, -(-self.count // self.per_chunk))

    @property
    def rotations(self) -> int:
        """Rotations of one search: baby steps once, giant steps per chunk."""
        return (self.baby - 1) + self.chunks * (self.giant - 1)

    def steps(self) -> tuple[int, ...]:
        """Every rotation step this plan uses (baby ``1 … baby−1``, giant ``baby·j``)."""
        return tuple(range(1, self.baby)) + tuple(self.baby * j for j in range(1, self.giant))


def padded_width(dim: int) -> int:
    """``dim`` rounded up to a power of two."""
    return 1 << max(0, (dim - 1).bit_length())


def supported_steps(dim: int, slots: int) -> tuple[int, ...]:
    """Every rotation step any :func:`plan` for ``dim`` may use (what keys must cover)."""
    width = padded_width(dim)
    steps: set[int] = set()
    for baby in _babies(width):
        steps.update(range(1, baby))
        steps.update(baby * j for j in range(1, width // baby))
    return tuple(sorted(s for s in steps if s < slots))


def _babies(width: int) -> tuple[int, ...]:
    choices = tuple(b for b in BABY_STEPS if b <= width)
    return choices or (width,)


def plan(dim: int, count: int, *, slots: int) -> Plan:
    """The layout with the fewest rotations for ``count`` templates of ``dim`` values.

    Raises:
        UsageError: ``dim`` or ``count`` is not positive, or ``dim`` does not fit a
            ciphertext (``width > slots``).
    """
    if dim < 1 or count < 0:
        raise UsageError(f"cannot lay out {count} templates of {dim} values")
    width = padded_width(dim)
    if width > slots:
        raise UsageError(f"{dim}-d templates do not fit {slots} slots; use a larger ring")
    best: Plan | None = None
    for baby in _babies(width):
        candidate = Plan(dim=dim, width=width, slots=slots, count=count, baby=baby)
        if best is None or candidate.rotations < best.rotations:
            best = candidate
    assert best is not None  # _babies is never empty
    return best


def probe_slots(vector: np.ndarray, layout: Plan) -> np.ndarray:
    """The probe zero-padded to ``width`` and repeated over every slot (float64).

    Raises:
        UsageError: the vector does not have ``layout.dim`` values.
    """
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    if v.shape[0] != layout.dim:
        raise UsageError(f"a {v.shape[0]}-d probe for a gallery of {layout.dim}-d templates")
    padded = np.zeros(layout.width)
    padded[: layout.dim] = v
    return np.tile(padded, layout.slots // layout.width)


def chunk_diagonals(gallery: np.ndarray, layout: Plan, chunk: int) -> np.ndarray:
    """The pre-rotated complex diagonals of one chunk: ``(giant, baby, slots)`` complex128.

    ``[j, i]`` is diagonal ``baby·j + i`` rotated by ``−baby·j``; rows past the gallery's
    end are zero (their scores decrypt as 0).
    """
    start = chunk * layout.per_chunk
    rows = np.zeros((layout.per_chunk, layout.width), dtype=np.float64)
    part = np.asarray(gallery[start : start + layout.per_chunk], dtype=np.float64)
    rows[: part.shape[0], : layout.dim] = part
    packed = rows[: layout.slots] + 1j * rows[layout.slots :]
    u = np.arange(layout.slots)
    lane = u % layout.width
    out = np.empty((layout.giant, layout.baby, layout.slots), dtype=np.complex128)
    for j in range(layout.giant):
        for i in range(layout.baby):
            k = layout.baby * j + i
            out[j, i] = np.roll(packed[u, (lane + k) % layout.width], layout.baby * j)
    return out


def unpack_scores(chunks: list[np.ndarray], layout: Plan) -> np.ndarray:
    """Per-template values (float64, ``count``) from each chunk's decoded complex slots."""
    if len(chunks) != layout.chunks:
        raise UsageError(f"{len(chunks)} result ciphertexts for a {layout.chunks}-chunk gallery")
    parts = [np.concatenate([np.real(c), np.imag(c)]) for c in chunks]
    return np.concatenate(parts)[: layout.count]


@dataclass(frozen=True, slots=True)
class Share:
    """One worker's part of a search: chunks ``chunks`` × baby steps ``babies``."""

    chunks: range
    babies: range


# Relative costs of one operation at N = 8192 (measured on this project's CI machine,
# see docs/privacy.md): a rotation of a fresh ciphertext, a rotation after the rescale,
# a product plus its addition, a rescale.
_ROTATE_TOP, _ROTATE_LOW, _MULTIPLY_ADD, _RESCALE = 2.3, 0.9, 0.18, 0.47


def share_cost(layout: Plan, share: Share) -> float:
    """A model of one worker's time for ``share`` (arbitrary units)."""
    babies = len(share.babies) - (1 if 0 in share.babies else 0)
    chunks = len(share.chunks)
    per_chunk = layout.giant * (len(share.babies) * _MULTIPLY_ADD + _RESCALE)
    per_chunk += (layout.giant - 1) * _ROTATE_LOW
    return babies * _ROTATE_TOP + chunks * per_chunk


def split_work(layout: Plan, workers: int) -> list[Share]:
    """Split a search between ``workers`` processes: by chunks, by baby steps, or both
    (a grid), whichever makes the slowest worker fastest under :func:`share_cost`.
    Splitting baby steps pays off for small galleries (a few chunks), where each worker
    would otherwise repeat every probe rotation."""
    best: list[Share] = [Share(range(layout.chunks), range(layout.baby))]
    best_cost = share_cost(layout, best[0])
    for by_baby in range(1, workers + 1):
        by_chunk = workers // by_baby
        if by_chunk < 1 or by_baby > layout.baby or by_chunk > layout.chunks:
            continue
        shares = [
            Share(c, b)
            for c in _ranges(layout.chunks, by_chunk)
            for b in _ranges(layout.baby, by_baby)
        ]
        cost = max(share_cost(layout, s) for s in shares)
        if cost < best_cost * 0.97:
            best, best_cost = shares, cost
    return best


def _ranges(total: int, parts: int) -> list[range]:
    edges = np.linspace(0, total, parts + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in itertools.pairwise(edges)]
