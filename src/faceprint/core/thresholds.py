"""Decision thresholds with known error rates.

A threshold is chosen in exactly one of four ways, in this order of precedence:
an explicit similarity, a false-match rate (1:1), a false-positive identification rate
for a gallery of a given size (1:N open set), or the default (1:1 at FMR 1e-3; 1:N at
FPIR 1 %). The error rates come from the embedding model's calibration curve.
"""

from __future__ import annotations

from faceprint.core.calibration import CalibrationCurve
from faceprint.errors import CalibrationError
from faceprint.types import Threshold

DEFAULT_FMR = 1e-3
DEFAULT_FPIR = 0.01

VERIFY_PRESETS: dict[str, float] = {"default": DEFAULT_FMR, "high-security": 1e-5}
"""Named 1:1 operating points. ``high-security`` (FMR 1e-5: one impostor in 100,000
accepted) is for decisions an attacker profits from — access, payments — and costs
genuine users more rejections (docs/security.md has the measured trade)."""


def preset_fmr(name: str) -> float:
    """The FMR of a named 1:1 preset.

    Raises:
        ValueError: an unknown preset (the message lists the known ones).
    """
    try:
        return VERIFY_PRESETS[name]
    except KeyError:
        known = ", ".join(VERIFY_PRESETS)
        raise ValueError(f"unknown verification preset {name!r}; use one of {known}") from None


def _need(curve: CalibrationCurve | None, what: str) -> CalibrationCurve:
    if curve is None:
        raise CalibrationError(
            f"this model has no calibration, so {what} cannot be turned into a threshold; "
            "pass an explicit similarity threshold or run `faceprint eval calibrate`"
        )
    return curve


def verification_threshold(
    curve: CalibrationCurve | None,
    *,
    similarity: float | None = None,
    fmr: float | None = None,
) -> Threshold:
    """The 1:1 threshold: explicit ``similarity``, else the one for ``fmr`` (default 1e-3).

    Raises:
        CalibrationError: an FMR is needed but the model has no calibration, or the FMR is
            outside the calibrated range.
        ValueError: both ``similarity`` and ``fmr`` were given, or a value is out of range.
    """
    if similarity is not None and fmr is not None:
        raise ValueError("give a similarity threshold or an FMR, not both")
    if similarity is not None:
        if not -1.0 <= similarity <= 1.0:
            raise ValueError(f"a cosine similarity threshold must be in [-1, 1], got {similarity}")
        rate = curve.fmr_at(similarity) if curve is not None else None
        return Threshold(similarity=float(similarity), fmr=rate, source="user")
    target = DEFAULT_FMR if fmr is None else fmr
    if not 0.0 < target < 1.0:
        raise ValueError(f"an FMR must be in (0, 1), got {target}")
    cal = _need(curve, f"FMR {target:g}")
    return Threshold(similarity=cal.threshold_for_fmr(target), fmr=target, source="fmr")


def identification_threshold(
    curve: CalibrationCurve | None,
    *,
    gallery_size: int,
    similarity: float | None = None,
    fmr: float | None = None,
    fpir: float | None = None,
) -> Threshold:
    """The open-set 1:N threshold for a gallery of ``gallery_size`` templates.

    Precedence: explicit ``similarity``; else a per-comparison ``fmr``; else ``fpir``
    (default 1 %): the threshold at which an unknown probe matches *some* enrolled
    template with probability ``fpir``, which rises with the gallery size.

    Raises:
        CalibrationError: as in :func:`verification_threshold`, or the gallery is too
            large for the calibrated range at this FPIR.
        ValueError: more than one of the three was given, or a value is out of range.
    """
    given = [v for v in (similarity, fmr, fpir) if v is not None]
    if len(given) > 1:
        raise ValueError("give only one of similarity, fmr or fpir")
    n = max(int(gallery_size), 1)
    if similarity is not None or fmr is not None:
        base = verification_threshold(curve, similarity=similarity, fmr=fmr)
        fpir_est = None if base.fmr is None else 1.0 - (1.0 - base.fmr) ** n
        return Threshold(
            similarity=base.similarity,
            fmr=base.fmr,
            source=base.source,
            fpir=fpir_est,
            gallery_size=n,
        )
    target = DEFAULT_FPIR if fpir is None else fpir
    if not 0.0 < target < 1.0:
        raise ValueError(f"an FPIR must be in (0, 1), got {target}")
    cal = _need(curve, f"FPIR {target:g}")
    value, per_comparison = cal.threshold_for_fpir(target, n)
    return Threshold(
        similarity=value, fmr=per_comparison, source="fpir", fpir=target, gallery_size=n
    )
