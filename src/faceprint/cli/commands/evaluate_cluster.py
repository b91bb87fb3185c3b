"""``faceprint eval cluster``: score ``faceprint cluster`` on a labelled folder tree.

Registered on the ``eval`` group (:mod:`faceprint.cli.commands.evaluate`); the work is
:mod:`faceprint.eval.cluster`'s.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import AcceptOpt, EmbedderOpt, JsonOpt, OutputOpt, PlotOpt, existing


def register(group: typer.Typer) -> None:
    command(group, "cluster")(eval_cluster)


def eval_cluster(
    root: Annotated[Path, typer.Option(help="Folder tree root/<person>/<images>.")],
    fpir: Annotated[
        float,
        typer.Option("--fpir", help="Per-face false-link rate the threshold is derived from."),
    ] = 0.01,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Explicit cosine similarity instead.")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Clustering folder (kept: a re-run embeds only new images). Default: one "
            "per tree under $FACEPRINT_HOME/eval-cluster/.",
        ),
    ] = None,
    sheets: Annotated[
        bool, typer.Option("--sheets/--no-sheets", help="Also draw the contact sheets.")
    ] = False,
    embedder: EmbedderOpt = None,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
    report: OutputOpt = None,
    plot: PlotOpt = None,
) -> None:
    """Cluster every face of ROOT as `faceprint cluster` does and score the clusters of
    the labelled faces: BCubed and pairwise precision/recall/F, clusters vs identities."""
    from faceprint.eval.cluster import evaluate_clustering, plot_sizes, summary_text

    existing([root])
    if not 0.0 < fpir < 1.0:
        raise typer.BadParameter("must be in (0, 1)", param_hint="--fpir")
    cli = current()
    pipeline = cli.pipeline(embedder=embedder, accept=accept)
    if out is None:
        key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
        out = cli.env.root / "eval-cluster" / f"{pipeline.model_id}-{key}"
    with output.progress_bar("embedding", unit="img", enabled=cli.show_progress) as bar:
        result = evaluate_clustering(
            pipeline,
            root,
            out,
            fpir=fpir,
            similarity=threshold,
            sheets=sheets,
            progress=lambda done, total: bar(done, total, ""),
        )
    data = result.to_dict()
    if report is not None:
        output.write_json(report, data)
    if plot is not None:
        plot_sizes(result, plot)
    if as_json:
        output.print_json(data)
    else:
        output.line(summary_text(result))
