"""Calibration: the similarity threshold at each false-match rate (pure numpy).

A :class:`CalibrationCurve` is fitted from the similarities of impostor pairs (two
different people) on a calibration set. With every cross-identity pair of a few
thousand images there are tens of millions of them (7,701 LFW images give ~29.6 M),
so rates down to ~1e-6 rest on real observations. A grid point is kept only if at
least :data:`MIN_PAIRS_PER_POINT` impostor pairs lie at or above its threshold.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from faceprint.core.metrics import budget
from faceprint.errors import CalibrationError

MIN_PAIRS_PER_POINT = 10
"""A calibrated FMR ``f`` needs ``f · impostor_pairs >= 10``."""

DEFAULT_FMR_GRID: tuple[float, ...] = tuple(float(f) for f in 10.0 ** np.linspace(-1, -6, 26))
"""1e-1 … 1e-6, five points per decade."""

_REL_TOL = 1e-9  # an FMR this close to a grid end counts as inside the range


def _pair_codes(
    embeddings: ArrayLike, identities: ArrayLike, block: int
) -> tuple[NDArray[np.float32], NDArray[np.intp]]:
    emb = np.asarray(embeddings, dtype=np.float32)
    ids = np.asarray(identities).ravel()
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be an N×D matrix, got shape {emb.shape}")
    if len(ids) != len(emb):
        raise ValueError(f"need one identity per embedding: {len(ids)} vs {len(emb)}")
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    _, codes = np.unique(ids, return_inverse=True)
    return emb, codes.ravel().astype(np.intp)


def _pair_similarities(
    embeddings: ArrayLike, identities: ArrayLike, *, same: bool, block: int
) -> NDArray[np.float32]:
    emb, codes = _pair_codes(embeddings, identities, block)
    n = len(emb)
    counts = np.bincount(codes).astype(np.int64) if n else np.zeros(0, np.int64)
    n_same = int((counts * (counts - 1) // 2).sum())
    total = n_same if same else n * (n - 1) // 2 - n_same
    out = np.empty(total, dtype=np.float32)
    filled = 0
    for start in range(0, n, block):
        stop = min(start + block, n)
        # rows i in [start, stop), columns j in [start, n); keep j > i.
        sims = emb[start:stop] @ emb[start:].T
        upper = np.arange(start, n)[None, :] > np.arange(start, stop)[:, None]
        match = codes[start:stop, None] == codes[None, start:]
        chosen = sims[upper & (match if same else ~match)]
        out[filled : filled + chosen.size] = chosen
        filled += chosen.size
    return out


def impostor_similarities(
    embeddings: ArrayLike, identities: ArrayLike, *, block: int = 2048
) -> NDArray[np.float32]:
    """Similarity of every pair ``i < j`` with different identities, each pair once.

    Args:
        embeddings: (N, D) unit-norm float32 rows (similarity is the dot product).
        identities: (N,) identity labels (ints or strings).
        block: rows per matrix product; temporary memory is about
            ``block · N · 7`` bytes on top of the (preallocated) output.

    Returns:
        float32 array of length ``N(N-1)/2 - Σ_c n_c(n_c-1)/2`` (``n_c`` images of
        identity ``c``), in row-major order of ``(i, j)``.

    Raises:
        ValueError: ``embeddings`` is not 2-D, lengths differ, or ``block < 1``.
    """
    return _pair_similarities(embeddings, identities, same=False, block=block)


def genuine_similarities(
    embeddings: ArrayLike, identities: ArrayLike, *, block: int = 2048
) -> NDArray[np.float32]:
    """Similarity of every pair ``i < j`` with the same identity, each pair once.

    Args and raises as :func:`impostor_similarities`; the result has
    ``Σ_c n_c(n_c-1)/2`` entries in row-major order of ``(i, j)``.
    """
    return _pair_similarities(embeddings, identities, same=True, block=block)


@dataclass(frozen=True, slots=True)
class CalibrationCurve:
    """Similarity thresholds at a grid of false-match rates (FMR) for one model.

    Attributes:
        fmr: strictly decreasing rates in (0, 1], e.g. 1e-1 … 1e-6.
        similarity: non-decreasing thresholds; a fraction ``fmr[i]`` of the calibration
            impostor pairs scores ``>= similarity[i]``.
        dataset: what the curve was fitted on (free text, stored with the model card).
        impostor_pairs: number of impostor pairs fitted.
        genuine_pairs: number of genuine pairs, 0 if none were given.
        tar: empty, or the fraction of genuine pairs ``>= similarity[i]`` at each point.

    Raises:
        CalibrationError: (on construction) the fields are inconsistent.
    """

    fmr: tuple[float, ...]
    similarity: tuple[float, ...]
    dataset: str
    impostor_pairs: int
    genuine_pairs: int = 0
    tar: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if not self.fmr or len(self.fmr) != len(self.similarity):
            raise CalibrationError(
                "a calibration curve needs one or more (fmr, similarity) points of equal count; "
                f"got {len(self.fmr)} FMRs and {len(self.similarity)} thresholds"
            )
        if not all(0.0 < f <= 1.0 for f in self.fmr):
            raise CalibrationError(f"calibration FMRs must lie in (0, 1]: {self.fmr}")
        if any(b >= a for a, b in zip(self.fmr, self.fmr[1:], strict=False)):
            raise CalibrationError("calibration FMRs must strictly decrease")
        if not all(math.isfinite(s) for s in self.similarity):
            raise CalibrationError("calibration thresholds must be finite numbers")
        if any(b < a for a, b in zip(self.similarity, self.similarity[1:], strict=False)):
            raise CalibrationError("calibration thresholds must not decrease as the FMR falls")
        if self.tar and len(self.tar) != len(self.fmr):
            raise CalibrationError(
                f"tar must be empty or have one value per point ({len(self.fmr)}), "
                f"got {len(self.tar)}"
            )
        if self.impostor_pairs < 0 or self.genuine_pairs < 0:
            raise CalibrationError("pair counts cannot be negative")

    @property
    def fmr_range(self) -> tuple[float, float]:
        """``(smallest, largest)`` calibrated FMR."""
        return self.fmr[-1], self.fmr[0]

    def _range_text(self) -> str:
        low, high = self.fmr_range
        return f"[{low:.3g}, {high:.3g}] (calibrated on {self.dataset})"

    def threshold_for_fmr(self, fmr: float) -> float:
        """The similarity threshold at which the false-match rate is ``fmr``.

        Interpolates the threshold linearly in ``log10(fmr)`` between grid points.

        Args:
            fmr: a false-match rate within :attr:`fmr_range`.

        Returns:
            A cosine similarity.

        Raises:
            CalibrationError: ``fmr`` is outside the calibrated range (the message names
                the range).
        """
        low, high = self.fmr_range
        if not low * (1 - _REL_TOL) <= fmr <= high * (1 + _REL_TOL):
            raise CalibrationError(
                f"FMR {fmr:g} is outside the calibrated range {self._range_text()}; "
                "choose an FMR in that range or pass an explicit similarity threshold"
            )
        fmr = min(max(fmr, low), high)
        x = -np.log10(np.asarray(self.fmr))  # increasing
        return float(np.interp(-math.log10(fmr), x, np.asarray(self.similarity)))

    def fmr_at(self, similarity: float) -> float:
        """The false-match rate of a similarity threshold (inverse of
        :meth:`threshold_for_fmr`; log-linear interpolation).

        Outside the calibrated thresholds the result is a bound, not an estimate:
        below the lowest threshold the largest calibrated FMR is returned (the true rate
        is at least that); above the highest, the smallest calibrated FMR (the true rate
        is at most that). Where several grid points share a threshold, that threshold
        gets the largest of their FMRs (an upper bound) and interpolation just above it
        starts from the smallest.

        Args:
            similarity: a cosine similarity threshold.

        Raises:
            CalibrationError: ``similarity`` is NaN.
        """
        if math.isnan(similarity):
            raise CalibrationError("the similarity threshold is NaN; pass a number")
        sims = self.similarity
        if similarity < sims[0]:
            return self.fmr[0]
        if similarity > sims[-1]:
            return self.fmr[-1]
        left = bisect.bisect_left(sims, similarity)
        if sims[left] == similarity:
            return self.fmr[left]  # the largest FMR of a tied group
        # sims[i] < similarity < sims[j]; i is the last point of its tied group
        i, j = bisect.bisect_right(sims, similarity) - 1, left
        w = (similarity - sims[i]) / (sims[j] - sims[i])
        log_fmr = (1 - w) * math.log10(self.fmr[i]) + w * math.log10(self.fmr[j])
        return float(10.0**log_fmr)

    def threshold_for_fpir(
        self, fpir: float, gallery_size: int, *, clamp: bool = False
    ) -> tuple[float, float]:
        """Open-set threshold for a false-positive identification rate (FPIR).

        A non-mated probe searched against ``N = gallery_size`` templates makes N
        comparisons; treating them as independent, ``FPIR = 1 - (1 - FMR)^N``, so the
        per-comparison rate is ``FMR = 1 - (1 - FPIR)^(1/N)`` (≈ ``FPIR / N`` for small
        rates). Comparisons against one gallery are in fact correlated, so this is an
        approximation; it is usually conservative (the real FPIR is at most ``fpir``).
        If the FMR is above the calibrated range (tiny gallery, large FPIR) the largest
        calibrated FMR is used, which is stricter than asked.

        Args:
            fpir: target FPIR in (0, 1).
            gallery_size: number of templates a probe is compared with, ``>= 1``.
            clamp: when the gallery is too large for the calibrated range, use its
                smallest FMR (the FPIR is then above ``fpir``) instead of raising.

        Returns:
            ``(threshold, per_comparison_fmr)``.

        Raises:
            CalibrationError: ``gallery_size < 1``, ``fpir`` not in (0, 1), or the
                implied FMR is below the calibrated range (gallery too large for this
                calibration).
        """
        if gallery_size < 1:
            raise CalibrationError(
                f"an identification threshold needs a gallery of at least 1 template, "
                f"got {gallery_size}"
            )
        if not 0.0 < fpir < 1.0:
            raise CalibrationError(f"FPIR must be in (0, 1), got {fpir}")
        per_comparison = -math.expm1(math.log1p(-fpir) / gallery_size)
        low, high = self.fmr_range
        if per_comparison < low * (1 - _REL_TOL) and clamp:
            per_comparison = low  # stricter would be right; this is the strictest known
        elif per_comparison < low * (1 - _REL_TOL):
            raise CalibrationError(
                f"the gallery is too large for this calibration: FPIR {fpir:g} with "
                f"{gallery_size} templates needs a per-comparison FMR of {per_comparison:.3g}, "
                f"below the calibrated range {self._range_text()}; "
                "pass an explicit similarity threshold"
            )
        per_comparison = min(per_comparison, high)
        return self.threshold_for_fmr(per_comparison), per_comparison

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of str, int, float and lists of float (JSON- and TOML-safe)."""
        return {
            "dataset": self.dataset,
            "impostor_pairs": int(self.impostor_pairs),
            "genuine_pairs": int(self.genuine_pairs),
            "fmr": [float(v) for v in self.fmr],
            "similarity": [float(v) for v in self.similarity],
            "tar": [float(v) for v in self.tar],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CalibrationCurve:
        """Inverse of :meth:`to_dict` (``genuine_pairs`` and ``tar`` are optional).

        Raises:
            CalibrationError: a field is missing or malformed.
        """
        try:
            return cls(
                fmr=tuple(float(v) for v in data["fmr"]),
                similarity=tuple(float(v) for v in data["similarity"]),
                dataset=str(data["dataset"]),
                impostor_pairs=int(data["impostor_pairs"]),
                genuine_pairs=int(data.get("genuine_pairs", 0)),
                tar=tuple(float(v) for v in data.get("tar", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CalibrationError):
                raise
            raise CalibrationError(
                f"malformed calibration data ({exc!r}); expected keys dataset, "
                "impostor_pairs, fmr, similarity and optionally genuine_pairs, tar"
            ) from exc


def _threshold_at(desc: NDArray[np.floating], allowed: int) -> float:
    """A threshold with exactly the scores ``desc[:allowed]`` at or above it (``desc``
    decreasing): the midpoint between ``desc[allowed-1]`` and ``desc[allowed]``, moved
    just above ``desc[allowed]`` when they tie or the midpoint rounds onto it."""
    below = desc[allowed]
    if allowed > 0:
        mid = desc.dtype.type((float(desc[allowed - 1]) + float(below)) / 2.0)
        if mid > below:
            return float(mid)
    return float(np.nextafter(below, np.array(np.inf, dtype=desc.dtype)))


def fit_calibration(
    impostor: ArrayLike,
    *,
    dataset: str,
    genuine: ArrayLike | None = None,
    fmr_grid: ArrayLike | None = None,
) -> CalibrationCurve:
    """Fit a :class:`CalibrationCurve` from impostor similarities.

    For each grid rate ``f`` with ``k = floor(f · n)`` (n impostor pairs), the threshold
    is the midpoint between the k-th and (k+1)-th highest impostor scores, so exactly
    the k highest lie at or above it (when scores tie there, it is the next float above
    the tied value and fewer lie above it). Grid points with ``f · n < 10`` are dropped:
    each kept point rests on at least ten impostor pairs.

    Args:
        impostor: (n,) similarities of different-person pairs (float32 or float64).
        dataset: description of the calibration data, stored with the curve.
        genuine: optional (g,) similarities of same-person pairs; gives ``tar``.
        fmr_grid: rates to calibrate at, in (0, 1); default :data:`DEFAULT_FMR_GRID`
            (``10**linspace(-1, -6, 26)``).

    Raises:
        CalibrationError: no grid point rests on ten impostor pairs, or the scores or
            grid are not finite / in range.
    """
    imp = np.asarray(impostor).ravel()
    if imp.dtype not in (np.float32, np.float64):
        imp = imp.astype(np.float64)
    if not np.isfinite(imp).all():
        raise CalibrationError("impostor similarities contain NaN or infinite values")
    n = imp.size
    grid = np.asarray(DEFAULT_FMR_GRID if fmr_grid is None else fmr_grid, dtype=np.float64)
    grid = grid.ravel()
    if grid.size == 0 or not ((grid > 0) & (grid < 1)).all():
        raise CalibrationError("every grid FMR must lie in (0, 1)")
    grid = np.unique(grid)[::-1]  # strictly decreasing
    grid = grid[grid * n >= MIN_PAIRS_PER_POINT * (1 - _REL_TOL)]
    if grid.size == 0:
        raise CalibrationError(
            f"{n} impostor pairs cannot support any grid FMR (each needs FMR · pairs >= "
            f"{MIN_PAIRS_PER_POINT}); calibrate on more images"
        )
    desc = np.sort(imp)[::-1]
    gen: NDArray[np.floating] | None = None
    if genuine is not None:
        gen = np.sort(np.asarray(genuine, dtype=np.float64).ravel())
    sims: list[float] = []
    tars: list[float] = []
    for f in grid:
        t = _threshold_at(desc, min(budget(float(f), n), n - 1))
        if sims and t < sims[-1]:  # cannot happen for sorted input; guards rounding
            t = sims[-1]
        sims.append(t)
        if gen is not None and gen.size:
            accepted = gen.size - int(np.searchsorted(gen, t, side="left"))
            tars.append(accepted / gen.size)
    return CalibrationCurve(
        fmr=tuple(float(f) for f in grid),
        similarity=tuple(sims),
        dataset=dataset,
        impostor_pairs=n,
        genuine_pairs=0 if gen is None else int(gen.size),
        tar=tuple(tars),
    )
