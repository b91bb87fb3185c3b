"""Attribute-matched impersonation: does a look-alike by gender and age get in?

Each target identity is enrolled with one template (its first face in the
:class:`~faceprint.eval.audit.dataset.AuditSet`). An attacker presents ``attempts``
faces of *other* identities that share the target's predicted gender and age band
(bands of 10 years: <20, 20–29, …, 50–59, 60+, from the template face's predicted age,
the probe faces' bands from theirs), and, as a peer, ``attempts`` faces of other
identities drawn at random. A target is impersonated when at least one of its probes
reaches the threshold against its template. Draws are seeded and shared by every
threshold, so rates are comparable across thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ConfigError, DatasetError
from faceprint.eval.audit.dataset import AuditSet

__all__ = [
    "AGE_BANDS",
    "ImpersonationReport",
    "ImpersonationResult",
    "age_band",
    "attribute_impersonation",
    "wilson_interval",
]

AGE_BANDS = ("<20", "20-29", "30-39", "40-49", "50-59", "60+")
_CHUNK = 256


def age_band(age: NDArray[np.float32]) -> NDArray[np.int64]:
    """Index into :data:`AGE_BANDS` per age (−1 where the age is unknown)."""
    ages = np.asarray(age, dtype=np.float64)
    known = np.isfinite(ages)
    bands = np.clip(np.floor(np.where(known, ages, 0.0) / 10.0) - 1, 0, len(AGE_BANDS) - 1)
    return np.where(known, bands, -1).astype(np.int64)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) of a binomial proportion."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True, slots=True)
class ImpersonationResult:
    """Impersonation rates at one threshold: attribute-matched vs random attackers."""

    threshold_name: str
    similarity: float
    targets: int
    matched_impersonated: int
    matched_rate: float
    matched_interval: tuple[float, float]
    random_impersonated: int
    random_rate: float
    random_interval: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold_name": self.threshold_name,
            "similarity": float(self.similarity),
            "targets": int(self.targets),
            "matched_impersonated": int(self.matched_impersonated),
            "matched_rate": float(self.matched_rate),
            "matched_interval": [float(x) for x in self.matched_interval],
            "random_impersonated": int(self.random_impersonated),
            "random_rate": float(self.random_rate),
            "random_interval": [float(x) for x in self.random_interval],
        }


@dataclass(frozen=True, slots=True)
class ImpersonationReport:
    """The run: its size, how many targets had fewer than ``attempts`` attribute-matched
    faces to draw (all of theirs were used), and one result per threshold."""

    targets: int
    attempts: int
    seed: int
    short_targets: int
    min_pool: int
    skipped_targets: int
    results: tuple[ImpersonationResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": int(self.targets),
            "attempts": int(self.attempts),
            "seed": int(self.seed),
            "short_targets": int(self.short_targets),
            "min_pool": int(self.min_pool),
            "skipped_targets": int(self.skipped_targets),
            "results": [r.to_dict() for r in self.results],
        }


def _best_of_draws(
    scores: NDArray[np.float32],
    eligible: NDArray[np.bool_],
    attempts: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """Per row: the best score among ``attempts`` eligible columns drawn without
    replacement (all of them when fewer), and how many were eligible."""
    keys = rng.random(scores.shape)
    keys[~eligible] = np.inf
    take = min(attempts, scores.shape[1])
    drawn = np.argpartition(keys, take - 1, axis=1)[:, :take]
    valid = np.isfinite(np.take_along_axis(keys, drawn, axis=1))
    picked = np.where(valid, np.take_along_axis(scores, drawn, axis=1), -np.inf)
    return picked.max(axis=1).astype(np.float32), eligible.sum(axis=1).astype(np.int64)


def attribute_impersonation(
    audit_set: AuditSet,
    thresholds: Mapping[str, float],
    *,
    attempts: int = 100,
    max_targets: int | None = None,
    seed: int = 0,
) -> ImpersonationReport:
    """Share of targets impersonated by attribute-matched and by random faces.

    Args:
        audit_set: the faces; each identity's first face is its enrolled template.
        thresholds: name → cosine similarity threshold.
        attempts: probe faces per target and attacker.
        max_targets: sample this many target identities (seeded); ``None``: every one.
        seed: seeds the target sample and every draw.

    Raises:
        ConfigError: no threshold, a threshold outside (-1, 1), ``attempts`` < 1 or
            ``max_targets`` < 1.
        DatasetError: fewer than two identities.
    """
    if not thresholds:
        raise ConfigError("give at least one threshold")
    for name, value in thresholds.items():
        if not -1.0 < value < 1.0:
            raise ConfigError(f"threshold {name!r} must lie in (-1, 1), got {value}")
    if attempts < 1:
        raise ConfigError(f"attempts must be at least 1, got {attempts}")
    if max_targets is not None and max_targets < 1:
        raise ConfigError(f"max_targets must be at least 1, got {max_targets}")
    names, codes = audit_set.identity_index()
    if len(names) < 2:
        raise DatasetError("impersonation needs at least two identities")
    rng = np.random.default_rng(seed)
    _, first = np.unique(codes, return_index=True)  # each identity's template row
    genders = np.asarray(audit_set.gender, dtype=str)
    bands = age_band(audit_set.age)
    known = (genders[first] != "unknown") & (bands[first] >= 0)
    skipped = int((~known).sum())
    templates = first[known]
    if max_targets is not None and max_targets < len(templates):
        templates = np.sort(rng.choice(templates, size=max_targets, replace=False))
    if len(templates) == 0:
        raise DatasetError("no target has a predicted gender and age")
    vectors = audit_set.vectors
    matched_best = np.empty(len(templates), dtype=np.float32)
    random_best = np.empty(len(templates), dtype=np.float32)
    pools = np.empty(len(templates), dtype=np.int64)
    for lo in range(0, len(templates), _CHUNK):
        rows = templates[lo : lo + _CHUNK]
        scores = vectors[rows] @ vectors.T  # chunk × N
        other = codes[None, :] != codes[rows, None]
        alike = (genders[None, :] == genders[rows, None]) & (bands[None, :] == bands[rows, None])
        matched_best[lo : lo + _CHUNK], pools[lo : lo + _CHUNK] = _best_of_draws(
            scores, other & alike, attempts, rng
        )
        random_best[lo : lo + _CHUNK], _ = _best_of_draws(scores, other, attempts, rng)
    n = len(templates)
    results = []
    for name, value in thresholds.items():
        hit_matched = int((matched_best >= value).sum())
        hit_random = int((random_best >= value).sum())
        results.append(
            ImpersonationResult(
                threshold_name=name,
                similarity=float(value),
                targets=n,
                matched_impersonated=hit_matched,
                matched_rate=hit_matched / n,
                matched_interval=wilson_interval(hit_matched, n),
                random_impersonated=hit_random,
                random_rate=hit_random / n,
                random_interval=wilson_interval(hit_random, n),
            )
        )
    return ImpersonationReport(
        targets=n,
        attempts=attempts,
        seed=seed,
        short_targets=int((pools < attempts).sum()),
        min_pool=int(pools.min()),
        skipped_targets=skipped,
        results=tuple(results),
    )
