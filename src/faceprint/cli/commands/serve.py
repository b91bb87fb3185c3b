"""``faceprint serve``: the REST service and its web page."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import (
    AcceptOpt,
    DetectorOpt,
    EmbedderOpt,
    FairnessOpt,
    GalleryOpt,
    KeysOpt,
)
from faceprint.errors import UsageError


def register(app: typer.Typer) -> None:
    command(app, "serve")(serve)


def _decimals(text: str | None) -> int | str | None:
    if text is None:
        return None
    value = text.strip().lower()
    if value == "none":
        return "none"
    if value.isdigit():
        return int(value)
    raise UsageError(f"--score-decimals takes a number or 'none', not {text!r}")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    gallery: GalleryOpt = None,
    keys: KeysOpt = None,
    embedder: EmbedderOpt = None,
    fairness: FairnessOpt = None,
    detector: DetectorOpt = "yunet",
    accept: AcceptOpt = False,
    max_request_mb: Annotated[
        float | None, typer.Option(help="Largest request body in MiB (default 20).")
    ] = None,
    max_megapixels: Annotated[
        float | None, typer.Option(help="Largest image in megapixels (default 40).")
    ] = None,
    score_decimals: Annotated[
        str | None,
        typer.Option(
            help="Round similarities in responses to this many decimals, or 'none' (default 2)."
        ),
    ] = None,
    rate_limit: Annotated[
        str | None, typer.Option(help="Default per-key rate limit, e.g. '50/second'.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option(help="Inference threads (default: one per core).")
    ] = None,
    enroll_quality: Annotated[
        bool,
        typer.Option(
            "--enroll-quality/--no-enroll-quality",
            help="Apply the quality policy to enrollments by default.",
        ),
    ] = False,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request line.")
    ] = False,
    people: Annotated[
        Path | None,
        typer.Option(
            "--people",
            metavar="DIR",
            file_okay=False,
            help="A clustering folder (`faceprint cluster PHOTOS --out DIR`) to review, name "
            "and enroll on the web page's People tab (default: $FACEPRINT_PEOPLE).",
        ),
    ] = None,
) -> None:
    """Run the REST service and its web page (http://HOST:PORT/, API docs at /docs)."""
    from faceprint.config import PipelineConfig
    from faceprint.service.server import serve as run_server
    from faceprint.service.settings import MIB, ServiceSettings

    decimals = _decimals(score_decimals)
    cli = current()
    gallery_path = cli.gallery_path(gallery)
    overrides: dict[str, Any] = {
        "gallery_path": gallery_path,
        "keys_path": cli.keys_path(keys),
        "pipeline": PipelineConfig(
            detector=detector,
            embedder=cli.embedder_for(gallery_path, embedder),
            device=cli.device or cli.env.device,
            fairness=fairness or cli.env.fairness,
        ),
        "accept_licence": accept,
        "max_request_bytes": None if max_request_mb is None else int(max_request_mb * MIB),
        "max_image_pixels": None if max_megapixels is None else int(max_megapixels * 1_000_000),
        "rate_limit": rate_limit,
        "inference_threads": threads if threads is not None else cli.threads,
        "enroll_quality": enroll_quality,
        "gallery_key": cli.gallery_key(),  # --gallery-key, else $FACEPRINT_GALLERY_KEY
        "people": people,  # else $FACEPRINT_PEOPLE
    }
    settings = ServiceSettings.from_env(cli.env, **overrides)
    if decimals is not None:
        value = None if decimals == "none" else decimals
        settings = dataclasses.replace(settings, score_decimals=value)  # type: ignore[arg-type]
    run_server(settings, host=host, port=port, access_log=access_log)
