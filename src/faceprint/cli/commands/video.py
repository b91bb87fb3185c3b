"""``faceprint video``: recognise people in a video file, stream or webcam."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import EXIT_INTERRUPTED, command
from faceprint.cli.options import (
    AcceptOpt,
    EmbedderOpt,
    FpirOpt,
    GalleryOpt,
    JsonOpt,
    SearchCollectionOpt,
    TemplateKeyOpt,
    TenantOpt,
    ThresholdOpt,
)


def register(app: typer.Typer) -> None:
    command(app, "video")(video)


def video(
    source: Annotated[
        str,
        typer.Argument(help="Video file, stream URL (rtsp://, http://…) or webcam index (0)."),
    ],
    gallery: GalleryOpt = None,
    collection: SearchCollectionOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write an annotated MP4 (processed frames).")
    ] = None,
    events: Annotated[
        Path | None, typer.Option("--events", help="Write events as JSON lines.")
    ] = None,
    fps: Annotated[
        float,
        typer.Option(help="Frames per second of video to process (0: every frame)."),
    ] = 10.0,
    save_unknown: Annotated[
        Path | None,
        typer.Option(
            "--save-unknown", help="Group unknown tracks and save their best faces under DIR."
        ),
    ] = None,
    fpir: FpirOpt = None,
    threshold: ThresholdOpt = None,
    max_seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds of video (streams).")
    ] = None,
    scene_cuts: Annotated[
        bool,
        typer.Option(
            "--scene-cuts/--no-scene-cuts", help="End every track at a scene cut (default on)."
        ),
    ] = True,
    appearance_gate: Annotated[
        bool,
        typer.Option(
            "--appearance-gate/--no-appearance-gate",
            help="Split a track when its face becomes someone else's (default on).",
        ),
    ] = True,
    lookahead: Annotated[
        float,
        typer.Option(
            help="Live sources: seconds frames are held before --out writes them labelled."
        ),
    ] = 2.0,
    embedder: EmbedderOpt = None,
    accept: AcceptOpt = False,
    template_key: TemplateKeyOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recognise people in a video or stream: one identity per track, events, annotated output.

    A track ends at a scene cut and is split when its face becomes someone else's, so
    a name is never carried onto another person; the annotated video labels every
    frame of a track with the track's identity (files: a second pass; live sources:
    --lookahead seconds behind). Ctrl-C stops cleanly: open tracks end, events are
    flushed, outputs are closed.
    """
    from faceprint.errors import NotFoundError
    from faceprint.gallery import Gallery
    from faceprint.video import VideoOptions, run_video

    cli = current()
    path = cli.gallery_path(gallery)
    if not path.is_file():
        raise NotFoundError(f"no gallery at {path}; enroll faces first, or pass --gallery")
    options = VideoOptions(
        fps=fps or None,
        collection=collection,
        fpir=fpir,
        threshold=threshold,
        scene_cuts=scene_cuts,
        appearance_gate=appearance_gate,
        lookahead_seconds=lookahead,
    )
    templates = cli.template_key(template_key, tenant)
    model = cli.embedder_for(path, embedder)
    pipeline = cli.pipeline(embedder=model, accept=accept, templates=templates)
    name = Path(source).name if not source.isdigit() and "://" not in source else source
    with (
        Gallery.open(
            path,
            model_id=pipeline.model_id,
            create=False,
            device=cli.search_device(),
            key=cli.gallery_key(),
        ) as g,
        output.stage_progress(enabled=not as_json and cli.show_progress) as progress,
    ):
        report = run_video(
            pipeline,
            g,
            source,
            options=options,
            out=out,
            events=events,
            unknown_dir=save_unknown,
            max_seconds=max_seconds,
            progress=lambda stage, done, total: progress(f"{stage} {name}", done, total),
        )
    if as_json:
        output.print_json(report.to_dict())
    else:
        summary = report.summary
        for person in summary["people"]:
            spans = person["tracks"]
            best = max((s["similarity"] or 0.0) for s in spans)
            output.line(
                f"{person['person']}: {person['first_timestamp']:.2f}–"
                f"{person['last_timestamp']:.2f} s in {len(spans)} track(s), "
                f"best similarity {best:.2f}"
            )
        stats = report.stats
        output.line(
            f"{len(summary['unknown_tracks'])} unknown track(s); "
            f"{stats.frames_processed} frames processed of {stats.frames_decoded} decoded "
            f"({report.processed_fps:.2f} frames/s), {stats.embedded} face embeddings for "
            f"{stats.observations} face observations; {stats.scene_cuts} scene cut(s), "
            f"{stats.splits} track split(s)"
        )
        for group in report.unknown_groups:
            output.line(f"unknown faces saved in {group}")
    if report.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
