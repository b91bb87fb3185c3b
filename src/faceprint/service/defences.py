"""Defences of the matching endpoints against score-driven attacks (docs/security.md).

Three layers, each on by default and each measured by ``faceprint audit``:

- **budgets** — a key may make ``daily_budget`` matching requests (1:1 verify, 1:N
  search, private search) per day, and ``target_budget`` *failed* 1:1 claims against any
  one enrolled person per day (a lock-out that legitimate users, who mostly match, do
  not feel; the seed attack — 100 look-alike faces against one victim — does);
- **hill-climbing detection** — :class:`HillClimbDetector` watches, per key and person,
  the probes sent: an attacker optimising an image against the returned score sends
  long runs of near-duplicate probes that start below the threshold and whose (exact,
  server-side) scores trend upwards, across the threshold and beyond. A key caught at
  it is throttled to ``throttle_rate`` for ``throttle_seconds`` and an alert is logged;
- **the audit log** — every refusal cause and alert is appended to a JSON-lines file
  (:class:`AuditLog`) and logged at WARNING on the ``faceprint.security`` logger.

State is in memory (like the rate limits): a restart forgets budgets and flags.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from numpy.typing import NDArray

from faceprint.service.keys import ApiKey
from faceprint.service.problems import ServiceError
from faceprint.service.settings import ServiceSettings

log = logging.getLogger("faceprint.security")

Target = tuple[str, str]
"""An enrolled person: ``(collection, person)``."""


class AuditLog:
    """Security events as JSON lines, appended under a lock (and logged at WARNING)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one event; a file that cannot be written is logged, never raised."""
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        entry.update(fields)
        line = json.dumps(entry, sort_keys=False)
        log.warning("security event: %s", line)
        if self._path is not None:
            with self._lock:
                try:
                    self._path.parent.mkdir(parents=True, exist_ok=True)
                    with self._path.open("a", encoding="utf-8") as out:
                        out.write(line + "\n")
                except OSError as exc:
                    log.error("cannot append to the audit log %s: %s", self._path, exc)
        return entry


def read_events(path: Path) -> list[dict[str, Any]]:
    """The events of an audit log, oldest first (a torn last line is skipped)."""
    events: list[dict[str, Any]] = []
    if not path.exists():
        return events
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            events.append(entry)
    return events


@dataclass(frozen=True, slots=True)
class Suspicion:
    """Why a probe sequence looks like hill climbing."""

    probes: int
    failures: int
    """How many of them did not match."""
    near_duplicates: float
    """Share of consecutive probe pairs with cosine ≥ the detector's ``near``."""
    trend: float
    """Kendall's τ of the probes' scores with their order."""
    z: float
    first_score: float
    last_score: float


def _ranks(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Ranks from 1, ties given their average rank."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1, dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=ranks) / counts)[inverse]


@dataclass(frozen=True, slots=True)
class Trend:
    """:func:`trend_test`'s result."""

    tau: float
    """Kendall's τ of the values with their order."""
    z: float
    """Mann–Kendall's z, corrected for autocorrelation (one-sided: > 0 rising)."""
    slope: float
    """Sen's slope: the median rise per step."""
    level: float
    """Where the Sen line stands at the last value."""


def trend_test(values: NDArray[np.float64]) -> Trend:
    """Mann–Kendall's trend test of ``values`` against their order, with Hamed and Rao's
    (1998) correction for autocorrelation.

    z is ≈ standard normal when the values do not trend, *even when neighbours are
    correlated*: the variance of Kendall's S is inflated by the effective-sample-size
    factor ``1 + 2/(n(n−1)(n−2)) Σ_k (n−k)(n−k−1)(n−k−2) ρ_k`` over the lags ``k`` whose
    autocorrelation ``ρ_k`` of the ranks of the Sen-detrended values is significant
    (outside ±1.96/√n). That is what separates an optimiser's climb (rising scores, each
    probe an independent perturbation) from a camera's frames (scores that drift
    together with the pose: a plain rank test calls such a drift a trend). The factor
    is floored at 1, so the test is never bolder than the uncorrected one.
    """
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n < 3 or float(np.ptp(x)) == 0.0:
        return Trend(0.0, 0.0, 0.0, float(x[-1]) if n else 0.0)
    i, j = np.triu_indices(n, k=1)
    diff = x[j] - x[i]
    s = float(np.sum(np.sign(diff)))
    tau = s / (0.5 * n * (n - 1))
    _, ties = np.unique(x, return_counts=True)
    var_s = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    slope = float(np.median(diff / (j - i)))  # Sen's slope
    detrended = x - slope * np.arange(1, n + 1)
    level = float(np.median(detrended)) + slope * n
    ranks = _ranks(detrended)
    centred = ranks - ranks.mean()
    acov = np.correlate(centred, centred, "full")[n - 1 :] / n
    acf = acov[1:] / acov[0] if acov[0] > 0 else np.zeros(n - 1)
    k = np.arange(1, n, dtype=np.float64)
    significant = np.abs(acf) > 1.96 / math.sqrt(n)
    weights = (n - k) * (n - k - 1) * (n - k - 2)
    factor = 1.0 + 2.0 / (n * (n - 1) * (n - 2)) * float(np.sum((weights * acf)[significant]))
    var_s *= max(factor, 1.0)
    z = 0.0 if var_s <= 0 or s == 0 else (s - math.copysign(1.0, s)) / math.sqrt(var_s)
    return Trend(tau=tau, z=z, slope=slope, level=level)


_Probe = tuple[NDArray[np.float16], float, bool]
"""A recorded probe: its embedding, its exact similarity and whether it matched."""


def _cosine(a: NDArray[np.float16], b: NDArray[np.float16]) -> float:
    x, y = a.astype(np.float32), b.astype(np.float32)
    return float(x @ y) / max(float(np.linalg.norm(x) * np.linalg.norm(y)), 1e-12)


def _same(a: NDArray[np.float16], b: NDArray[np.float16]) -> bool:
    """Whether two probes are one image sent twice (cosine within 1e-5 of 1; distinct
    images — even ±1 grey level of noise — differ by 1e-3 or more)."""
    return _cosine(a, b) >= 1.0 - 1e-5


class HillClimbDetector:
    """Flags a run of probes against one person that climbs from below the threshold.

    For each (key, person) it keeps a run of the last ``window`` probes (their
    embeddings, exact similarities and decisions). Once it holds ``min_probes``, the
    run is suspicious when all hold:

    - most consecutive probes are near-duplicates (cosine ≥ ``near``, 0.7): the attacker
      perturbs one image. Two different LFW photos of one person reach 0.7 about half
      the time under SFace, so a client cycling photos rarely passes; early in a climb,
      while its steps are large, an attacker's consecutive probes sit at 0.6–0.9;
    - at least ``min_failures`` of them did not match: the run started (or spent time)
      below the threshold. A legitimate user of an enrolled face matches, so a stream
      that matches throughout is never flagged, however its scores drift;
    - their scores rise with time beyond chance: the Mann–Kendall z, corrected for
      autocorrelation (:func:`trend_test`), reaches ``z`` (3.09: a one-sided 0.1 %
      test). Repeats of one photo (equal scores) do not trend, and a camera's frames
      of one face (scores that drift with the pose) are discounted by the correction;
    - with the decision's threshold known, the climb threatens it: the Sen line's level
      plus ``window`` steps of its slope reaches the threshold. A drift far below it (an
      impostor's frames slowly turning to the camera) is not an attack yet; a climb
      keeps being watched and is flagged as it nears.

    A probe further from the one before than the threshold (two faces the service
    would call different people: a camera cutting to someone else, a client moving on
    to another photo) starts a new run: a step between two faces is not a climb.

    Matches stay in the run: an attack that reaches the threshold early keeps sending
    near-duplicates to raise its score further, and the climb across the threshold is
    the clearest trend it leaves. An image sent again replaces its earlier record
    (retries and clients cycling a few photos are not a sequence, and a gallery growing
    under them raises their scores without any climbing; an attacker gains nothing by
    re-sending). Memory is bounded: at most ``max_traces`` (key, person) runs are kept
    (least recently used dropped), probes as float16.
    """

    def __init__(
        self,
        *,
        window: int = 64,
        min_probes: int = 32,
        min_failures: int = 8,
        near: float = 0.7,
        other_face: float = 0.3,
        z: float = 3.09,
        max_traces: int = 4096,
    ) -> None:
        if min_probes < 3 or window < min_probes:
            raise ValueError("need 3 ≤ min_probes ≤ window")
        if not 1 <= min_failures <= min_probes:
            raise ValueError("need 1 ≤ min_failures ≤ min_probes")
        self.window, self.min_probes, self.near, self.z = window, min_probes, near, z
        self.min_failures = min_failures
        self.other_face = other_face
        self._max = max_traces
        self._traces: OrderedDict[tuple[str, Target], deque[_Probe]]
        self._traces = OrderedDict()
        self._lock = threading.Lock()

    def observe(
        self,
        who: str,
        target: Target,
        probe: NDArray[np.float32],
        similarity: float,
        matched: bool,
        *,
        threshold: float | None = None,
    ) -> Suspicion | None:
        """Record one probe; a :class:`Suspicion` when the run now looks like climbing
        (the run is then forgotten, so one attack raises one flag per window).

        ``threshold`` is the similarity at which the service calls two faces one person
        (the decision's threshold): a probe further than that from the one before is
        another face — a camera cutting to someone else, a client moving on to its next
        photo — and starts a new run, since a step between two faces is not a climb.
        Without it, :attr:`other_face` is used.
        """
        slot = (who, target)
        vector = np.asarray(probe, dtype=np.float16)
        with self._lock:
            trace = self._traces.pop(slot, None) or deque(maxlen=self.window)
            for i, (seen, _, _) in enumerate(trace):
                if _same(seen, vector):  # one image re-sent (a retry, a client cycling
                    del trace[i]  # a few photos) is one probe, at its latest score
                    break
            if trace and _cosine(trace[-1][0], vector) < (
                self.other_face if threshold is None else threshold
            ):
                trace.clear()
            trace.append((vector, float(similarity), bool(matched)))
            self._traces[slot] = trace
            while len(self._traces) > self._max:
                self._traces.popitem(last=False)
            if len(trace) < self.min_probes:
                return None
            failures = sum(not m for _, _, m in trace)
            if failures < self.min_failures:
                return None
            vectors = np.stack([v for v, _, _ in trace]).astype(np.float32)
            scores = np.array([s for _, s, _ in trace], dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        vectors /= np.maximum(norms, 1e-12)[:, None]
        near = float(np.mean(np.sum(vectors[1:] * vectors[:-1], axis=1) >= self.near))
        if near < 0.5:
            return None
        trend = trend_test(scores)
        if trend.z < self.z:
            return None
        if threshold is not None and trend.level + trend.slope * self.window < threshold:
            return None  # at its pace the run would not match within another window
        with self._lock:
            self._traces.pop(slot, None)
        return Suspicion(
            probes=len(scores),
            failures=failures,
            near_duplicates=near,
            trend=trend.tau,
            z=trend.z,
            first_score=float(scores[0]),
            last_score=float(scores[-1]),
        )


class Defences:
    """Budgets, the hill-climbing detector, throttling and the audit log of a service."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._daily: dict[int, RateLimitItem] = {}
        self._target = (
            None if settings.target_budget is None else parse(f"{settings.target_budget}/day")
        )
        self._throttle = parse(settings.throttle_rate)
        self._flagged: dict[str, float] = {}
        self._logged: dict[tuple[str, str], float] = {}
        self._requests: dict[str, int] = {}  # matching requests admitted per key (alerts)
        self._lock = threading.Lock()
        self.detector = HillClimbDetector() if settings.hill_climb else None
        self.log = AuditLog(settings.audit_log_path)

    def flagged_until(self, key: ApiKey) -> float | None:
        """When a flagged key's throttling ends (epoch seconds), or ``None``."""
        with self._lock:
            until = self._flagged.get(key.key_id)
            if until is not None and until <= time.time():
                del self._flagged[key.key_id]
                return None
            return until

    def admit(self, key: ApiKey, *, endpoint: str, target: Target | None = None) -> None:
        """Count one matching request against the key's budgets, or refuse it (429).

        Raises:
            ServiceError: ``throttled`` (the key was caught hill climbing),
                ``budget_exhausted`` (its daily budget) or ``target_budget_exhausted``
                (too many failed claims against ``target`` today); each with
                Retry-After.
        """
        who = key.key_id
        with self._lock:
            self._requests[who] = self._requests.get(who, 0) + 1
        if self.flagged_until(key) is not None and not self._limiter.hit(
            self._throttle, "throttle", who
        ):
            self._refuse(
                "throttled",
                f"key {who} is throttled after a suspected hill-climbing attack",
                self._wait(self._throttle, "throttle", who),
                key,
                endpoint,
                target,
            )
        budget = key.daily_budget or self._settings.daily_budget
        if budget is not None:
            item = self._daily.get(budget) or self._daily.setdefault(budget, parse(f"{budget}/day"))
            if not self._limiter.hit(item, "daily", who):
                self._refuse(
                    "budget_exhausted",
                    f"key {who} has used its {budget} matching requests for today",
                    self._wait(item, "daily", who),
                    key,
                    endpoint,
                    target,
                )
        if target is not None and self._target is not None:
            parts = ("target", who, *target)
            if not self._limiter.test(self._target, *parts):
                self._refuse(
                    "target_budget_exhausted",
                    f"key {who} has made {self._settings.target_budget} failed claims against "
                    "this person today",
                    self._wait(self._target, *parts),
                    key,
                    endpoint,
                    target,
                )

    def record(
        self,
        key: ApiKey,
        *,
        endpoint: str,
        target: Target | None,
        probe: NDArray[np.float32] | None,
        similarity: float | None,
        matched: bool,
        threshold: float | None = None,
    ) -> None:
        """Take note of one answered request: a failed claim spends the target budget;
        the probe goes to the hill-climbing detector (``threshold``: the decision's)."""
        if target is None:
            return
        if not matched and self._target is not None:
            self._limiter.hit(self._target, "target", key.key_id, *target)
        if self.detector is None or probe is None or similarity is None:
            return
        found = self.detector.observe(
            key.key_id, target, probe, similarity, matched, threshold=threshold
        )
        if found is None:
            return
        until = time.time() + self._settings.throttle_seconds
        with self._lock:
            self._flagged[key.key_id] = until
        self.log.write(
            "hill_climb_suspected",
            severity="alert",
            key_id=key.key_id,
            key_name=key.name,
            endpoint=endpoint,
            collection=target[0],
            person=target[1],
            key_requests=self._requests.get(key.key_id, 0),
            probes=found.probes,
            failed_probes=found.failures,
            near_duplicates=round(found.near_duplicates, 3),
            trend=round(found.trend, 3),
            z=round(found.z, 2),
            throttled_until=datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds"),
            throttle_rate=self._settings.throttle_rate,
        )

    def _wait(self, item: RateLimitItem, *parts: str) -> float:
        reset, _ = self._limiter.get_window_stats(item, *parts)
        return max(0.0, reset - time.time())

    def _refuse(
        self,
        code: str,
        message: str,
        wait: float,
        key: ApiKey,
        endpoint: str,
        target: Target | None,
    ) -> None:
        now = time.time()
        mark = (key.key_id, code)
        with self._lock:
            fresh = now - self._logged.get(mark, -math.inf) >= 60.0
            if fresh:
                self._logged[mark] = now
        if fresh:  # one entry per key and cause a minute, not one per refused request
            fields: dict[str, Any] = {"key_id": key.key_id, "key_name": key.name}
            if target is not None:
                fields.update(collection=target[0], person=target[1])
            self.log.write(code, endpoint=endpoint, retry_after=round(wait, 1), **fields)
        raise ServiceError(
            code,
            f"{message}; retry in {wait:.0f} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
