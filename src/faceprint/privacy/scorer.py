"""The server's arithmetic: similarities of an encrypted probe against a block of chunks.

A :class:`ChunkScorer` holds one block of a gallery's chunks, ready to multiply: the
pre-rotated diagonals (:func:`faceprint.privacy.layout.chunk_diagonals`) encoded as
plaintexts, or — for a gallery its owner encrypted — as ciphertexts. A search rotates the
probe ``baby − 1`` times, multiplies and adds per giant step, rescales, rotates the
partial sums into place and adds them: one ciphertext of scores per chunk.

In ``decision`` mode each chunk's scores ``z`` (real part: one template, imaginary part
another) become ``r₁·(Re z − t) + i·r₂·(Im z − t)`` with fresh random factors
``r₁, r₂ ∈ [2³, 2⁶]`` per slot and per search (log-uniform), computed as
``α ⊙ (z − t) + β ⊙ conj(z − t)`` with ``α = (r₁ + r₂)/2``, ``β = (r₁ − r₂)/2``: the
client's decryption shows each template's decision (the sign) and nothing usable of
its score. Random factors come from the operating system's CSPRNG.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from faceprint.errors import UsageError
from faceprint.privacy import layout as lay
from faceprint.privacy.ckks import SCALE, KeySet

__all__ = ["MARGIN_SCALE", "ChunkScorer", "add_partials", "finish", "random_factors", "share_blobs"]

MARGIN_SCALE = 2.0**10
"""Scale of the random factors of a ``decision`` result (no rescale after them)."""
_FACTOR_LOG2 = (3.0, 6.0)


class ChunkScorer:
    """Chunks ``first … first + len − 1`` of a gallery laid out by ``plan``, restricted to
    the baby steps ``babies`` (a worker may hold only some: the partial sums of all the
    workers add up to the scores)."""

    def __init__(
        self,
        keys: KeySet,
        plan: lay.Plan,
        *,
        first: int,
        babies: range,
        diagonals: Sequence[Sequence[Sequence[Any]]],
        encrypted: bool,
    ) -> None:
        self.keys = keys
        self.plan = plan
        self.first = first
        self.babies = babies
        self.diagonals = diagonals
        self.encrypted = encrypted
        self._api = keys.api

    @classmethod
    def from_matrix(
        cls,
        keys: KeySet,
        plan: lay.Plan,
        rows: np.ndarray,
        *,
        first: int,
        count: int,
        babies: range | None = None,
    ) -> ChunkScorer:
        """Encode chunks ``first … first + count − 1`` of a plaintext gallery, given
        their ``rows`` (the gallery's rows from ``first × plan.per_chunk`` on)."""
        api = keys.api
        level = keys.context.first_parms_id()
        steps = babies if babies is not None else range(plan.baby)
        blocks = []
        for chunk in range(count):
            diags = lay.chunk_diagonals(rows, plan, chunk)
            giants = []
            for j in range(plan.giant):
                row = []
                for i in steps:
                    plain = api.Plaintext()
                    keys.encoder.encode(diags[j, i].tolist(), level, SCALE, plain)
                    row.append(plain)
                giants.append(row)
            blocks.append(giants)
        return cls(keys, plan, first=first, babies=steps, diagonals=blocks, encrypted=False)

    @classmethod
    def from_encrypted(
        cls, keys: KeySet, plan: lay.Plan, blobs: Sequence[bytes], *, share: lay.Share
    ) -> ChunkScorer:
        """Load one share of an encrypted gallery: its ciphertexts as
        :func:`share_blobs` picks them.

        Raises:
            UsageError: the number of ciphertexts does not match the share, or one is
                damaged or made for other keys.
        """
        width = len(share.babies)
        if len(blobs) != len(share.chunks) * plan.giant * width:
            raise UsageError("the encrypted gallery does not match its layout; it is damaged")
        loaded = [keys.load_ciphertext(b, what="an encrypted diagonal") for b in blobs]
        blocks = []
        for c in range(len(share.chunks)):
            at = c * plan.giant * width
            blocks.append(
                [loaded[at + j * width : at + (j + 1) * width] for j in range(plan.giant)]
            )
        return cls(
            keys,
            plan,
            first=share.chunks.start,
            babies=share.babies,
            diagonals=blocks,
            encrypted=True,
        )

    @property
    def chunks(self) -> int:
        return len(self.diagonals)

    def partial(self, probe: Any) -> list[Any]:
        """This block's share of the scores: one ciphertext per chunk (the sum over every
        worker's baby steps is the chunk's scores).

        Raises:
            UsageError: a probe ciphertext that is not a fresh encryption for these keys.
        """
        if probe.parms_id() != self.keys.context.first_parms_id():
            raise UsageError("the probe ciphertext is not a fresh encryption for these keys")
        ev, gk = self.keys.evaluator, self.keys.part("galois")
        baby = []
        for i in self.babies:
            if i == 0:
                baby.append(probe)
                continue
            rotated = self._api.Ciphertext()
            ev.rotate_vector(probe, i, gk, rotated)
            baby.append(rotated)
        return [self._chunk(baby, block) for block in self.diagonals]

    def _chunk(self, baby: list[Any], block: Sequence[Sequence[Any]]) -> Any:
        ev, gk = self.keys.evaluator, self.keys.part("galois")
        total = None
        for j, row in enumerate(block):
            inner = None
            for i, diag in enumerate(row):
                term = self._api.Ciphertext()
                if self.encrypted:
                    ev.multiply(baby[i], diag, term)
                else:
                    ev.multiply_plain(baby[i], diag, term)
                if inner is None:
                    inner = term
                else:
                    ev.add_inplace(inner, term)
            assert inner is not None  # a block holds at least one baby step
            ev.rescale_to_next_inplace(inner)
            if self.encrypted:  # after the rescale: key switching at one prime is cheaper
                ev.relinearize_inplace(inner, self.keys.part("relin"))
            if j:
                moved = self._api.Ciphertext()
                ev.rotate_vector(inner, self.plan.baby * j, gk, moved)
                inner = moved
            if total is None:
                total = inner
            else:
                ev.add_inplace(total, inner)
        return total


def random_factors(keys: KeySet, count: int) -> list[tuple[Any, Any]]:
    """Fresh ``(α, β)`` plaintexts for ``count`` chunks of a ``decision`` result, encoded
    at the level the scores reach (the server encodes them while its workers compute).

    ``α = (r₁ + r₂)/2`` and ``β = (r₁ − r₂)/2`` with ``r₁, r₂`` log-uniform in
    ``[2³, 2⁶]`` per slot, drawn from the operating system's CSPRNG for every search.
    """
    api, enc = keys.api, keys.encoder
    level = keys.context.first_context_data().next_context_data().parms_id()
    slots = enc.slot_count()
    rng = np.random.default_rng(secrets.randbits(128))
    out = []
    for _ in range(count):
        r1, r2 = (np.exp2(rng.uniform(*_FACTOR_LOG2, size=slots)) for _ in range(2))
        alpha, beta = api.Plaintext(), api.Plaintext()
        enc.encode(((r1 + r2) / 2).tolist(), level, MARGIN_SCALE, alpha)
        enc.encode(((r1 - r2) / 2).tolist(), level, MARGIN_SCALE, beta)
        out.append((alpha, beta))
    return out


def finish(
    keys: KeySet,
    scores: Any,
    *,
    mode: str,
    threshold: float,
    factors: tuple[Any, Any] | None = None,
) -> Any:
    """A chunk's result: its scores as they are (``scores`` mode), or
    ``r₁·(Re z − t) + i·r₂·(Im z − t)`` (``decision``), with ``factors`` from
    :func:`random_factors` (fresh ones are drawn when not given).

    Raises:
        UsageError: an unknown mode.
    """
    if mode == "scores":
        return scores
    if mode != "decision":
        raise UsageError(f"unknown result mode {mode!r}; use decision or scores")
    api, ev, enc = keys.api, keys.evaluator, keys.encoder
    alpha, beta = factors if factors is not None else random_factors(keys, 1)[0]
    shift = api.Plaintext()
    enc.encode(complex(-threshold, -threshold), scores.parms_id(), scores.scale, shift)
    ev.add_plain_inplace(scores, shift)
    mirrored = api.Ciphertext()
    ev.complex_conjugate(scores, keys.part("galois"), mirrored)
    ev.multiply_plain_inplace(scores, alpha)
    ev.multiply_plain_inplace(mirrored, beta)
    ev.add_inplace(scores, mirrored)
    return scores


def share_blobs(plan: lay.Plan, blobs: Sequence[bytes], share: lay.Share) -> list[bytes]:
    """The ciphertexts of one share, from an encrypted gallery's (chunk, giant, baby)
    ordered list.

    Raises:
        UsageError: the gallery's ciphertext count does not match its layout.
    """
    per_chunk = plan.giant * plan.baby
    if len(blobs) != plan.chunks * per_chunk:
        raise UsageError("the encrypted gallery does not match its layout; it is damaged")
    return [
        blobs[c * per_chunk + j * plan.baby + i]
        for c in share.chunks
        for j in range(plan.giant)
        for i in share.babies
    ]


def add_partials(keys: KeySet, parts: Sequence[Any]) -> Any:
    """The sum of several workers' partial scores of one chunk."""
    total = parts[0]
    for other in parts[1:]:
        keys.evaluator.add_inplace(total, other)
    return total
