"""Rendering for the CLI: JSON on stdout for machines, Rich text for people, logs on
stderr. Also the one place where errors become exit codes."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from faceprint import errors

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_IMAGE = 3
EXIT_CODES: tuple[tuple[type[errors.FaceprintError], int], ...] = (
    (errors.ImageError, EXIT_IMAGE),
    (errors.VideoError, EXIT_IMAGE),
    (errors.NoFaceError, 4),
    (errors.MultipleFacesError, 4),
    (errors.LicenceNotAcceptedError, 5),
    (errors.ModelError, 5),
    (errors.GalleryError, 6),
    (errors.CalibrationError, 7),
    (errors.DatasetError, 7),
    (errors.ConfigError, 8),
    (errors.FaceprintError, EXIT_FAILURE),
)
"""Error class → process exit code; the first matching row wins."""
EXIT_INTERNAL = 70


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception (70 for anything that is not a FaceprintError)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return EXIT_INTERNAL


def to_jsonable(value: Any) -> Any:
    """Convert results (dataclasses, numpy, enums, paths) into JSON-safe values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def print_json(value: Any) -> None:
    """Write one JSON document to stdout (never through Rich, so it stays parseable)."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fmt_box(box: tuple[float, float, float, float] | None) -> str:
    if box is None:
        return "-"
    return "({:.0f},{:.0f},{:.0f},{:.0f})".format(*box)


def fmt_rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0e}" if rate < 0.01 else f"{rate:.2%}"


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields ``update(done, total, current)``."""
    if not enabled:
        yield lambda done, total, current: None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int, current: str) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def frame_progress(description: str, *, total: int | None, enabled: bool = True) -> Iterator[Any]:
    """A progress bar for video on stderr, with frames per second; yields
    ``update(done_frames)``."""
    if not enabled:
        yield lambda done: None
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    )
    with bar:
        task = bar.add_task(description, total=total, rate="")
        started = time.monotonic()

        def update(done: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=done, rate=f"{done / elapsed:.1f} frames/s")

        yield update
