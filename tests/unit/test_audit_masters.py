"""Master embeddings and wolves on synthetic embeddings with a known structure."""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np
import pytest

from faceprint.errors import ConfigError, DatasetError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.eval.audit.masters import find_master_embeddings, wolves

D = 64


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _set(vectors: np.ndarray, persons: list[str]) -> AuditSet:
    n = len(persons)
    return AuditSet(
        model_id="synthetic",
        paths=tuple(f"{p}/{p}_{i:04d}.jpg" for i, p in enumerate(persons)),
        persons=tuple(persons),
        vectors=_unit(vectors),
        gender=("male",) * n,
        age=np.full(n, 30.0, dtype=np.float32),
    )


def _exact_count(audit: AuditSet, v: np.ndarray, similarity: float) -> int:
    """Identities matched by ``v``, counted the slow, obvious way."""
    sims = audit.vectors @ v
    return len({p for p, s in zip(audit.persons, sims, strict=True) if s >= similarity})


@pytest.fixture(scope="module")
def planted() -> tuple[AuditSet, np.ndarray]:
    """200 identities of 2 faces in general position, 30 of them (one face each) sitting
    in a tight cap around a secret direction; no single face is near many others."""
    rng = np.random.default_rng(7)
    secret = _unit(rng.normal(size=D))
    vectors = rng.normal(size=(400, D))
    noise = rng.normal(size=(30, D))
    noise -= (noise @ secret)[:, None] * secret  # orthogonal: every cap member at cos 0.85
    vectors[:30] = secret * 0.85 + _unit(noise) * 0.527
    persons = [f"id{i % 200:03d}" for i in range(400)]
    return _set(vectors, persons), secret


def test_a_planted_cluster_is_found_by_one_master_vector(planted):
    audit, secret = planted
    result = find_master_embeddings(audit, similarity=0.8, k=3, seed=0)
    # every cap member is at cos 0.85 from the secret direction: one vector covers them
    assert result.counts[0] >= 30
    assert float(result.vectors[0] @ secret) > 0.9
    # each real face reaches far fewer: the cap's pairwise cosines are ~0.72 < 0.8
    assert result.face_coverage[0] * result.identities < 8
    assert result.counts[0] > 3 * result.face_coverage[0] * result.identities


def test_counts_are_exact_cumulative_and_monotone(planted):
    audit, _ = planted
    result = find_master_embeddings(audit, similarity=0.8, k=5, seed=1)
    assert len(result.coverage) == len(result.counts) == 5
    assert list(result.counts) == sorted(result.counts)
    assert all(a <= b for a, b in pairwise(result.coverage))
    assert result.coverage[-1] == pytest.approx(result.counts[-1] / 200)
    union: set[str] = set()
    for k, v in enumerate(result.vectors):
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
        sims = audit.vectors @ v
        union |= {p for p, s in zip(audit.persons, sims, strict=True) if s >= 0.8}
        assert len(union) == result.counts[k]


def test_greedy_beats_random_vectors_and_real_faces(planted):
    audit, _ = planted
    result = find_master_embeddings(audit, similarity=0.8, k=4, seed=0)
    for k in range(4):
        assert result.coverage[k] > result.random_coverage[k]
        assert result.coverage[k] >= result.face_coverage[k]
    assert result.random_coverage[-1] < 0.05  # random directions in 64-D match nothing


def test_the_optimiser_beats_its_best_seed():
    """Identities spread on a ring of directions: the best real face reaches only its
    neighbours, the best vector sits between the ring and its centre."""
    rng = np.random.default_rng(3)
    axis = _unit(rng.normal(size=D))
    ring = _unit(rng.normal(size=(60, D)))
    ring -= (ring @ axis)[:, None] * axis  # orthogonal to the axis
    vectors = 0.6 * axis + 0.8 * _unit(ring)
    audit = _set(vectors, [f"r{i:02d}" for i in range(60)])
    result = find_master_embeddings(audit, similarity=0.5, k=1, seed=0)
    assert result.counts[0] == _exact_count(audit, result.vectors[0], 0.5)
    assert result.counts[0] >= 55  # the axis itself reaches every member (cos 0.6)
    assert result.face_coverage[0] * 60 < 20


def test_identities_are_scored_by_their_best_face():
    """An identity with one face near the master counts once, however many faces it has."""
    rng = np.random.default_rng(5)
    target = _unit(rng.normal(size=D))
    near = [target * 0.95 + _unit(rng.normal(size=D)) * 0.31 for _ in range(6)]
    far = list(rng.normal(size=(6, D)))
    vectors = np.array(near + far)
    persons = ["a", "a", "a", "b", "c", "d"] + [f"f{i}" for i in range(6)]
    result = find_master_embeddings(_set(vectors, persons), similarity=0.8, k=1)
    assert result.counts == (4,)
    assert result.identities == 10


def test_wolves_count_other_identities_only():
    rng = np.random.default_rng(11)
    wolf = _unit(rng.normal(size=D))
    sheep = [wolf * 0.9 + _unit(rng.normal(size=D)) * 0.44 for _ in range(4)]
    others = list(rng.normal(size=(20, D)))
    vectors = np.array([wolf, wolf * 0.99 + _unit(rng.normal(size=D)) * 0.14, *sheep, *others])
    persons = ["wolf", "wolf", "s1", "s2", "s3", "s4"] + [f"o{i}" for i in range(20)]
    audit = _set(vectors, persons)
    top = wolves(audit, similarity=0.8, top=3)
    assert top[0].person == "wolf" and top[0].matched_identities == 4
    assert len(top) == 3
    assert all(a.matched_identities >= b.matched_identities for a, b in pairwise(top))
    assert top[0].to_dict()["path"].startswith("wolf/")


def test_result_is_json_ready_and_seeded(planted):
    audit, _ = planted
    a = find_master_embeddings(audit, similarity=0.8, name="FMR 1e-3", k=2, seed=4)
    b = find_master_embeddings(audit, similarity=0.8, name="FMR 1e-3", k=2, seed=4)
    assert a.counts == b.counts and np.array_equal(a.vectors, b.vectors)
    data = json.loads(json.dumps(a.to_dict()))
    assert data["threshold_name"] == "FMR 1e-3"
    assert len(data["vectors"]) == 2 and len(data["vectors"][0]) == D
    assert 0.0 <= data["mean_coverage"] <= 1.0


def test_full_coverage_stops_gaining():
    rng = np.random.default_rng(2)
    centre = _unit(rng.normal(size=D))
    vectors = centre + _unit(rng.normal(size=(6, D))) * 0.1
    result = find_master_embeddings(_set(vectors, list("abcdef")), similarity=0.5, k=3)
    assert result.counts == (6, 6, 6)
    assert result.coverage == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(("similarity", "k"), [(1.5, 3), (-1.0, 3), (0.5, 0)])
def test_bad_arguments_raise_config_errors(planted, similarity, k):
    with pytest.raises(ConfigError):
        find_master_embeddings(planted[0], similarity=similarity, k=k)


def test_an_inconsistent_set_is_refused():
    with pytest.raises(DatasetError):
        AuditSet("m", ("a/1.jpg",), ("a",), np.zeros((2, 4), np.float32), ("male",),
                 np.zeros(1, np.float32))  # fmt: skip


def test_gradient_ascent_climbs_from_a_poor_seed():
    """From one ring member alone (it matches only itself), the ascent finds the axis
    direction that matches the whole ring: the optimiser, not the seeding, does it."""
    from faceprint.eval.audit.masters import _ascend, _Gallery

    rng = np.random.default_rng(8)
    axis = _unit(rng.normal(size=D))
    ring = rng.normal(size=(40, D))
    ring -= (ring @ axis)[:, None] * axis
    audit = _set(0.6 * axis + 0.8 * _unit(ring), [f"r{i:02d}" for i in range(40)])
    gallery = _Gallery(audit)
    rows = np.arange(len(audit), dtype=np.int64)
    seed = gallery.vectors[:1].copy()
    assert _exact_count(audit, seed[0], 0.5) <= 3
    vector, count = _ascend(gallery, rows, seed, 0.5, iterations=60)
    assert count == _exact_count(audit, vector, 0.5)
    assert count >= 36
    assert float(vector @ axis) > 0.5
