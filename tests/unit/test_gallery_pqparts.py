"""The PQ index's parts: int16 rows in growing blocks, and the faiss codes.

No weights: seeded random unit vectors.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.gallery import qrows
from faceprint.gallery.pq import PqIndex
from faceprint.gallery.pqcodes import PqCodes
from faceprint.gallery.qrows import QuantRows, quantise


def unit_rows(rng: np.random.Generator, n: int, d: int) -> NDArray[np.float32]:
    m = rng.standard_normal((n, d))
    rows: NDArray[np.float32] = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    return rows


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qrows, "FIRST_BLOCK", 8)
    monkeypatch.setattr(qrows, "LARGEST_BLOCK", 32)


def test_int16_rows_are_within_half_a_step_of_the_vectors() -> None:
    rows = unit_rows(np.random.default_rng(0), 500, 128)
    rows[3] = 0.0  # an all-zero row keeps a usable scale
    codes, scales = quantise(rows)
    assert codes.dtype == np.int16 and np.abs(codes).max() == qrows.LEVELS
    back = codes.astype(np.float32) * scales[:, None]
    assert np.all(np.abs(back - rows) <= 0.5 * scales[:, None] + 1e-7)
    assert np.all(back[3] == 0.0)
    probe = unit_rows(np.random.default_rng(1), 1, 128)[0]
    error = np.abs(back @ probe - rows @ probe)
    # the re-ranking error: each dimension is off by at most half a step (max|x| / 65534)
    assert error.max() <= 0.5 * float(scales.max()) * np.abs(probe).sum()
    assert error.max() < 1e-4


def test_rows_grow_in_doubling_blocks_and_gather_in_any_order(small_blocks: None) -> None:
    rows = unit_rows(np.random.default_rng(0), 150, 6)
    store = QuantRows(6)
    # uneven writes that straddle block boundaries (blocks of 8, 16, 32, 32, …)
    for start, end in [(0, 5), (5, 30), (30, 31), (31, 150)]:
        store.put(start, rows[start:end])
    assert store.capacity == 8 + 16 + 32 + 32 + 32 + 32
    codes, scales = quantise(rows)
    exact = codes.astype(np.float32) * scales[:, None]
    want = np.array([149, 0, 7, 8, 23, 24, 55, 56, 3, 149], dtype=np.int64)
    np.testing.assert_array_equal(store.gather(want), exact[want])
    probe = rows[10]
    np.testing.assert_allclose(store.scores(want, probe), exact[want] @ probe, atol=1e-6)
    assert store.gather(np.empty(0, dtype=np.int64)).shape == (0, 6)
    saved = list(store.saved(100))
    assert [len(c) for c, _ in saved] == [8, 16, 32, 32, 12]
    np.testing.assert_array_equal(np.concatenate([c for c, _ in saved]), codes[:100])
    np.testing.assert_array_equal(np.concatenate(list(store.chunks(100))), exact[:100])
    assert store.nbytes(100) == 100 * (2 * 6 + 4)


def test_rows_rewrite_in_place_and_copy_without_requantising(small_blocks: None) -> None:
    store = QuantRows(2)
    store.put(0, np.ones((20, 2), dtype=np.float32))
    store.put(6, np.full((4, 2), 3.0, dtype=np.float32))
    got = store.gather(np.arange(20, dtype=np.int64))[:, 0]
    np.testing.assert_allclose(got, [1.0] * 6 + [3.0] * 4 + [1.0] * 10, rtol=1e-6)
    copy = QuantRows(2)
    pick = np.array([19, 7, 0], dtype=np.int64)
    copy.put_quantised(0, *store.take(pick))
    np.testing.assert_array_equal(copy.gather(np.arange(3, dtype=np.int64)), store.gather(pick))


def trained(rng: np.random.Generator, d: int = 16) -> PqCodes:
    return PqCodes.train(unit_rows(rng, 2000, d), subquantizers=d // 4)


def test_a_batch_finds_what_single_probes_find() -> None:
    rng = np.random.default_rng(1)
    rows = unit_rows(rng, 3001, 16)
    codes = trained(np.random.default_rng(2))
    for start, end in [(0, 1), (1, 1000), (1000, 1002), (1002, 3001)]:  # uneven adds
        codes.add(rows[start:end])
    assert len(codes) == 3001 and codes.dim == 16
    probes = rows[[5, 1500, 3000]] + 0.05 * unit_rows(rng, 3, 16)
    batch = codes.search(probes, 50)  # several OpenMP threads
    assert batch.shape == (3, 50)
    for probe, row, planted in zip(probes, batch, [5, 1500, 3000], strict=True):
        alone = codes.search(probe[None], 50)[0]  # one thread
        assert set(alone.tolist()) == set(row.tolist())
        assert planted in row


def test_short_results_pad_with_minus_one() -> None:
    codes = trained(np.random.default_rng(3))
    codes.add(unit_rows(np.random.default_rng(4), 7, 16))
    found = codes.search(unit_rows(np.random.default_rng(5), 2, 16), 10)
    assert found.shape == (2, 10)
    for row in found:
        assert sorted(r for r in row.tolist() if r >= 0) == list(range(7))


def test_codes_round_trip_and_reject_a_mismatch() -> None:
    codes = trained(np.random.default_rng(6))
    rows = unit_rows(np.random.default_rng(7), 100, 16)
    codes.add(rows)
    handle = io.BytesIO()
    codes.dump(handle)
    back = PqCodes.read(handle.getvalue(), 16, 100)
    np.testing.assert_array_equal(back.search(rows[:4], 5), codes.search(rows[:4], 5))
    with pytest.raises(ValueError, match="do not hold"):
        PqCodes.read(handle.getvalue(), 16, 101)
    with pytest.raises(ValueError, match="unreadable"):
        PqCodes.read(handle.getvalue()[:50], 16, 100)


def test_pq_index_survives_removals_and_a_save(tmp_path: Path, small_blocks: None) -> None:
    rng = np.random.default_rng(8)
    rows = unit_rows(rng, 1500, 16)
    ids = np.arange(1, 1501, dtype=np.int64)
    index = PqIndex(16)
    index.add(ids, ids // 3, rows)
    index.remove(ids[::50])
    assert index.trained and index.removed == 30
    probe = rows[701] + 0.02 * unit_rows(rng, 1, 16)[0]
    hits = index.search(probe, 5)
    assert hits.face_ids[0] == 702 and not set(hits.face_ids.tolist()) & set(ids[::50].tolist())
    index.save(tmp_path / "c")
    back = PqIndex.load(tmp_path / "c", 16)
    assert back.search(probe, 5).face_ids.tolist() == hits.face_ids.tolist()
