"""Master embeddings and wolves: single vectors that match many enrolled identities.

The attacked gallery enrolls every face of an :class:`~faceprint.eval.audit.dataset.AuditSet`;
a probe vector *matches* an identity when any of that identity's faces has cosine
similarity ≥ the threshold with it (a person scores with their best face).

:func:`find_master_embeddings` builds k = 1..K unit vectors by greedy set cover: each
step searches the hypersphere for the vector matching the most identities not yet
matched, by projected gradient ascent on a smooth count (a sigmoid of each identity's
best similarity minus the threshold, its temperature annealed) from many seeds (the
best real faces, normalised means of face neighbourhoods, random faces), keeping the
iterate with the best *exact* count. Two peers keep the figure honest: k random unit
vectors, and the k best real faces chosen by the same greedy cover.
:func:`wolves` lists real faces that match the most *other* identities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ConfigError, DatasetError
from faceprint.eval.audit.dataset import AuditSet

__all__ = ["MasterResult", "Wolf", "find_master_embeddings", "wolves"]

FloatArray = NDArray[np.float32]
_CHUNK = 1024


@dataclass(frozen=True, slots=True, eq=False)
class MasterResult:
    """Greedy master embeddings at one threshold.

    ``coverage[k-1]`` is the share of identities matched by the first k vectors
    together, ``counts[k-1]`` the number; ``random_coverage`` the same for k random unit
    vectors (mean over draws) and ``face_coverage`` for the k real faces a greedy cover
    picks (a real face also matches its own identity); ``mean_coverage`` is the share
    one vector matches when it is simply the normalised mean of every face (the naive
    master). ``vectors`` is K×D.
    """

    threshold_name: str
    similarity: float
    identities: int
    faces: int
    coverage: tuple[float, ...]
    counts: tuple[int, ...]
    vectors: FloatArray
    random_coverage: tuple[float, ...]
    face_coverage: tuple[float, ...]
    face_paths: tuple[str, ...]
    mean_coverage: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold_name": self.threshold_name,
            "similarity": float(self.similarity),
            "identities": int(self.identities),
            "faces": int(self.faces),
            "coverage": [float(c) for c in self.coverage],
            "counts": [int(c) for c in self.counts],
            "random_coverage": [float(c) for c in self.random_coverage],
            "face_coverage": [float(c) for c in self.face_coverage],
            "face_paths": list(self.face_paths),
            "mean_coverage": float(self.mean_coverage),
            "vectors": [[float(x) for x in row] for row in self.vectors],
            "seconds": float(self.seconds),
        }


@dataclass(frozen=True, slots=True)
class Wolf:
    """A real face and how many identities other than its own it matches."""

    path: str
    person: str
    matched_identities: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "person": self.person,
            "matched_identities": int(self.matched_identities),
        }


class _Gallery:
    """Faces sorted by identity, so per-identity maxima are one ``maximum.reduceat``."""

    def __init__(self, audit_set: AuditSet) -> None:
        if len(audit_set) == 0:
            raise DatasetError("the audit set holds no faces")
        names, codes = audit_set.identity_index()
        order = np.argsort(codes, kind="stable")
        self.order = order
        self.vectors = np.ascontiguousarray(audit_set.vectors[order], dtype=np.float32)
        self.codes = codes[order]
        self.starts = np.flatnonzero(np.r_[True, self.codes[1:] != self.codes[:-1]])
        self.names = names

    def best(self, scores: FloatArray) -> FloatArray:
        """Per identity (rows) the best of its faces' scores (N×B → M×B)."""
        return np.maximum.reduceat(scores, self.starts, axis=0)

    def face_matches(self, similarity: float) -> NDArray[np.bool_]:
        """N×M: does face i (sorted order) match identity j."""
        n, m = len(self.codes), len(self.starts)
        out = np.zeros((n, m), dtype=bool)
        for lo in range(0, n, _CHUNK):
            scores = self.vectors @ self.vectors[lo : lo + _CHUNK].T
            out[lo : lo + _CHUNK] = (self.best(scores) >= similarity).T
        return out


def _check(similarity: float, k: int, label: str = "k") -> None:
    if not -1.0 < similarity < 1.0:
        raise ConfigError(f"a cosine threshold lies in (-1, 1), got {similarity}")
    if k < 1:
        raise ConfigError(f"{label} must be at least 1, got {k}")


def _unit(v: NDArray[np.floating[Any]]) -> FloatArray:
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.asarray(v / np.maximum(norms, 1e-12), dtype=np.float32)


def _sigmoid(x: NDArray[np.floating[Any]]) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float32)


def _ascend(
    gallery: _Gallery,
    rows: NDArray[np.int64],
    seeds: FloatArray,
    similarity: float,
    iterations: int,
) -> tuple[FloatArray, int]:
    """Maximise the number of identities (among those of ``rows``) matched; returns the
    best vector found and its exact count."""
    x = gallery.vectors[rows]
    codes = gallery.codes[rows]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    segment = np.cumsum(np.r_[0, (codes[1:] != codes[:-1]).astype(np.int64)])
    v = _unit(seeds)
    b = len(v)
    step = np.full(b, 0.15, dtype=np.float32)
    scores = x @ v.T
    best = np.maximum.reduceat(scores, starts, axis=0)
    counts = (best >= similarity).sum(axis=0)
    top_count = int(counts.max())
    top_vector = v[int(counts.argmax())].copy()
    for it in range(iterations):
        tau = np.float32(0.06 * (0.004 / 0.06) ** (it / max(iterations - 1, 1)))
        soft = _sigmoid((best - similarity) / tau)
        weight = soft * (1.0 - soft)  # ∝ d soft / d best
        is_best = scores >= best[segment]
        grad = (x.T @ (is_best * weight[segment])).T  # B×D, the ascent direction
        grad -= (grad * v).sum(axis=1, keepdims=True) * v  # onto the tangent plane
        grad = _unit(grad)
        proposal = _unit(v + step[:, None] * grad)
        new_scores = x @ proposal.T
        new_best = np.maximum.reduceat(new_scores, starts, axis=0)
        gain = _sigmoid((new_best - similarity) / tau).sum(axis=0) >= soft.sum(axis=0)
        v[gain] = proposal[gain]
        scores[:, gain] = new_scores[:, gain]
        best[:, gain] = new_best[:, gain]
        step = np.where(gain, np.minimum(step * 1.3, 0.5), np.maximum(step * 0.5, 1e-3))
        counts = (new_best >= similarity).sum(axis=0)
        if int(counts.max()) > top_count:
            top_count = int(counts.max())
            top_vector = proposal[int(counts.argmax())].copy()
    return top_vector, top_count


def _seeds(
    gallery: _Gallery,
    rows: NDArray[np.int64],
    face_gain: NDArray[np.int64],
    similarity: float,
    count: int,
    rng: np.random.Generator,
) -> FloatArray:
    x = gallery.vectors[rows]
    quarter = max(count // 4, 1)
    best_faces = np.argsort(-face_gain[rows], kind="stable")[:quarter]
    picked = rng.choice(len(rows), size=min(quarter, len(rows)), replace=False)
    anchors = np.r_[best_faces, picked]
    near = (x[anchors] @ x.T >= similarity).astype(np.float32)  # anchors × faces
    means = near @ x  # normalised means of each anchor's neighbourhood
    randoms = x[rng.choice(len(rows), size=min(quarter, len(rows)), replace=False)]
    noisy = _unit(x[best_faces] + rng.normal(0, 0.05, (len(best_faces), x.shape[1])))
    centre = x.mean(axis=0, keepdims=True)
    return _unit(np.concatenate([x[best_faces], means, randoms, noisy, centre]))


def _cumulative(covers: NDArray[np.bool_], picks: list[int]) -> list[int]:
    covered = np.zeros(covers.shape[1], dtype=bool)
    out = []
    for p in picks:
        covered |= covers[p]
        out.append(int(covered.sum()))
    return out


def _greedy_faces(matches: NDArray[np.bool_], k: int) -> list[int]:
    covered = np.zeros(matches.shape[1], dtype=bool)
    weights = matches.astype(np.float32)
    picks = []
    for _ in range(k):
        gain = weights @ (~covered).astype(np.float32)
        pick = int(np.argmax(gain))
        picks.append(pick)
        covered |= matches[pick]
    return picks


def find_master_embeddings(
    audit_set: AuditSet,
    *,
    similarity: float,
    name: str = "",
    k: int = 10,
    seed: int = 0,
    seeds: int = 96,
    iterations: int = 60,
    random_draws: int = 20,
) -> MasterResult:
    """Greedy master embeddings: k = 1..``k`` unit vectors matching the most identities.

    Raises:
        ConfigError: ``similarity`` outside (-1, 1) or ``k`` < 1.
        DatasetError: the set is empty.
    """
    _check(similarity, k)
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    gallery = _Gallery(audit_set)
    m = len(gallery.starts)
    matches = gallery.face_matches(similarity)  # N×M
    weights = matches.astype(np.float32)
    covered = np.zeros(m, dtype=bool)
    vectors: list[FloatArray] = []
    counts: list[int] = []
    for _ in range(k):
        open_rows = np.flatnonzero(~covered[gallery.codes])
        if len(open_rows) == 0:  # every identity matched: nothing left to gain
            vectors.append(vectors[-1])
            counts.append(counts[-1])
            continue
        gain = (weights @ (~covered).astype(np.float32)).astype(np.int64)
        start_points = _seeds(gallery, open_rows, gain, similarity, seeds, rng)
        vector, _ = _ascend(gallery, open_rows, start_points, similarity, iterations)
        hit = gallery.best((gallery.vectors @ vector)[:, None])[:, 0] >= similarity
        covered |= hit
        vectors.append(vector)
        counts.append(int(covered.sum()))
    draws = _unit(rng.normal(size=(random_draws, k, audit_set.dimension)).astype(np.float32))
    random_counts = np.zeros(k)
    for draw in draws:
        hits = (gallery.best(gallery.vectors @ draw.T) >= similarity).T  # k×M
        random_counts += np.asarray(_cumulative(hits, list(range(k))), dtype=np.float64)
    centre = _unit(gallery.vectors.mean(axis=0))
    mean_hits = int((gallery.best((gallery.vectors @ centre)[:, None]) >= similarity).sum())
    picks = _greedy_faces(matches, k)
    face_counts = _cumulative(matches, picks)
    return MasterResult(
        threshold_name=name,
        similarity=float(similarity),
        identities=m,
        faces=len(audit_set),
        coverage=tuple(c / m for c in counts),
        counts=tuple(counts),
        vectors=np.stack(vectors).astype(np.float32),
        random_coverage=tuple(float(c) / (random_draws * m) for c in random_counts),
        face_coverage=tuple(c / m for c in face_counts),
        face_paths=tuple(audit_set.paths[int(gallery.order[p])] for p in picks),
        mean_coverage=mean_hits / m,
        seconds=time.perf_counter() - start,
    )


def wolves(audit_set: AuditSet, similarity: float, top: int = 10) -> tuple[Wolf, ...]:
    """The ``top`` real faces that match the most identities other than their own.

    Raises:
        ConfigError: ``similarity`` outside (-1, 1) or ``top`` < 1.
        DatasetError: the set is empty.
    """
    _check(similarity, top, "top")
    gallery = _Gallery(audit_set)
    matches = gallery.face_matches(similarity)
    own = matches[np.arange(len(gallery.codes)), gallery.codes]
    others = matches.sum(axis=1) - own.astype(np.int64)
    ranked = np.argsort(-others, kind="stable")[:top]
    return tuple(
        Wolf(
            path=audit_set.paths[int(gallery.order[i])],
            person=audit_set.persons[int(gallery.order[i])],
            matched_identities=int(others[i]),
        )
        for i in ranked
    )
