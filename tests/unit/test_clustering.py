"""Pure clustering code: thresholds from a calibration, the kNN graph, Chinese Whispers
and the BCubed / pairwise scores (no weights)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceprint.core.clustering import (
    Graph,
    bcubed_scores,
    chinese_whispers,
    clustering_threshold,
    knn_graph,
    pairwise_scores,
    relabel,
)
from faceprint.errors import CalibrationError
from faceprint.testing import fake_calibration


def _people(n_people: int, per: int, dim: int = 64, spread: float = 0.05, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_people, dim))
    x = np.repeat(centres, per, axis=0) / np.sqrt(dim)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    x = x + spread * rng.standard_normal(x.shape)
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return x, np.repeat(np.arange(n_people), per)


def test_bcubed_and_pairwise_known_values() -> None:
    truth = ["a", "a", "a", "b", "b", "c"]
    # one cluster merges b into a; c alone
    predicted = [1, 1, 1, 1, 1, 2]
    b = bcubed_scores(predicted, truth)
    # precision: a-items 3/5 each (3), b-items 2/5 (2), c 1 → (3*0.6 + 2*0.4 + 1)/6
    assert b.precision == pytest.approx((3 * 0.6 + 2 * 0.4 + 1) / 6)
    assert b.recall == pytest.approx(1.0)
    p = pairwise_scores(predicted, truth)
    # predicted pairs C(5,2)=10, true pairs 3+1=4, together 4
    assert p.precision == pytest.approx(0.4)
    assert p.recall == pytest.approx(1.0)
    assert p.f == pytest.approx(2 * 0.4 / 1.4)


def test_scores_of_perfect_and_all_singletons() -> None:
    truth = [0, 0, 1, 1, 2]
    assert bcubed_scores(truth, truth).f == pytest.approx(1.0)
    alone = list(range(5))
    s = bcubed_scores(alone, truth)
    assert s.precision == 1.0 and s.recall == pytest.approx((0.5 * 4 + 1) / 5)
    assert pairwise_scores(alone, truth).recall == 0.0
    with pytest.raises(ValueError, match="predicted labels"):
        bcubed_scores([1], [1, 2])


def test_threshold_follows_the_number_of_faces() -> None:
    curve = fake_calibration()
    small = clustering_threshold(curve, 100, fpir=0.01)
    large = clustering_threshold(curve, 10_000, fpir=0.01)
    assert small.source == "fpir" and not small.clamped
    assert small.fmr == pytest.approx(-math.expm1(math.log1p(-0.01) / 99))
    assert large.similarity > small.similarity
    assert large.fpir == pytest.approx(0.01, rel=1e-6)
    huge = clustering_threshold(curve, 10**9, fpir=0.01)
    assert huge.clamped and huge.fmr == pytest.approx(1e-6)
    assert huge.fpir is not None and huge.fpir > 0.99  # says honestly what it buys
    given = clustering_threshold(curve, 10, similarity=0.5)
    assert given.source == "user" and given.fmr is not None
    with pytest.raises(CalibrationError, match="no calibration"):
        clustering_threshold(None, 10)
    with pytest.raises(CalibrationError, match="FPIR"):
        clustering_threshold(curve, 10, fpir=1.5)


def test_knn_graph_exact_and_ivf_agree_on_close_pairs() -> None:
    x, _ = _people(300, 5)
    exact = knn_graph(x, threshold=0.6, k=8)
    ivf = knn_graph(x, threshold=0.6, k=8, exact_limit=100)
    assert exact.edges > 1000
    assert np.all(exact.src < exact.dst)
    e = set(zip(exact.src.tolist(), exact.dst.tolist(), strict=True))
    i = set(zip(ivf.src.tolist(), ivf.dst.tolist(), strict=True))
    assert len(e & i) / len(e) > 0.98


def test_knn_graph_quality_gate_and_tiny_inputs() -> None:
    x, _ = _people(10, 3)
    allowed = np.ones(len(x), bool)
    allowed[:3] = False
    g = knn_graph(x, threshold=0.5, allowed=allowed)
    assert not np.isin(np.arange(3), np.concatenate([g.src, g.dst])).any()
    assert knn_graph(x[:1], threshold=0.5).edges == 0


def test_chinese_whispers_recovers_people() -> None:
    x, truth = _people(200, 6)
    g = knn_graph(x, threshold=0.7, k=16)
    labels = chinese_whispers(g)
    assert bcubed_scores(labels.tolist(), truth.tolist()).f > 0.99
    assert labels.max() + 1 == len(set(labels.tolist()))


def test_chinese_whispers_does_not_merge_through_one_edge() -> None:
    # two cliques of 5 joined by a single weak edge stay two clusters
    src, dst, w = [], [], []
    for base in (0, 5):
        for i in range(5):
            for j in range(i + 1, 5):
                src.append(base + i)
                dst.append(base + j)
                w.append(0.8)
    src.append(4)
    dst.append(5)
    w.append(0.6)
    g = Graph(10, np.array(src), np.array(dst), np.array(w, np.float32))
    labels = chinese_whispers(g)
    assert len(set(labels[:5].tolist())) == 1 and len(set(labels[5:].tolist())) == 1
    assert labels[0] != labels[9]


def test_relabel_orders_by_first_appearance() -> None:
    assert relabel([7, 7, 3, 9, 3]).tolist() == [0, 0, 1, 2, 1]
