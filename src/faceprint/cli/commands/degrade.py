"""``faceprint degrade``: a folder of photos through synthetic capture degradations
(motion blur, low resolution, rain, snow, fog, defocus, noise, JPEG, low light); no
models load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import JsonOpt, existing
from faceprint.errors import UsageError


def register(app: typer.Typer) -> None:
    command(app, "degrade")(degrade)


def degrade(
    source: Annotated[
        Path | None,
        typer.Argument(metavar="SRC", help="An image, or a folder tree of images."),
    ] = None,
    target: Annotated[
        Path | None,
        typer.Argument(
            metavar="DST",
            help="Output folder: the same tree, names and formats (not inside SRC).",
        ),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(
            "--chain",
            help="Degradations applied left to right, KIND[:SEVERITY] joined by '+' "
            "(severity 1 mild … 3 severe, 2 when omitted), e.g. motion_blur:2+noise:1; "
            "see --kinds.",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            min=0,
            help="Run seed; each image's own seed comes from it and the image's path "
            "relative to SRC, so re-runs and subsets agree.",
        ),
    ] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write images already present in DST again.")
    ] = False,
    kinds: Annotated[
        bool, typer.Option("--kinds", help="List the kinds and their parameter per severity.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Degrade every image under SRC into the same tree under DST, deterministically.

    Files are written atomically; images already in DST are kept unless --overwrite, so
    an interrupted run resumes where it stopped. Unreadable images are reported, not
    fatal.
    """
    from faceprint.eval.degrade import degrade_tree, parse_chain

    if kinds:
        if source is not None or chain is not None:
            raise UsageError("--kinds takes no SRC, DST or --chain")
        _list_kinds(as_json=as_json)
        return
    if source is None or target is None:
        raise UsageError("give SRC and DST (or --kinds to list the degradations)")
    if chain is None:
        raise UsageError("give --chain, e.g. --chain motion_blur:2+noise:1 (see --kinds)")
    steps = parse_chain(chain)
    existing([source])
    cli = current()
    with output.progress_bar("degrading", unit="images", enabled=cli.show_progress) as bar:
        summary = degrade_tree(source, target, steps, seed=seed, overwrite=overwrite, progress=bar)
    if as_json:
        output.print_json(
            {
                "source": str(source),
                "target": str(target),
                "chain": summary.chain,
                "seed": seed,
                "written": summary.written,
                "kept": summary.kept,
                "failed": [{"path": path, "message": why} for path, why in summary.failed],
            }
        )
        return
    for path, why in summary.failed:
        output.note(f"failed: {why if path in why else f'{path}: {why}'}")
    output.line(
        f"{summary.chain}: {summary.written} image(s) written, {summary.kept} kept "
        f"(already there), {len(summary.failed)} failed -> {target}"
    )


def _list_kinds(*, as_json: bool) -> None:
    from faceprint.eval.degrade import KINDS, SEVERITIES

    rows: list[dict[str, Any]] = [
        {
            "kind": kind,
            "parameter": meaning,
            "severity": {str(s): value for s, value in zip(SEVERITIES, values, strict=True)},
        }
        for kind, (_, values, meaning) in KINDS.items()
    ]
    if as_json:
        output.print_json(rows)
        return
    width = max(len(r["kind"]) for r in rows)
    output.line(f"{'kind':<{width}}  severity 1 / 2 / 3")
    for r in rows:
        values = " / ".join(f"{v:.3g}" for v in r["severity"].values())
        output.line(f"{r['kind']:<{width}}  {values}  ({r['parameter']})")
