"""Path and query parameters several resources share: names, error rates, thresholds."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

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
