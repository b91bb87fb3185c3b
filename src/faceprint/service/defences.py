"""Defences of the matching endpoints against score-driven attacks (docs/security.md).

Three layers, each on by default and each measured by ``faceprint audit``:

- **budgets** — a key may make ``daily_budget`` matching requests (1:1 verify, 1:N
  search, private search) per day, and ``target_budget`` *failed* 1:1 claims against any
  one enrolled person per day (a lock-out that legitimate users, who mostly match, do
  not feel; the seed attack — 100 look-alike faces against one victim — does);
- **hill-climbing detection** — :class:`HillClimbDetector` watches, per key and person,
  the probes that did not match: an attacker optimising an image against the returned
  score sends long runs of near-duplicate probes whose (exact, server-side) scores
  trend upwards. A key caught at it is throttled to ``throttle_rate`` for
  ``throttle_seconds`` and an alert is logged;
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
    near_duplicates: float
    """Share of consecutive probe pairs with cosine ≥ the detector's ``near``."""
    trend: float
    """Spearman correlation of the probes' scores with their order."""
    z: float
    first_score: float
    last_score: float


def _spearman(values: NDArray[np.float64]) -> float:
    """Spearman's rank correlation of ``values`` with their order (ties averaged)."""
    n = len(values)
    if n < 3 or float(np.ptp(values)) == 0.0:
        return 0.0
    order = np.argsort(values, kind="stable")
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.arange(n, dtype=np.float64)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    index = np.arange(n, dtype=np.float64)
    return float(np.corrcoef(index, ranks)[0, 1])


def _same(a: NDArray[np.float16], b: NDArray[np.float16]) -> bool:
    """Whether two probes are one image sent twice (cosine within 1e-5 of 1; distinct
    images — even ±1 grey level of noise — differ by 1e-3 or more)."""
    x, y = a.astype(np.float32), b.astype(np.float32)
    cos = float(x @ y) / max(float(np.linalg.norm(x) * np.linalg.norm(y)), 1e-12)
    return cos >= 1.0 - 1e-5


class HillClimbDetector:
    """Flags a run of failed probes against one person that climbs.

    For each (key, person) it keeps the last ``window`` probes that did *not* match
    (their embeddings and exact similarities). Once it holds ``min_probes``, the run is
    suspicious when both hold:

    - most consecutive probes are near-duplicates (cosine ≥ ``near``): the attacker
      perturbs one image; different photos, even of one person, are further apart;
    - their scores rise with time beyond chance: Spearman's ρ between order and score,
      as z = ρ·√(n−1) (≈ standard normal when scores do not depend on order), reaches
      ``z`` (3.09: a one-sided 0.1 % test). Repeats of one photo (equal scores) and
      a camera's frames of someone unenrolled (scores that wander) do not trend.

    Matches are not recorded: a legitimate user matches. An image sent again replaces
    its earlier record (retries and clients cycling a few photos are not a sequence, and
    a gallery growing under them raises their scores without any climbing; an attacker
    gains nothing by re-sending). Memory is bounded: at most
    ``max_traces`` (key, person) runs are kept (least recently used dropped), probes as
    float16.
    """

    def __init__(
        self,
        *,
        window: int = 64,
        min_probes: int = 32,
        near: float = 0.8,
        z: float = 3.09,
        max_traces: int = 4096,
    ) -> None:
        if min_probes < 3 or window < min_probes:
            raise ValueError("need 3 ≤ min_probes ≤ window")
        self.window, self.min_probes, self.near, self.z = window, min_probes, near, z
        self._max = max_traces
        self._traces: OrderedDict[tuple[str, Target], deque[tuple[NDArray[np.float16], float]]]
        self._traces = OrderedDict()
        self._lock = threading.Lock()

    def observe(
        self, who: str, target: Target, probe: NDArray[np.float32], similarity: float, matched: bool
    ) -> Suspicion | None:
        """Record one probe; a :class:`Suspicion` when the run now looks like climbing
        (the run is then forgotten, so one attack raises one flag per window)."""
        if matched:
            return None
        slot = (who, target)
        vector = np.asarray(probe, dtype=np.float16)
        with self._lock:
            trace = self._traces.pop(slot, None) or deque(maxlen=self.window)
            for i, (seen, _) in enumerate(trace):
                if _same(seen, vector):  # one image re-sent (a retry, a client cycling
                    del trace[i]  # a few photos) is one probe, at its latest score
                    break
            trace.append((vector, float(similarity)))
            self._traces[slot] = trace
            while len(self._traces) > self._max:
                self._traces.popitem(last=False)
            if len(trace) < self.min_probes:
                return None
            vectors = np.stack([v for v, _ in trace]).astype(np.float32)
            scores = np.array([s for _, s in trace], dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1)
        vectors /= np.maximum(norms, 1e-12)[:, None]
        near = float(np.mean(np.sum(vectors[1:] * vectors[:-1], axis=1) >= self.near))
        if near < 0.5:
            return None
        rho = _spearman(scores)
        z = rho * math.sqrt(len(scores) - 1)
        if z < self.z:
            return None
        with self._lock:
            self._traces.pop(slot, None)
        return Suspicion(
            probes=len(scores),
            near_duplicates=near,
            trend=rho,
            z=z,
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
    ) -> None:
        """Take note of one answered request: a failed claim spends the target budget;
        the probe goes to the hill-climbing detector."""
        if target is None:
            return
        if not matched and self._target is not None:
            self._limiter.hit(self._target, "target", key.key_id, *target)
        if self.detector is None or probe is None or similarity is None:
            return
        found = self.detector.observe(key.key_id, target, probe, similarity, matched)
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
