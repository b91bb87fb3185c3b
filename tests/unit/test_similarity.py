"""Cosine similarity helpers."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.core.similarity import cosine_similarity, normalize_rows, similarity_matrix


def test_normalize_rows_gives_unit_rows_and_keeps_zero_rows():
    m = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]])
    n = normalize_rows(m)
    np.testing.assert_allclose(n, [[0.6, 0.8], [0, 0], [-1, 0]], atol=1e-7)
    assert n.dtype == np.float32


@pytest.mark.parametrize("bad", [np.ones(3), np.array([[np.nan, 1.0]])])
def test_normalize_rows_rejects(bad):
    with pytest.raises(ValueError):
        normalize_rows(bad)


def test_cosine_similarity_values():
    assert cosine_similarity([1, 0], [0, 1]) == pytest.approx(0.0)
    assert cosine_similarity([1, 1], [2, 2]) == pytest.approx(1.0)
    assert cosine_similarity([1, 0], [-3, 0]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        cosine_similarity([0, 0], [1, 0])
    with pytest.raises(ValueError):
        cosine_similarity([1, 0, 0], [1, 0])


def test_similarity_matrix_matches_pairwise():
    rng = np.random.default_rng(1)
    a = normalize_rows(rng.standard_normal((4, 8)))
    b = normalize_rows(rng.standard_normal((3, 8)))
    s = similarity_matrix(a, b)
    assert s.shape == (4, 3)
    assert s[2, 1] == pytest.approx(cosine_similarity(a[2], b[1]), abs=1e-6)
