"""PersonIndex: exact top-k cosine search, one hit per group, checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.gallery.index import Hit, PersonIndex


def unit_rows(rng: np.random.Generator, n: int, d: int) -> NDArray[np.float32]:
    m = rng.standard_normal((n, d))
    rows: NDArray[np.float32] = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    return rows


def brute_force(
    matrix: NDArray[np.float32], groups: NDArray[np.int64], probe: NDArray[np.float32], k: int
) -> list[tuple[int, int, float]]:
    """Reference: float64 loops; a group's score is its best row, ties to the lower row."""
    best: dict[int, tuple[float, int]] = {}
    for row in range(len(matrix)):
        sim = float(np.dot(matrix[row].astype(np.float64), probe.astype(np.float64)))
        group = int(groups[row])
        if group not in best or sim > best[group][0]:
            best[group] = (sim, row)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1]))
    return [(g, row, sim) for g, (sim, row) in ranked[:k]]


def assert_same(hits: list[Hit], expected: list[tuple[int, int, float]]) -> None:
    assert [(h.group, h.row) for h in hits] == [(g, r) for g, r, _ in expected]
    for hit, (_, _, sim) in zip(hits, expected, strict=True):
        assert hit.similarity == pytest.approx(sim, abs=1e-5)


@pytest.mark.parametrize(
    ("seed", "n", "n_groups", "d", "k"),
    [
        (0, 1, 1, 8, 1),
        (1, 10, 3, 8, 2),
        (2, 50, 20, 16, 5),
        (3, 50, 20, 16, 20),
        (4, 50, 20, 16, 100),  # k larger than the number of groups
        (5, 200, 200, 32, 7),  # one row per group
        (6, 300, 4, 32, 3),  # many rows per group
    ],
)
def test_matches_brute_force(seed: int, n: int, n_groups: int, d: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = unit_rows(rng, n, d)
    groups = rng.integers(0, n_groups, size=n).astype(np.int64)
    index = PersonIndex(matrix, groups)
    for probe in unit_rows(rng, 5, d):
        hits = index.search(probe, k=k)
        expected = brute_force(matrix, groups, probe, k)
        assert len(hits) == min(k, len(set(groups.tolist())))
        assert_same(hits, expected)


def test_large_gallery_uses_partial_sort_and_stays_exact() -> None:
    rng = np.random.default_rng(42)
    n, n_groups, d = 20_000, 3_000, 64
    matrix = unit_rows(rng, n, d)
    groups = rng.integers(0, n_groups, size=n).astype(np.int64)
    index = PersonIndex(matrix, groups)
    assert len(index) == n
    assert index.groups == len(np.unique(groups))
    probe = unit_rows(rng, 1, d)[0]
    hits = index.search(probe, k=10)
    assert_same(hits, brute_force(matrix, groups, probe, 10))
    sims = [h.similarity for h in hits]
    assert sims == sorted(sims, reverse=True)


def test_enrolled_vector_finds_itself() -> None:
    rng = np.random.default_rng(7)
    matrix = unit_rows(rng, 40, 16)
    groups = np.repeat(np.arange(10, dtype=np.int64), 4)
    hits = PersonIndex(matrix, groups).search(matrix[17], k=3)
    assert hits[0].group == 4
    assert hits[0].row == 17
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-6)
    assert len({h.group for h in hits}) == 3


def test_one_hit_per_group_scores_the_best_face() -> None:
    # Group 0 has a weak and a strong face; group 1 one medium face.
    matrix = np.array([[0.0, 1.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    groups = np.array([0, 0, 1], dtype=np.int64)
    hits = PersonIndex(matrix, groups).search(np.array([1.0, 0.0], dtype=np.float32), k=5)
    assert [(h.group, h.row) for h in hits] == [(0, 1), (1, 2)]
    assert [h.similarity for h in hits] == pytest.approx([1.0, 0.6])


def test_ties_go_to_the_lower_row_within_and_across_groups() -> None:
    e1 = [1.0, 0.0, 0.0]
    e2 = [0.0, 1.0, 0.0]
    # Rows 1 and 3 (group 9) and row 2 (group 5) all equal the probe exactly.
    matrix = np.array([e2, e1, e1, e1, e2], dtype=np.float32)
    groups = np.array([5, 9, 5, 9, 7], dtype=np.int64)
    probe = np.array(e1, dtype=np.float32)
    hits = PersonIndex(matrix, groups).search(probe, k=3)
    assert [(h.group, h.row, h.similarity) for h in hits] == [(9, 1, 1.0), (5, 2, 1.0), (7, 4, 0.0)]


def test_ties_at_the_k_boundary_are_broken_by_row_not_by_partition_order() -> None:
    e1 = [1.0, 0.0]
    # Seven groups with identical scores, labels deliberately out of row order.
    matrix = np.array([e1] * 7, dtype=np.float32)
    groups = np.array([60, 50, 40, 30, 20, 10, 0], dtype=np.int64)
    hits = PersonIndex(matrix, groups).search(np.array(e1, dtype=np.float32), k=3)
    assert [(h.group, h.row) for h in hits] == [(60, 0), (50, 1), (40, 2)]


def test_arbitrary_group_labels_are_returned_verbatim() -> None:
    rng = np.random.default_rng(3)
    matrix = unit_rows(rng, 6, 8)
    groups = np.array([-5, 10**12, -5, 7, 10**12, 7], dtype=np.int64)
    hits = PersonIndex(matrix, groups).search(matrix[1], k=10)
    assert {h.group for h in hits} == {-5, 10**12, 7}
    assert hits[0].group == 10**12
    assert hits[0].row == 1


def test_empty_index_and_non_positive_k_return_nothing() -> None:
    empty = PersonIndex(np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=np.int64))
    assert len(empty) == 0
    assert empty.search(np.array([1.0, 0, 0, 0], dtype=np.float32), k=5) == []
    index = PersonIndex(np.eye(2, dtype=np.float32), np.array([0, 1], dtype=np.int64))
    assert index.search(np.array([1.0, 0.0], dtype=np.float32), k=0) == []


def test_similarity_is_clipped_to_one() -> None:
    v = np.full(3, 1 / np.sqrt(3), dtype=np.float32) * np.float32(1.0000005)
    hits = PersonIndex(v[None, :], np.array([0], dtype=np.int64)).search(v, k=1)
    assert hits[0].similarity <= 1.0
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="N×D"):
        PersonIndex(np.zeros(4, dtype=np.float32), np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="one label per row"):
        PersonIndex(np.zeros((3, 2), dtype=np.float32), np.zeros(2, dtype=np.int64))
    index = PersonIndex(np.eye(3, dtype=np.float32), np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="probe must have shape"):
        index.search(np.full(4, 0.5, dtype=np.float32), k=1)
