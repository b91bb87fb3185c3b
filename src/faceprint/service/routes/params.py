"""Path and query parameters several resources share: names, error rates, thresholds."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Path, Query

from faceprint.core.thresholds import preset_fmr as named

NAME = r"^[^\x00-\x1f/]{1,128}$"
CollectionId = Annotated[str, Path(pattern=NAME, description="Collection name.")]
PersonId = Annotated[str, Path(pattern=NAME, description="Person name (unique per collection).")]
Fmr = Annotated[
    float | None, Query(gt=0, lt=1, description="False-match rate of the threshold (1:1).")
]
Fpir = Annotated[
    float | None,
    Query(gt=0, lt=1, description="False-positive identification rate (default 0.01)."),
]
Similarity = Annotated[
    float | None, Query(ge=-1, le=1, description="Explicit similarity threshold.")
]
Preset = Annotated[
    Literal["default", "high-security"] | None,
    Query(
        description="Named 1:1 operating point when neither `fmr` nor `threshold` is given: "
        "`default` (FMR 1e-3) or `high-security` (FMR 1e-5). Unset: the service's preset."
    ),
]


def preset_fmr(
    preset: str | None, fmr: float | None, threshold: float | None, default: float
) -> float | None:
    """The FMR a 1:1 request asks for: ``fmr``, else its ``preset``'s, else ``default``
    (``None`` when an explicit ``threshold`` decides)."""
    if threshold is not None or fmr is not None:
        return fmr
    return named(preset) if preset is not None else default
