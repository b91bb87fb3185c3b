"""Options shared by several commands, declared once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from faceprint.cli.output import Mode
from faceprint.errors import UsageError

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON on stdout (logs go to stderr).")
]
JsonlOpt = Annotated[
    bool, typer.Option("--jsonl", help="Print one JSON object per image, as each is ready.")
]
EmbedderOpt = Annotated[
    str | None,
    typer.Option(
        "--embedder",
        help="Embedding model or fused template (see `faceprint models list`). "
        "Default: the gallery's model, else sface.",
    ),
]
FairnessOpt = Annotated[
    str | None,
    typer.Option(
        "--fairness",
        help="Fairness score adjuster applied when matching: a catalog name (see "
        "docs/fairness.md) or an adjuster .json from `faceprint eval fairness-fit`. "
        "Default: $FACEPRINT_FAIRNESS, else none.",
    ),
]
DetectorOpt = Annotated[str, typer.Option("--detector", help="Face detector model.")]
AcceptOpt = Annotated[
    bool,
    typer.Option(
        "--accept-licence",
        help="Opt in to a model whose licence forbids commercial use (its notice is shown).",
    ),
]
GalleryOpt = Annotated[
    Path | None,
    typer.Option(
        "--gallery",
        "-g",
        help="Gallery file (SQLite). Default: $FACEPRINT_GALLERY, else $FACEPRINT_HOME/gallery.db.",
    ),
]
CollectionOpt = Annotated[str, typer.Option("--collection", "-c", help="Gallery collection.")]
SearchCollectionOpt = Annotated[
    str | None, typer.Option("--collection", "-c", help="Search one collection (default: all).")
]
KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys", help="API keys file. Default: $FACEPRINT_KEYS, else $FACEPRINT_HOME/keys.db."
    ),
]
OutputOpt = Annotated[
    Path | None, typer.Option("--output", "-o", help="Also write the JSON report to this file.")
]
PlotOpt = Annotated[Path | None, typer.Option("--plot", help="Write the curve as a PNG here.")]
ThresholdOpt = Annotated[
    float | None, typer.Option("--threshold", help="Explicit cosine similarity threshold.")
]
FpirOpt = Annotated[
    float | None,
    typer.Option(
        "--fpir", help="False-positive identification rate (default 0.01 for the gallery's size)."
    ),
]

TemplateKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--template-key",
        metavar="SPEC",
        help="Cancelable templates: rotate every embedding with the secret transform of "
        "this key (file:PATH, env:NAME or cmd:COMMAND; `faceprint gallery keygen FILE` "
        "makes one). Default: $FACEPRINT_TEMPLATE_KEY.",
    ),
]
TenantOpt = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        help="With a template key: the tenant whose transform is derived from it "
        "(templates of two tenants cannot be linked). Default: $FACEPRINT_TEMPLATE_TENANT, "
        "else default.",
    ),
]


def output_mode(as_json: bool, jsonl: bool = False) -> Mode:
    """``"text"``, ``"json"`` or ``"jsonl"``.

    Raises:
        UsageError: both ``--json`` and ``--jsonl``.
    """
    if as_json and jsonl:
        raise UsageError("--json and --jsonl exclude each other; choose one")
    return "jsonl" if jsonl else "json" if as_json else "text"


def existing(paths: Iterable[Path]) -> list[Path]:
    """The paths, checked to exist before any model loads.

    Raises:
        UsageError: a path does not exist (one line naming it).
    """
    out = list(paths)
    for path in out:
        if not path.exists():
            raise UsageError(f"{path}: no such file or folder")
    return out
