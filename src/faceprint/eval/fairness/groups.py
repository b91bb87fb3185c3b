"""Demographic group labels for an audit: from the user's CSV, or predicted proxies.

A **groups CSV** has a header row; its first column is ``image`` (a path relative to
the image root, ``Person_Name/Person_Name_0001.jpg``) or ``person`` (the folder name),
and every further column is one grouping (``sex``, ``age_band``, …) whose cells name a
face's group. An empty cell means unknown: that face counts in no group of that
column. Labels are taken per person when given per person; per image otherwise.

``--groups predicted`` labels each *person* with the attribute model's majority
gender and the age band of their median predicted age. These are machine-predicted
proxies, not ground truth; reports say so (:attr:`GroupLabels.predicted`).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.errors import DatasetError
from faceprint.eval.audit.dataset import AuditSet

__all__ = ["AGE_BANDS", "GroupLabels", "age_band", "predicted_groups", "read_groups_csv"]

AGE_BANDS = ((35.0, "<35"), (50.0, "35-49"), (float("inf"), "50+"))
"""Upper bounds (exclusive) and names of the predicted age bands."""


def age_band(age: float) -> str:
    """The band of an age in years (``""`` when unknown)."""
    if not np.isfinite(age):
        return ""
    return next(name for bound, name in AGE_BANDS if age < bound)


@dataclass(frozen=True, slots=True)
class GroupLabels:
    """Per grouping (column), one label per face of the audited set (``""``: unknown).

    Attributes:
        columns: grouping name → labels, aligned with the audit set's rows.
        predicted: the labels are model predictions (proxies), not ground truth.
        source: where they came from (a CSV path or ``"predicted"``).
    """

    columns: dict[str, tuple[str, ...]]
    predicted: bool
    source: str


def predicted_groups(faces: AuditSet) -> GroupLabels:
    """Person-level proxies: majority predicted gender, band of the median age."""
    genders: dict[str, list[str]] = defaultdict(list)
    ages: dict[str, list[float]] = defaultdict(list)
    for person, gender, age in zip(faces.persons, faces.gender, faces.age, strict=True):
        if gender in ("female", "male"):
            genders[person].append(gender)
        if np.isfinite(age):
            ages[person].append(float(age))
    gender_of = {p: Counter(v).most_common(1)[0][0] for p, v in genders.items()}
    band_of = {p: age_band(float(np.median(v))) for p, v in ages.items()}
    return GroupLabels(
        columns={
            "predicted_gender": tuple(gender_of.get(p, "") for p in faces.persons),
            "predicted_age": tuple(band_of.get(p, "") for p in faces.persons),
        },
        predicted=True,
        source="predicted",
    )


def read_groups_csv(path: Path, faces: AuditSet) -> GroupLabels:
    """Labels from a groups CSV (see the module doc), aligned with ``faces``.

    Raises:
        DatasetError: the file is unreadable, has no group column, keys neither
            ``image`` nor ``person``, gives one key two labels, or labels none of the
            audited faces.
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read the groups CSV {path}: {exc}") from exc
    if not rows or len(rows[0]) < 2:
        raise DatasetError(f"{path}: need a header 'image' or 'person' and ≥ 1 group column")
    header = [h.strip() for h in rows[0]]
    key = header[0].lower()
    if key not in ("image", "person"):
        raise DatasetError(f"{path}: the first column must be 'image' or 'person', not {key!r}")
    if len(set(header)) != len(header):
        raise DatasetError(f"{path}: duplicate column names in {header}")
    table: dict[str, list[str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        cells = [c.strip() for c in row] + [""] * (len(header) - len(row))
        name = cells[0].replace("\\", "/")
        if name in table and table[name] != cells[1 : len(header)]:
            raise DatasetError(f"{path}:{number}: {name!r} is listed twice with other groups")
        table[name] = cells[1 : len(header)]
    keys: Sequence[str] = faces.paths if key == "image" else faces.persons
    found = [table.get(k) for k in keys]
    if not any(f is not None for f in found):
        raise DatasetError(
            f"{path}: no {key} of the audited set is listed "
            f"(e.g. {keys[0]!r}); check the column and the image root"
        )
    columns = {
        column: tuple((f[i] if f is not None else "") for f in found)
        for i, column in enumerate(header[1:])
    }
    return GroupLabels(columns=columns, predicted=False, source=str(path))
