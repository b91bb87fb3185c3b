"""The CKKS slot layout and the wire format, checked in plain numpy (no encryption)."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.errors import UsageError
from faceprint.privacy import layout as lay
from faceprint.privacy.labels import Labels
from faceprint.privacy.wire import pack, unpack


def _rot(x: np.ndarray, k: int) -> np.ndarray:
    """CKKS rotate_vector(x, k): slot u takes slot u + k."""
    return np.roll(x, -k)


def _simulate(plan: lay.Plan, gallery: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """The server's arithmetic of faceprint.privacy.scorer, on complex numpy slots."""
    p = lay.probe_slots(probe, plan)
    baby = [_rot(p, i) for i in range(plan.baby)]
    chunks = []
    for c in range(plan.chunks):
        d = lay.chunk_diagonals(gallery, plan, c)
        total = np.zeros(plan.slots, dtype=complex)
        for j in range(plan.giant):
            inner = sum(d[j, i] * baby[i] for i in range(plan.baby))
            total += _rot(inner, plan.baby * j)
        chunks.append(total)
    return lay.unpack_scores(chunks, plan)


@pytest.mark.parametrize(
    ("dim", "count", "slots"),
    [(128, 10, 4096), (128, 9000, 4096), (100, 700, 256), (512, 300, 1024)],
)
def test_layout_computes_every_similarity(dim: int, count: int, slots: int) -> None:
    rng = np.random.default_rng(dim + count)
    gallery = rng.standard_normal((count, dim))
    probe = rng.standard_normal(dim)
    plan = lay.plan(dim, count, slots=slots)
    assert plan.width >= dim and plan.baby * plan.giant == plan.width
    assert plan.chunks == -(-count // (2 * slots))
    np.testing.assert_allclose(_simulate(plan, gallery, probe), gallery @ probe, atol=1e-9)


def test_plan_steps_are_covered_by_the_keys() -> None:
    for count in (1, 10_000, 100_000, 1_000_000):
        plan = lay.plan(128, count, slots=4096)
        assert set(plan.steps()) <= set(lay.supported_steps(128, 4096))
        assert plan.rotations == plan.baby - 1 + plan.chunks * (plan.giant - 1)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(UsageError):
        lay.plan(8192, 10, slots=4096)
    with pytest.raises(UsageError):
        lay.plan(0, 10, slots=4096)
    plan = lay.plan(128, 10, slots=4096)
    with pytest.raises(UsageError, match="64-d probe"):
        lay.probe_slots(np.zeros(64), plan)
    with pytest.raises(UsageError):
        lay.unpack_scores([], plan)


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("count", [100, 10_000, 100_000])
def test_work_split_covers_each_product_once(workers: int, count: int) -> None:
    plan = lay.plan(128, count, slots=4096)
    shares = lay.split_work(plan, workers)
    assert 1 <= len(shares) <= workers
    cells = [(c, b) for s in shares for c in s.chunks for b in s.babies]
    assert sorted(cells) == [(c, b) for c in range(plan.chunks) for b in range(plan.baby)]
    whole = lay.share_cost(plan, lay.Share(range(plan.chunks), range(plan.baby)))
    assert max(lay.share_cost(plan, s) for s in shares) <= whole


def test_wire_frames_round_trip_and_refuse_damage() -> None:
    data = pack({"kind": "probe", "n": 3}, [b"abc", b"", bytes(range(256))])
    frame = unpack(data)
    assert frame.kind == "probe" and frame.header["n"] == 3
    assert frame.blobs == (b"abc", b"", bytes(range(256)))
    assert frame.expect("probe") is frame
    with pytest.raises(UsageError, match="expected a faceprint result"):
        frame.expect("result")
    for broken in (
        b"",
        b"PK\x03\x04" + data[4:],
        data[:-1],
        data + b"x",
        data[:4] + b"\x09" + data[5:],
    ):
        with pytest.raises(UsageError):
            unpack(broken)


def test_labels_round_trip_and_refuse_damage() -> None:
    labels = Labels.of_persons(["b", "a", "b"], face_ids=[7, 8, 2**40], collection="team")
    back = Labels.from_header(labels.header())
    assert back == labels and back.names == ("a", "b") and back.person_of == (1, 0, 1)
    with pytest.raises(UsageError):
        Labels.from_header({**labels.header(), "names": ["a"]})
    with pytest.raises(UsageError):
        Labels.from_header({**labels.header(), "face_ids": "%%%"})
