"""The inversion optimiser on synthetic oracles: a hidden target in coefficient space.

The oracle recovers the coefficients from the rendered pixels (a least-squares
projection onto the space, exact up to the uint8 rounding of the render) and returns
the cosine to a hidden target direction, so the tests exercise the whole loop
(proposal → render → query → accept) without any model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.eval.audit.facespace import FaceSpace, fit_face_space, render
from faceprint.eval.audit.inversion import Answer, InversionRun, answer_for, invert

K = 12


def _space(seed: int = 0, size: int = 16) -> FaceSpace:
    """A random face space: smooth random 'crops' around mid-grey."""
    rng = np.random.default_rng(seed)
    base = rng.normal(128.0, 8.0, size=(40, size, size, 3))
    crops = np.clip(base, 0, 255).astype(np.uint8)
    return fit_face_space(crops, components=K, face_scale=0.7, render_size=2 * size)


@dataclass
class HiddenTarget:
    """Score = cosine between the query's coefficients and a hidden unit target (with
    an offset so the mean face scores 0.2); matches at ``threshold``."""

    space: FaceSpace
    target: NDArray[np.float64]
    threshold: float = 0.9
    decimals: int | None = None
    decision_only: bool = False
    refuse_after: int | None = None  # refuse every query after this many
    retry_after: float | None = None
    calls: int = 0
    seen: list[float] = field(default_factory=list)

    def coefficients(self, image: NDArray[np.uint8]) -> NDArray[np.float64]:
        import cv2

        small = cv2.resize(
            image.astype(np.float32),
            (self.space.crop_size, self.space.crop_size),
            interpolation=cv2.INTER_AREA,
        )
        return self.space.project(small)

    def query(self, image: NDArray[np.uint8]) -> Answer:
        self.calls += 1
        if self.refuse_after is not None and self.calls > self.refuse_after:
            return Answer(score=None, match=None, refused=True, retry_after=self.retry_after)
        z = self.coefficients(image)
        norm = float(np.linalg.norm(z))
        cos = float(z @ self.target) / norm if norm > 1e-9 else 0.0
        value = 0.2 + 0.8 * cos
        self.seen.append(value)
        return answer_for(
            value,
            threshold=self.threshold,
            decimals=self.decimals,
            decision_only=self.decision_only,
        )


def _target(seed: int = 1) -> NDArray[np.float64]:
    v = np.random.default_rng(seed).standard_normal(K)
    return v / np.linalg.norm(v)


def _scores(run: InversionRun) -> list[float]:
    return [c.best_score for c in run.checkpoints if c.best_score is not None]


def test_exact_scores_climb_and_checkpoints_are_monotone() -> None:
    space = _space()
    oracle = HiddenTarget(space, _target())
    run = invert(oracle, space, budget=600, checkpoints=(20, 100, 600), seed=0, mode="exact")
    assert [c.budget for c in run.checkpoints] == [20, 100, 600]
    assert [c.queries for c in run.checkpoints] == [20, 100, 600]
    scores = _scores(run)
    assert scores == sorted(scores)
    assert oracle.seen[0] < 0.3  # the mean face, roughly
    assert scores[-1] > 0.9 and run.checkpoints[-1].matched
    assert run.checkpoints[-1].best_match is True
    assert run.queries_sent == oracle.calls == 600
    assert run.stopped_reason == "budget" and run.first_refusal is None
    assert run.improvements > 10
    # the step never shrinks below one grey level of pixel change: smaller sends the same image
    assert run.step >= 1.0 / space.pixel_spread - 1e-12
    best = run.checkpoints[-1]
    assert best.image.dtype == np.uint8 and best.image.shape == (32, 32, 3)
    assert math.isclose(max(oracle.seen), best.best_score, abs_tol=1e-12)


def test_two_decimal_scores_still_climb_but_not_faster() -> None:
    space = _space()
    finals = {}
    for decimals in (None, 2):
        totals = []
        for seed in range(3):
            oracle = HiddenTarget(space, _target(seed + 10), decimals=decimals, threshold=2.0)
            invert(oracle, space, budget=300, checkpoints=(300,), seed=seed)
            totals.append(max(oracle.seen))  # exact value of the best query
        finals[decimals] = float(np.mean(totals))
    assert finals[2] > 0.6  # climbs from 0.2 despite the plateaus
    assert finals[2] <= finals[None] + 0.01


def test_decision_only_without_match_gives_nothing_to_climb() -> None:
    space = _space()
    oracle = HiddenTarget(space, _target(), threshold=2.0, decision_only=True)  # never
    run = invert(oracle, space, budget=200, checkpoints=(50, 200), seed=0, mode="decision")
    assert run.improvements == 0
    assert all(c.best_score is None and c.best_match is False for c in run.checkpoints)
    assert not any(c.matched for c in run.checkpoints)
    # no signal: every answer ties, the step grows to its cap (a random search)
    assert run.step == pytest.approx(1.0)
    assert np.array_equal(run.checkpoints[0].image, render(space, np.zeros(space.dimension)))


def test_decision_only_keeps_the_first_matching_image() -> None:
    space = _space()
    oracle = HiddenTarget(space, _target(), threshold=0.45, decision_only=True)
    run = invert(oracle, space, budget=300, checkpoints=(300,), seed=0)
    final = run.checkpoints[-1]
    assert final.matched and final.best_match is True and final.best_score is None


def test_refusals_stop_the_run_and_are_counted() -> None:
    space = _space()
    waits: list[float] = []
    oracle = HiddenTarget(space, _target(), refuse_after=50, retry_after=3600.0)
    run = invert(
        oracle, space, budget=1000, checkpoints=(10, 100, 1000), max_refusals=3, sleep=waits.append
    )
    assert run.stopped_reason == "refused"
    assert run.first_refusal == 51
    assert run.queries_sent == 53 == oracle.calls
    assert waits == []  # an hour is longer than the attacker waits
    first, *later = run.checkpoints
    assert (first.budget, first.queries, first.refused) == (10, 10, 0)
    assert [(c.budget, c.queries, c.refused) for c in later] == [(100, 53, 3), (1000, 53, 3)]
    assert later[0].best_score == later[1].best_score == max(oracle.seen)


def test_short_retry_after_is_waited_out_and_the_same_image_retried() -> None:
    space = _space()
    waits: list[float] = []
    images: list[NDArray[np.uint8]] = []

    class Throttled(HiddenTarget):
        def query(self, image: NDArray[np.uint8]) -> Answer:
            images.append(image)
            if len(images) in (5, 6):  # two refusals in a row, then answers again
                self.calls += 1
                return Answer(score=None, match=None, refused=True, retry_after=0.5)
            return super().query(image)

    oracle = Throttled(space, _target())
    run = invert(oracle, space, budget=40, checkpoints=(40,), max_wait=1.0, sleep=waits.append)
    assert waits == [0.5, 0.5]
    assert np.array_equal(images[4], images[5]) and np.array_equal(images[5], images[6])
    assert run.stopped_reason == "budget" and run.queries_sent == 40
    assert run.first_refusal == 5 and run.checkpoints[-1].refused == 2


def test_every_query_refused_still_reports_the_mean_face() -> None:
    space = _space()
    oracle = HiddenTarget(space, _target(), refuse_after=0)
    run = invert(oracle, space, budget=100, checkpoints=(100,), max_refusals=1)
    assert run.queries_sent == 1 and run.first_refusal == 1
    (only,) = run.checkpoints
    assert only.best_score is None and only.refused == 1 and not only.matched


def test_no_face_answers_are_rejected_and_counted() -> None:
    space = _space()

    class Picky(HiddenTarget):
        def query(self, image: NDArray[np.uint8]) -> Answer:
            if self.calls % 3 == 2:
                self.calls += 1
                return Answer(score=None, match=None, no_face=True)
            return super().query(image)

    oracle = Picky(space, _target())
    run = invert(oracle, space, budget=90, checkpoints=(90,))
    final = run.checkpoints[-1]
    assert final.no_face == 30
    assert final.best_score is not None and final.best_score == max(oracle.seen)


def test_runs_repeat_with_a_seed_and_serialise_without_images() -> None:
    space = _space()
    a = invert(HiddenTarget(space, _target()), space, budget=60, checkpoints=(30,), seed=4)
    b = invert(HiddenTarget(space, _target()), space, budget=60, checkpoints=(30,), seed=4)
    assert [c.best_score for c in a.checkpoints] == [c.best_score for c in b.checkpoints]
    data = a.to_dict()
    assert [c["budget"] for c in data["checkpoints"]] == [30, 60]
    assert "image" not in data["checkpoints"][0]
    import json

    json.dumps(data)


def test_checkpoints_above_the_budget_are_dropped() -> None:
    space = _space()
    run = invert(HiddenTarget(space, _target()), space, budget=50, checkpoints=(10, 100, 1000))
    assert [c.budget for c in run.checkpoints] == [10, 50]
    with pytest.raises(ValueError):
        invert(HiddenTarget(space, _target()), space, budget=0)


def test_face_space_saves_and_loads_without_pickle(tmp_path) -> None:
    space = _space()
    path = space.save(tmp_path / "space.npz")
    again = FaceSpace.load(path)
    assert again.dimension == space.dimension == K
    assert (again.crop_size, again.render_size, again.samples) == (16, 32, 40)
    assert again.face_scale == pytest.approx(0.7)
    z = np.linspace(-1, 1, K)
    assert np.array_equal(render(again, z), render(space, z))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError):
        FaceSpace.load(tmp_path / "other.npz")


def test_pca_components_are_orthonormal_and_whitened() -> None:
    space = _space()
    per_pixel = np.sqrt((space.scales.astype(np.float64) ** 2).sum() / space.mean.size)
    assert space.pixel_spread == pytest.approx(per_pixel)
    gram = space.components @ space.components.T
    assert np.allclose(gram, np.eye(K), atol=1e-4)
    assert np.all(np.diff(space.scales) <= 1e-6)
    # a crop from the space projects back to its coefficients
    z = np.random.default_rng(3).standard_normal(K)
    assert np.allclose(space.project(space.crop(z)), z, atol=1e-3)
