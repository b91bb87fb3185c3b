"""``faceprint models list|pull|verify``: the model catalog and the local cache."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import AcceptOpt, JsonOpt

group = typer.Typer(help="List, fetch and verify model files.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="models")


@command(group, "list")
def models_list(as_json: JsonOpt = False) -> None:
    """List the catalog: task, licence, size, cached or not, calibration."""
    from faceprint.models.card import load_catalog

    store = current().store()
    rows: list[dict[str, Any]] = [
        {
            "name": card.name,
            "task": card.task,
            "default": card.default,
            "licence": card.licence,
            "commercial": card.commercial,
            "size": card.total_size,
            "cached": store.is_cached(card.name),
            "runtime": card.runtime,
            "embedding_dim": card.embedding_dim or None,
            "calibrated": card.calibration is not None,
            "description": card.description,
        }
        for card in load_catalog().values()
    ]
    if as_json:
        output.print_json(rows)
        return
    from rich.table import Table

    table = Table("name", "task", "licence", "size", "cached", "calibrated")
    for r in rows:
        licence = str(r["licence"]) if r["commercial"] else f"[red]{r['licence']}[/]"
        table.add_row(
            f"{r['name']}{' *' if r['default'] else ''}",
            str(r["task"]),
            licence,
            f"{int(r['size']) / 1e6:.1f} MB" if r["size"] else "-",
            "yes" if r["cached"] else "no",
            "yes" if r["calibrated"] else "-",
        )
    output.console().print(table)
    output.line("* part of the default pipeline")


@command(group, "pull")
def models_pull(
    names: Annotated[list[str] | None, typer.Argument(help="Model names.")] = None,
    default: Annotated[
        bool, typer.Option("--default", help="The default pipeline's models.")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every commercially usable model.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if cached.")] = False,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fetch models into the cache (mirror first, then the official URL) and verify them."""
    from faceprint.models.card import load_catalog

    cli = current()
    catalog = load_catalog()
    chosen = list(names or [])
    if default or not (chosen or all_):
        chosen += [c.name for c in catalog.defaults()]
        chosen.append("sface+reid-0095")
    if all_:
        chosen += [c.name for c in catalog.values() if c.commercial]
    store = cli.store()
    results = []
    for name in dict.fromkeys(chosen):
        card = catalog[name]
        if not card.commercial and accept:
            output.note(f"licence notice for {name}: {card.notice}")
        with output.progress_bar(
            f"fetching {name}", enabled=not as_json and cli.show_progress
        ) as bar:
            path = store.ensure(
                name,
                accept_licence=accept,
                force=force,
                progress=bar,
            )
        results.append({"name": name, "path": str(path), "licence": card.licence})
        if not as_json:
            output.line(f"ok {name} -> {path}")
    if as_json:
        output.print_json(results)


@command(group, "verify")
def models_verify(
    names: Annotated[list[str] | None, typer.Argument(help="Model names (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check cached files against the catalog's sha256 (fetches nothing); exit 5 on a
    mismatch."""
    from faceprint.models.card import load_catalog

    store = current().store()
    statuses = []
    bad = 0
    for name in names or list(load_catalog()):
        for status in store.verify(name):
            statuses.append({"model": name, **output.to_jsonable(status)})
            bad += status.state == "mismatch"
            if not as_json:
                output.line(f"{status.state:8} {name}: {status.path}")
    if as_json:
        output.print_json(statuses)
    if bad:
        raise typer.Exit(5)
