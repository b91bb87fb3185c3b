"""Exact cosine search over unit-norm embeddings, one candidate per person.

A person (any integer *group* label) scores the maximum similarity over their face
templates. Search is one matrix-vector product plus O(N) numpy work per probe:
per-group maxima with :func:`numpy.maximum.reduceat` and a partial sort
(:func:`numpy.argpartition`) of the groups; nothing loops over faces in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class Hit:
    """One candidate: the group (person) label, the row of its best face, the similarity."""

    group: int
    row: int
    similarity: float


class PersonIndex:
    """Exact top-k search returning at most one hit per group, best first.

    Ties in similarity are broken by the lower row index, both between the faces of one
    group and between groups, so results are deterministic; callers that load rows in
    enrolment order get "earliest enrolled wins".

    Args:
        matrix: N×D float32 embeddings, rows unit-norm (not re-checked).
        groups: N int64 group labels (person ids), one per row, in any order.

    Raises:
        ValueError: ``matrix`` is not 2-D or ``groups`` does not have N entries.
    """

    def __init__(self, matrix: NDArray[np.float32], groups: NDArray[np.int64]) -> None:
        if matrix.ndim != 2:
            raise ValueError(f"matrix must be N×D, got shape {matrix.shape}")
        if groups.shape != (matrix.shape[0],):
            raise ValueError(
                f"groups must have one label per row ({matrix.shape[0]}), got shape {groups.shape}"
            )
        self._matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        # Rows grouped by label; the stable sort keeps row order inside each group.
        self._perm = np.argsort(groups, kind="stable").astype(np.int64)
        grouped = groups[self._perm]
        boundary = np.ones(len(grouped), dtype=bool)
        boundary[1:] = grouped[1:] != grouped[:-1]
        self._starts = np.flatnonzero(boundary)
        self._labels = grouped[self._starts]
        self._segment = np.cumsum(boundary) - 1  # segment index of each grouped row

    def __len__(self) -> int:
        """Number of rows (face templates)."""
        return int(self._matrix.shape[0])

    @property
    def dimension(self) -> int:
        return int(self._matrix.shape[1])

    @property
    def groups(self) -> int:
        """Number of distinct groups (persons)."""
        return len(self._labels)

    def search(self, probe: NDArray[np.float32], *, k: int) -> list[Hit]:
        """The best ``k`` groups for one probe, best first, one hit per group.

        Args:
            probe: D float32 unit-norm vector.
            k: how many groups to return; fewer come back when there are fewer groups.

        Returns:
            Up to ``k`` :class:`Hit` with cosine similarity in ``[-1, 1]``; empty when
            the index is empty or ``k`` < 1.

        Raises:
            ValueError: ``probe`` is not a D-vector (checked only when the index is not empty).
        """
        n_groups = self.groups
        if n_groups == 0 or k < 1:
            return []
        if probe.shape != (self.dimension,):
            raise ValueError(f"probe must have shape ({self.dimension},), got {probe.shape}")
        sims = (self._matrix @ probe.astype(np.float32, copy=False))[self._perm]
        best = np.maximum.reduceat(sims, self._starts)
        take = min(k, n_groups)
        if take < n_groups:
            top = np.argpartition(-best, take - 1)[:take]
            # Keep every group tied with the k-th score so tie-breaking stays exact.
            candidates = np.flatnonzero(best >= best[top].min())
        else:
            candidates = np.arange(n_groups)
        # First row (lowest original index) reaching its group's maximum.
        at_max = np.flatnonzero(sims == best[self._segment])
        first = np.ones(len(at_max), dtype=bool)
        first[1:] = self._segment[at_max[1:]] != self._segment[at_max[:-1]]
        best_row = self._perm[at_max[first]]  # one per group, in group order
        order = candidates[np.lexsort((best_row[candidates], -best[candidates]))][:take]
        return [
            Hit(
                group=int(self._labels[g]),
                row=int(best_row[g]),
                similarity=float(np.clip(best[g], -1.0, 1.0)),
            )
            for g in order
        ]
