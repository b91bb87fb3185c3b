"""Cosine similarity on unit vectors. A function named ``*similarity*`` never returns a
distance: higher always means more alike."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def normalize_rows(matrix: NDArray[np.floating], *, eps: float = 1e-12) -> NDArray[np.float32]:
    """Scale each row of an N×D matrix to unit L2 norm (all-zero rows stay zero).

    Raises:
        ValueError: the input is not 2-D or contains non-finite values.
    """
    m = np.asarray(matrix, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f"expected an N×D matrix, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("embeddings contain NaN or infinity")
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    out: NDArray[np.float32] = (m / np.maximum(norms, eps)).astype(np.float32)
    return out


def cosine_similarity(a: NDArray[np.floating], b: NDArray[np.floating]) -> float:
    """Cosine similarity of two 1-D vectors, in [-1, 1].

    Raises:
        ValueError: shapes differ or a vector is zero.
    """
    va = np.asarray(a, dtype=np.float64).ravel()
    vb = np.asarray(b, dtype=np.float64).ravel()
    if va.shape != vb.shape:
        raise ValueError(f"vectors differ in dimension: {va.shape[0]} vs {vb.shape[0]}")
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    if na == 0.0 or nb == 0.0:
        raise ValueError("cannot compare a zero vector")
    return float(np.clip(va @ vb / (na * nb), -1.0, 1.0))


def similarity_matrix(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float32]:
    """Cosine similarities between the rows of unit-norm A (N×D) and B (M×D): N×M."""
    return (np.asarray(a, dtype=np.float32) @ np.asarray(b, dtype=np.float32).T).astype(np.float32)
