"""Rendering for the CLI: JSON on stdout for machines, text for people, logs, progress
and errors on stderr.

Plain lines go straight to ``sys.stdout``; Rich (colour, tables, progress bars) is
imported only when a terminal will show it, so a piped or scripted command does not pay
for it at start-up.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from faceprint.types import Progress

if TYPE_CHECKING:
    from rich.console import Console

Mode = Literal["text", "json", "jsonl"]


def to_jsonable(value: Any) -> Any:
    """Convert results (dataclasses, numpy, enums, paths, errors) into JSON-safe values."""
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
    if isinstance(value, BaseException):
        return {"code": getattr(value, "code", type(value).__name__), "message": str(value)}
    return value


def print_json(value: Any) -> None:
    """Write one JSON document to stdout (never through Rich, so it stays parseable)."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def json_line(value: Any) -> None:
    """One compact JSON document on one line of stdout (JSON Lines)."""
    sys.stdout.write(json.dumps(to_jsonable(value), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def write_json(path: Path, value: Any) -> None:
    """Write a JSON report file (parent folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n", "utf-8")


@functools.cache
def console(*, stderr: bool = False) -> Console:
    """The Rich console of stdout (or stderr), made on first use."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True, highlight=False)


def line(text: str) -> None:
    """One plain line on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _styled(prefix: str, style: str, text: str) -> None:
    if sys.stderr.isatty():
        from rich.markup import escape

        console(stderr=True).print(f"[{style}]{escape(prefix)}[/]{escape(text)}")
    else:
        sys.stderr.write(prefix + text + "\n")
        sys.stderr.flush()


def note(text: str, *, style: str = "yellow") -> None:
    """One line for people on stderr (coloured on a terminal)."""
    _styled("", style, text)


def error_line(code: str, message: str) -> None:
    """The one-line error report on stderr: ``error (code): message``."""
    _styled("error", "bold red", f" ({code}): {message}")


class ResultWriter:
    """Streams per-item results: text lines, a JSON array written as items arrive
    (valid JSON at the end, constant memory), or one JSON object per line."""

    def __init__(self, mode: Mode) -> None:
        self.mode = mode
        self._count = 0

    def __enter__(self) -> ResultWriter:
        if self.mode == "json":
            sys.stdout.write("[")
        return self

    def item(self, value: Any) -> None:
        """Write one machine-readable item (ignored in text mode)."""
        if self.mode == "text":
            return
        if self.mode == "jsonl":
            json_line(value)
        else:
            text = json.dumps(to_jsonable(value), ensure_ascii=False)
            sys.stdout.write(("\n" if self._count == 0 else ",\n") + "  " + text)
            sys.stdout.flush()
        self._count += 1

    def __exit__(self, *exc: object) -> None:
        if self.mode == "json":
            sys.stdout.write("\n]\n" if self._count else "]\n")
            sys.stdout.flush()


def fmt_box(box: tuple[float, float, float, float] | None) -> str:
    if box is None:
        return "-"
    return "({:.0f},{:.0f},{:.0f},{:.0f})".format(*box)


def fmt_rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.0e}" if rate < 0.01 else f"{rate:.2%}"


def _bar() -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    return Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console(stderr=True),
        transient=True,
    )


@contextmanager
def progress_bar(
    description: str, *, total: int | None = None, unit: str = "", enabled: bool = True
) -> Iterator[Progress]:
    """A transient Rich progress bar on stderr; yields ``update(done, total, current)``
    (a ``total`` of 0 keeps the one given here). With ``unit`` it shows the rate."""
    if not enabled or not sys.stderr.isatty():
        yield lambda done, total, current: None
        return
    bar = _bar()
    started = time.monotonic()
    with bar:
        task = bar.add_task(description, total=total, rate="")

        def update(done: int, total: int, current: str) -> None:
            rate = f"{done / max(time.monotonic() - started, 1e-6):.1f} {unit}/s" if unit else ""
            bar.update(task, completed=done, total=total or bar.tasks[0].total, rate=rate)

        yield update


@contextmanager
def stage_progress(
    *, unit: str = "frames", enabled: bool = True
) -> Iterator[Callable[[str, int, int], None]]:
    """A transient progress bar for work in stages (e.g. recognise, then annotate);
    yields ``update(stage, done, total)``: a new ``stage`` restarts the bar under
    that name (``total`` 0 when unknown)."""
    if not enabled or not sys.stderr.isatty():
        yield lambda stage, done, total: None
        return
    bar = _bar()
    with bar:
        task = bar.add_task("", total=None, rate="")
        stages = [""]
        starts = [time.monotonic()]

        def update(stage: str, done: int, total: int) -> None:
            if stage != stages[-1]:
                stages.append(stage)
                starts.append(time.monotonic())
                bar.reset(task, description=stage, total=total or None)
            elapsed = max(time.monotonic() - starts[-1], 1e-6)
            bar.update(
                task, completed=done, total=total or None, rate=f"{done / elapsed:.1f} {unit}/s"
            )

        yield update
