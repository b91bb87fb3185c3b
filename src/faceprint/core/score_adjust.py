"""Fairness score adjusters: a pair's similarity, re-expressed on the global scale.

A frozen embedding model's false-match rate at one threshold differs between regions
of its embedding space (e.g. between demographic groups). A :class:`ScoreAdjuster`
maps a pair's raw cosine similarity to the similarity at which the model's **global**
impostor curve has the false-match rate that the pair's *own* region has at the raw
score. Thresholds chosen on the global calibration (``--fmr 1e-3``) therefore keep
their meaning, while regions with a heavier impostor tail are judged more strictly and
lighter ones less so.

Two kinds, pure numpy, stored as plain JSON (:meth:`ScoreAdjuster.to_dict`):

- **partition calibration** (:class:`PartitionCalibration`): the space is cut into
  parts by nearest centroid, and each part has its own impostor curve (similarity at
  each log10 FMR level). ``pairing="any"``: every pair's log-FMR is the mean of its two
  faces' parts' (a geometric mean of FMRs) — FairCal (Salvador et al., ICLR 2022),
  label-free with k-means parts. ``pairing="same"``: only pairs whose faces fall in the
  same part are re-scored (group-specific thresholds, with groups as parts).
- **centroid shift** (:class:`CentroidShift`): each face moves away from the centroid of
  its (nearest) group, ``x' = normalise(x − β·μ_g)``, and the transformed similarity is
  mapped back onto the global scale by quantiles of the impostor curve — a small,
  label-fitted transform of frozen embeddings in the spirit of Conti & Clémençon's
  centroid-based post-processing.

Beyond the range a part's curve was measured on (fewer than 10 impostor pairs above a
level), the last measured offset is kept, so the map stays monotone in the raw score.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from faceprint.errors import ConfigError

__all__ = [
    "FORMAT",
    "CentroidShift",
    "PartitionCalibration",
    "ScoreAdjuster",
    "adjuster_from_dict",
]

FORMAT = "faceprint-score-adjuster/1"
"""Marker stored in every serialised adjuster (and checked on load)."""

Pairing = Literal["any", "same"]

_GRID_STEP = 5e-4
_GRID = np.linspace(-1.0, 1.0, round(2.0 / _GRID_STEP) + 1)
"""The similarity grid per-part curves are tabulated on (matching is a lookup)."""


def _unit_rows(vectors: ArrayLike, dimension: int) -> NDArray[np.float32]:
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != dimension:
        raise ConfigError(f"expected vectors of dimension {dimension}, got shape {x.shape}")
    return x


def _curve_arrays(
    levels: ArrayLike, similarity: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lv = np.asarray(levels, dtype=np.float64).reshape(-1)
    sim = np.asarray(similarity, dtype=np.float64)
    if lv.size < 2 or np.any(np.diff(lv) >= 0):
        raise ConfigError("levels must be at least two strictly decreasing log10 FMRs")
    return lv, sim


class _GlobalScale:
    """The global impostor curve: similarity at each log10 FMR level (ascending)."""

    def __init__(self, levels: NDArray[np.float64], similarity: NDArray[np.float64]) -> None:
        if similarity.shape != levels.shape or not np.all(np.isfinite(similarity)):
            raise ConfigError("the global curve needs one finite similarity per level")
        if np.any(np.diff(similarity) < 0):
            raise ConfigError("the global curve's similarity must not decrease as FMR falls")
        self.levels = levels
        self.similarity = similarity

    def similarity_at(self, log_fmr: NDArray[np.float64]) -> NDArray[np.float64]:
        # levels decrease while similarity increases: interpolate on −level.
        return np.interp(-log_fmr, -self.levels, self.similarity)

    def log_fmr_at(self, similarity: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.interp(similarity, self.similarity, self.levels)


@dataclass(frozen=True, slots=True)
class _Tables:
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    log_fmr: NDArray[np.float64]
    scale: _GlobalScale


@dataclass(frozen=True, eq=False)
class PartitionCalibration:
    """Per-part impostor curves over a nearest-centroid partition (see the module doc).

    Attributes:
        model_id: the embedding model whose similarities this adjusts.
        method: a short name (``"faircal"``, ``"group-thresholds"``), for reports.
        pairing: ``"any"`` (mean log-FMR of both faces' parts) or ``"same"`` (only pairs
            within one part are re-scored).
        centroids: K×D unit centroids of the parts.
        parts: K part names (cluster numbers, or group names).
        levels: L strictly decreasing log10 FMR levels (e.g. 0 … −6).
        global_similarity: L similarities of the global curve at ``levels``.
        part_similarity: K×L similarities of each part's curve; NaN where the part had
            too few impostor pairs to measure that level.
        fitted_on: what the curves were fitted on (free text, for the report).
    """

    model_id: str
    method: str
    pairing: Pairing
    centroids: NDArray[np.float32]
    parts: tuple[str, ...]
    levels: NDArray[np.float64]
    global_similarity: NDArray[np.float64]
    part_similarity: NDArray[np.float64]
    fitted_on: str = ""

    def __post_init__(self) -> None:
        if self.pairing not in ("any", "same"):
            raise ConfigError(f"pairing must be 'any' or 'same', got {self.pairing!r}")
        k = self.centroids.shape[0] if self.centroids.ndim == 2 else -1
        if k < 1 or len(self.parts) != k or self.part_similarity.shape != (k, len(self.levels)):
            raise ConfigError("a partition calibration needs one centroid, name and curve per part")
        _GlobalScale(self.levels, self.global_similarity)  # validates
        for row in self.part_similarity:
            ok = row[np.isfinite(row)]
            if ok.size < 2 or np.any(np.diff(ok) < 0):
                raise ConfigError("each part's curve needs ≥ 2 levels, non-decreasing")

    @property
    def dimension(self) -> int:
        return int(self.centroids.shape[1])

    def assign(self, vectors: ArrayLike) -> NDArray[np.intp]:
        """Each row's part (nearest centroid by cosine)."""
        x = _unit_rows(vectors, self.dimension)
        return np.asarray((x @ self.centroids.T).argmax(axis=1), dtype=np.intp)

    def _tables(self) -> _Tables:
        """Per-part log-FMR sampled on a uniform similarity grid, built once: a lookup
        is then index arithmetic for every part at once (no loop over parts)."""
        cached = getattr(self, "_cache", None)
        if cached is None:
            lo, hi, rows = [], [], []
            for row in self.part_similarity:
                ok = np.isfinite(row)
                sim, lev = row[ok], self.levels[ok]
                lo.append(sim[0])
                hi.append(sim[-1])
                rows.append(np.interp(_GRID, sim, lev))
            cached = _Tables(
                low=np.array(lo),
                high=np.array(hi),
                log_fmr=np.stack(rows),
                scale=_GlobalScale(self.levels, self.global_similarity),
            )
            object.__setattr__(self, "_cache", cached)
        return cached

    def _adjust(
        self, sims: NDArray[np.float64], pa: NDArray[np.intp], pb: NDArray[np.intp]
    ) -> NDArray[np.float64]:
        t = self._tables()
        low = np.maximum(t.low[pa], t.low[pb])
        high = np.maximum(np.minimum(t.high[pa], t.high[pb]), low)
        clipped = np.clip(sims, low, high)
        position = np.clip((clipped + 1.0) / _GRID_STEP, 0.0, len(_GRID) - 1.000001)
        index = position.astype(np.intp)
        w = position - index
        table = t.log_fmr
        log_a = (1 - w) * table[pa, index] + w * table[pa, index + 1]
        log_b = (1 - w) * table[pb, index] + w * table[pb, index + 1]
        equivalent = t.scale.similarity_at((log_a + log_b) / 2.0) + (sims - clipped)
        if self.pairing == "same":
            equivalent = np.where(pa == pb, equivalent, sims)
        return equivalent

    def pair_scores(self, a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
        """Adjusted similarity of each row of ``a`` with the same row of ``b``."""
        xa = _unit_rows(a, self.dimension)
        xb = _unit_rows(b, self.dimension)
        if xa.shape != xb.shape:
            raise ConfigError(f"pair_scores needs equal shapes, got {xa.shape} and {xb.shape}")
        sims = np.clip(np.einsum("ij,ij->i", xa, xb).astype(np.float64), -1.0, 1.0)
        return self._adjust(sims, self.assign(xa), self.assign(xb))

    def scores(self, a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
        """Adjusted similarity of every row of ``a`` with every row of ``b`` (n×m)."""
        xa = _unit_rows(a, self.dimension)
        xb = _unit_rows(b, self.dimension)
        sims = np.clip((xa @ xb.T).astype(np.float64), -1.0, 1.0)
        pa, pb = np.broadcast_arrays(self.assign(xa)[:, None], self.assign(xb)[None, :])
        flat = self._adjust(sims.ravel(), pa.ravel(), pb.ravel())
        return flat.reshape(sims.shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": "partition",
            "model_id": self.model_id,
            "method": self.method,
            "pairing": self.pairing,
            "fitted_on": self.fitted_on,
            "parts": list(self.parts),
            "centroids": np.round(self.centroids.astype(np.float64), 7).tolist(),
            "levels": np.round(self.levels, 6).tolist(),
            "global_similarity": np.round(self.global_similarity, 7).tolist(),
            "part_similarity": [
                [None if not np.isfinite(v) else round(float(v), 7) for v in row]
                for row in self.part_similarity
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PartitionCalibration:
        levels, glob = _curve_arrays(data["levels"], data["global_similarity"])
        parts = np.array(
            [[np.nan if v is None else float(v) for v in row] for row in data["part_similarity"]],
            dtype=np.float64,
        )
        return cls(
            model_id=str(data["model_id"]),
            method=str(data["method"]),
            pairing=data["pairing"],
            centroids=np.asarray(data["centroids"], dtype=np.float32),
            parts=tuple(str(p) for p in data["parts"]),
            levels=levels,
            global_similarity=glob,
            part_similarity=parts,
            fitted_on=str(data.get("fitted_on", "")),
        )


@dataclass(frozen=True, eq=False)
class CentroidShift:
    """``x' = normalise(x − β·μ_g)`` with ``g`` the nearest group centroid, then the
    transformed similarity mapped onto the global scale (see the module doc).

    Attributes:
        model_id, method, fitted_on: as :class:`PartitionCalibration`.
        beta: how far each face moves away from its group's centroid.
        centroids: G×D group mean embeddings (not normalised).
        groups: G group names.
        levels: L decreasing log10 FMR levels.
        global_similarity: the raw global curve at ``levels``.
        shifted_similarity: the transformed impostors' curve at ``levels``.
    """

    model_id: str
    method: str
    beta: float
    centroids: NDArray[np.float32]
    groups: tuple[str, ...]
    levels: NDArray[np.float64]
    global_similarity: NDArray[np.float64]
    shifted_similarity: NDArray[np.float64]
    fitted_on: str = ""

    def __post_init__(self) -> None:
        if self.centroids.ndim != 2 or len(self.groups) != self.centroids.shape[0]:
            raise ConfigError("a centroid shift needs one centroid per group")
        if not 0.0 <= self.beta <= 2.0:
            raise ConfigError(f"beta must be in [0, 2], got {self.beta}")
        _GlobalScale(self.levels, self.global_similarity)
        _GlobalScale(self.levels, self.shifted_similarity)

    @property
    def dimension(self) -> int:
        return int(self.centroids.shape[1])

    def assign(self, vectors: ArrayLike) -> NDArray[np.intp]:
        """Each row's group (nearest centroid by cosine)."""
        x = _unit_rows(vectors, self.dimension)
        unit = self.centroids / np.linalg.norm(self.centroids, axis=1, keepdims=True)
        return np.asarray((x @ unit.T).argmax(axis=1), dtype=np.intp)

    def transform(self, vectors: ArrayLike) -> NDArray[np.float32]:
        """The shifted, re-normalised embeddings."""
        x = _unit_rows(vectors, self.dimension)
        y = x - self.beta * self.centroids[self.assign(x)]
        out: NDArray[np.float32] = (y / np.linalg.norm(y, axis=1, keepdims=True)).astype(np.float32)
        return out

    def _remap(self, shifted: NDArray[np.float64]) -> NDArray[np.float64]:
        lo, hi = self.shifted_similarity[0], self.shifted_similarity[-1]
        clipped = np.clip(shifted, lo, hi)
        log_fmr = _GlobalScale(self.levels, self.shifted_similarity).log_fmr_at(clipped)
        scale = _GlobalScale(self.levels, self.global_similarity)
        return scale.similarity_at(log_fmr) + (shifted - clipped)

    def pair_scores(self, a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
        ta, tb = self.transform(a), self.transform(b)
        if ta.shape != tb.shape:
            raise ConfigError(f"pair_scores needs equal shapes, got {ta.shape} and {tb.shape}")
        return self._remap(np.einsum("ij,ij->i", ta, tb).astype(np.float64))

    def scores(self, a: ArrayLike, b: ArrayLike) -> NDArray[np.float64]:
        return self._remap((self.transform(a) @ self.transform(b).T).astype(np.float64))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "kind": "centroid-shift",
            "model_id": self.model_id,
            "method": self.method,
            "fitted_on": self.fitted_on,
            "beta": self.beta,
            "groups": list(self.groups),
            "centroids": np.round(self.centroids.astype(np.float64), 7).tolist(),
            "levels": np.round(self.levels, 6).tolist(),
            "global_similarity": np.round(self.global_similarity, 7).tolist(),
            "shifted_similarity": np.round(self.shifted_similarity, 7).tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CentroidShift:
        levels, glob = _curve_arrays(data["levels"], data["global_similarity"])
        return cls(
            model_id=str(data["model_id"]),
            method=str(data["method"]),
            beta=float(data["beta"]),
            centroids=np.asarray(data["centroids"], dtype=np.float32),
            groups=tuple(str(g) for g in data["groups"]),
            levels=levels,
            global_similarity=glob,
            shifted_similarity=np.asarray(data["shifted_similarity"], dtype=np.float64),
            fitted_on=str(data.get("fitted_on", "")),
        )


ScoreAdjuster = PartitionCalibration | CentroidShift
"""Either kind: ``pair_scores(a, b)``, ``scores(a, b)``, ``model_id``, ``to_dict()``."""


def adjuster_from_dict(data: Mapping[str, Any]) -> ScoreAdjuster:
    """Rebuild an adjuster from :meth:`to_dict` output.

    Raises:
        ConfigError: not a serialised adjuster, or malformed.
    """
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        raise ConfigError(f"not a faceprint score adjuster (format {FORMAT!r})")
    try:
        if data.get("kind") == "partition":
            return PartitionCalibration.from_dict(data)
        if data.get("kind") == "centroid-shift":
            return CentroidShift.from_dict(data)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"malformed score adjuster: {exc!r}") from exc
    raise ConfigError(f"unknown score adjuster kind {data.get('kind')!r}")
