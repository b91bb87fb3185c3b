"""Score-only model inversion: climb the similarity a service returns for one target.

The attacker holds no image of the target, only a query budget against a 1:1 claim
check that answers with a similarity (exact or rounded), with the decision alone, or
with a refusal. It searches the whitened coefficients ``z`` of an eigenface space built
from other people (:mod:`faceprint.eval.audit.facespace`) with a (1+1) evolution
strategy:

* a proposal is the current point plus isotropic Gaussian noise of step ``σ``, pulled
  back into the ball ``‖z‖ ≤ √K + 3/√2`` (three standard deviations above the typical
  norm of a face drawn from the space), so the search stays among plausible faces;
* fitness is the returned score; with decision-only answers it is the match bit, so
  without a match there is nothing to climb and the run is a random walk — the
  baseline that measurement is meant to show; a no-face answer is ``-inf``;
* a proposal at least as fit as the current point replaces it (ties accepted: rounded
  scores plateau, and a tie is free movement along the plateau);
* ``σ`` follows the 1/5th success rule (Rechenberg; increments ``exp(0.8/d)`` on a
  success, ``exp(-0.2/d)`` otherwise, ``d = √(K+1)``), where a *tie counts as a
  success*: a change too small for the rounding to show means the step is too small to
  be measured, so it grows. With exact scores ties do not occur and the rule is the
  classic one; with decision-only answers and no match ``σ`` grows to its cap (a fresh
  face's spread) and the walk becomes a random search of the space. ``σ`` never falls
  below the step that moves the rendered pixels by one grey level on average
  (:attr:`FaceSpace.pixel_spread`): a smaller one sends the service the same image.

A refused query (HTTP 429) is counted and the same image is sent again — after
waiting ``retry_after`` when that is at most ``max_wait`` seconds, at once otherwise (a
longer wait would not fit the attack) — and the attacker gives up after
``max_refusals`` refusals in a row. Nothing here knows HTTP: an :class:`Oracle` is
anything with ``query(image) -> Answer`` (:class:`PipelineOracle` calls a
:class:`~faceprint.pipeline.FacePipeline` in this process).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import NoFaceError
from faceprint.eval.audit.facespace import FaceSpace, render
from faceprint.media.images import load_image
from faceprint.pipeline import FacePipeline
from faceprint.types import ImageArray, Progress

__all__ = [
    "Answer",
    "Checkpoint",
    "InversionRun",
    "Judgement",
    "Oracle",
    "PipelineOracle",
    "answer_for",
    "invert",
    "judge",
    "reference_embeddings",
]

SIGMA_MAX = 1.0  # a step as large as the spread of a fresh face from the space


@dataclass(frozen=True, slots=True)
class Answer:
    """What one query to the attacked service returned.

    Attributes:
        score: the similarity returned; ``None`` in decision-only mode, when refused or
            when no face was found.
        match: the service's decision; ``None`` when refused or no face was found.
        refused: the query was refused (HTTP 429: a budget or a throttle).
        retry_after: seconds the service asked the client to wait (``Retry-After``).
        no_face: the service found no face in the image (HTTP 422).
    """

    score: float | None
    match: bool | None
    refused: bool = False
    retry_after: float | None = None
    no_face: bool = False


class Oracle(Protocol):
    """The attacked 1:1 claim check for one enrolled target."""

    def query(self, image: NDArray[np.uint8]) -> Answer:
        """Submit an RGB H×W×3 image as the target and return what came back."""
        ...


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The attacker's state after a budget of queries.

    Attributes:
        budget: the nominal query budget of this checkpoint.
        queries: queries actually sent by then (fewer when the run stopped early).
        best_score: best score returned by then (as returned, so possibly rounded);
            ``None`` in decision-only mode.
        best_match: the service's decision on the best image.
        matched: the service said match at least once by then.
        refused: refused queries by then; ``no_face``: queries answered "no face".
        image: the best image by then (the first to reach the best fitness).
        seconds: wall-clock seconds since the run started (waits included).
    """

    budget: int
    queries: int
    best_score: float | None
    best_match: bool | None
    matched: bool
    refused: int
    no_face: int
    image: ImageArray = field(repr=False)
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (without the image)."""
        return {
            "budget": self.budget,
            "queries": self.queries,
            "best_score": self.best_score,
            "best_match": self.best_match,
            "matched": self.matched,
            "refused": self.refused,
            "no_face": self.no_face,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class InversionRun:
    """One attack run: its checkpoints and why it ended.

    ``stopped_reason`` is ``"budget"`` (every query spent) or ``"refused"`` (the
    service kept refusing); ``first_refusal`` is the 1-based index of the first refused
    query. ``improvements`` counts strictly better proposals accepted (zero when the
    answers gave nothing to climb), ``step`` is the final ``σ``.
    """

    mode: str
    checkpoints: tuple[Checkpoint, ...]
    queries_sent: int
    first_refusal: int | None
    stopped_reason: str
    improvements: int
    step: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without images)."""
        return {
            "mode": self.mode,
            "queries_sent": self.queries_sent,
            "first_refusal": self.first_refusal,
            "stopped_reason": self.stopped_reason,
            "improvements": self.improvements,
            "step": self.step,
            "seconds": round(self.seconds, 3),
            "checkpoints": [c.to_dict() for c in self.checkpoints],
        }


def _fitness(answer: Answer) -> float:
    if answer.no_face:
        return -math.inf
    if answer.score is not None:
        return float(answer.score)
    return 1.0 if answer.match else 0.0


@dataclass
class _Best:
    """The fittest image so far (the first to reach that fitness) and its answer."""

    image: ImageArray
    fitness: float = -math.inf
    score: float | None = None
    match: bool | None = None


def invert(
    oracle: Oracle,
    space: FaceSpace,
    *,
    budget: int = 10_000,
    checkpoints: Sequence[int] = (100, 1_000, 10_000),
    seed: int = 0,
    initial_step: float = 0.3,
    max_refusals: int = 3,
    max_wait: float = 10.0,
    mode: str = "",
    sleep: Callable[[float], None] = time.sleep,
    progress: Progress | None = None,
) -> InversionRun:
    """Run the (1+1)-ES of the module docstring against ``oracle`` from the mean face.

    Args:
        oracle: the attacked service for one target.
        space: the attacker's face space.
        budget: queries the attacker may send (refused ones included).
        checkpoints: budgets at which to record the state (those above ``budget`` are
            dropped; ``budget`` itself is always recorded).
        seed: seeds the proposals, so a run can be repeated.
        initial_step: starting ``σ`` in whitened units (0.3: a step of about a third of
            a typical face's distance from the mean).
        max_refusals: refusals in a row after which the attacker gives up.
        max_wait: longest ``Retry-After`` (seconds) the attacker waits out.
        mode: a label carried into the result (e.g. ``"exact"``, ``"2dp"``).
        sleep: how to wait (tests pass a fake).
        progress: called with (queries sent, budget, mode) after every query.

    Returns:
        The run, with one :class:`Checkpoint` per budget (a run stopped early repeats
        its final state at the budgets it did not reach).
    """
    if budget < 1 or max_refusals < 1:
        raise ValueError("budget and max_refusals must be at least 1")
    marks = sorted({c for c in checkpoints if 0 < c <= budget} | {budget})
    rng = np.random.default_rng(seed)
    k = space.dimension
    radius = math.sqrt(k) + 3.0 / math.sqrt(2.0)
    damping = math.sqrt(k + 1.0)
    sigma_min = min(1.0 / max(space.pixel_spread, 1e-6), SIGMA_MAX)
    sigma = float(np.clip(initial_step, sigma_min, SIGMA_MAX))
    start = time.monotonic()
    z = np.zeros(k)
    current = -math.inf
    proposal = z
    image = render(space, proposal)
    best = _Best(image=image)  # the mean face until an answer says better
    sent = refused = no_face = improvements = 0
    matched = False
    first_refusal: int | None = None
    stopped = "budget"
    records: list[Checkpoint] = []

    def record(mark: int) -> None:
        records.append(
            Checkpoint(
                budget=mark,
                queries=sent,
                best_score=best.score,
                best_match=best.match,
                matched=matched,
                refused=refused,
                no_face=no_face,
                image=best.image,
                seconds=time.monotonic() - start,
            )
        )

    streak = 0
    while sent < budget:
        answer = oracle.query(image)
        sent += 1
        if answer.refused:
            refused += 1
            streak += 1
            first_refusal = first_refusal or sent
            if streak >= max_refusals:
                stopped = "refused"
                break
            if answer.retry_after is not None and answer.retry_after <= max_wait:
                sleep(max(answer.retry_after, 0.0))
        else:
            streak = 0
            no_face += answer.no_face
            matched = matched or bool(answer.match)
            value = _fitness(answer)
            if value > best.fitness:
                best = _Best(image, value, answer.score, answer.match)
            success = value >= current  # a tie counts: see the module docstring
            if value > current > -math.inf:
                improvements += 1
            if success:
                z, current = proposal, value
            sigma = float(
                np.clip(
                    sigma * math.exp((0.8 if success else -0.2) / damping), sigma_min, SIGMA_MAX
                )
            )
            proposal = z + sigma * rng.standard_normal(k)
            norm = float(np.linalg.norm(proposal))
            if norm > radius:
                proposal *= radius / norm
            image = render(space, proposal)
        if progress is not None:
            progress(sent, budget, mode)
        while marks and sent == marks[0]:
            record(marks.pop(0))
    for mark in marks:
        record(mark)
    return InversionRun(
        mode=mode,
        checkpoints=tuple(records),
        queries_sent=sent,
        first_refusal=first_refusal,
        stopped_reason=stopped,
        improvements=improvements,
        step=sigma,
        seconds=time.monotonic() - start,
    )


# --- the in-process service and the other embedder's verdict ---------------------------


def reference_embeddings(
    pipeline: FacePipeline, images: Sequence[Path | str | ImageArray]
) -> NDArray[np.float32]:
    """The primary face's embedding of each image (N×D unit rows; images without a face
    are skipped).

    Raises:
        NoFaceError: no image had a face.
    """
    rows = []
    for item in images:
        image = item if isinstance(item, np.ndarray) else load_image(item)
        try:
            rows.append(pipeline.primary_face(image).embedding.vector)
        except NoFaceError:
            continue
    if not rows:
        raise NoFaceError("none of the reference images has a face")
    return np.stack(rows).astype(np.float32)


def _best_similarity(vector: NDArray[np.float32], references: NDArray[np.float32]) -> float:
    """A person scores their best face: the largest cosine to any reference."""
    sims = np.asarray(references, np.float64) @ np.asarray(vector, np.float64)
    return float(np.clip(sims.max(), -1.0, 1.0))


@dataclass(frozen=True, slots=True)
class PipelineOracle:
    """The 1:1 claim check computed in this process: the primary face of the image is
    embedded with ``pipeline`` and scored against the target's enrolled ``references``
    (best face), decided at ``threshold``.

    ``decimals`` rounds the returned score; ``decision_only`` returns no score. The
    decision is always taken on the exact similarity, as a service would.
    """

    pipeline: FacePipeline
    references: NDArray[np.float32]
    threshold: float
    decimals: int | None = None
    decision_only: bool = False

    def query(self, image: NDArray[np.uint8]) -> Answer:
        """Embed ``image`` and answer as the service would."""
        try:
            face = self.pipeline.primary_face(image)
        except NoFaceError:
            return Answer(score=None, match=None, no_face=True)
        value = _best_similarity(face.embedding.vector, self.references)
        return answer_for(
            value,
            threshold=self.threshold,
            decimals=self.decimals,
            decision_only=self.decision_only,
        )


def answer_for(
    value: float, *, threshold: float, decimals: int | None = None, decision_only: bool = False
) -> Answer:
    """What a service answers for an exact similarity: the decision on the exact value,
    and the score rounded to ``decimals`` or withheld (``decision_only``)."""
    match = value >= threshold
    if decision_only:
        return Answer(score=None, match=match)
    return Answer(score=value if decimals is None else round(value, decimals), match=match)


@dataclass(frozen=True, slots=True)
class Judgement:
    """The other embedder's verdict on a reconstruction.

    ``similarity`` is the best cosine to the target's real faces (``None`` when the
    check pipeline found no face), ``match`` whether it reaches the threshold.
    """

    similarity: float | None
    match: bool
    detected: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {"similarity": self.similarity, "match": self.match, "detected": self.detected}


def judge(
    check_pipeline: FacePipeline,
    image: ImageArray,
    references: NDArray[np.float32],
    similarity_threshold: float,
) -> Judgement:
    """Does the reconstruction pass as the target under another model?

    ``references`` are the target's real faces embedded by ``check_pipeline``
    (:func:`reference_embeddings`); the reconstruction is embedded by it too, so a face
    that only fools the attacked model (an adversarial pattern) is not counted.
    """
    try:
        face = check_pipeline.primary_face(image)
    except NoFaceError:
        return Judgement(similarity=None, match=False, detected=False)
    value = _best_similarity(face.embedding.vector, references)
    return Judgement(similarity=value, match=value >= similarity_threshold, detected=True)
