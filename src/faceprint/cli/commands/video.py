"""``faceprint video``: recognise people in a video file, stream or webcam."""

from __future__ import annotations

import dataclasses
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
    embedder: EmbedderOpt = None,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Recognise people in a video or stream: one identity per track, events, annotated output.

    Ctrl-C stops cleanly: open tracks end, events are flushed, outputs are closed.
    """
    import time as clock

    from faceprint.errors import NotFoundError
    from faceprint.gallery import Gallery
    from faceprint.video import (
        EventLog,
        VideoOptions,
        VideoRecognizer,
        VideoSource,
        VideoWriter,
        annotate,
        recognize_video,
        save_unknown_tracks,
        summarize,
    )

    cli = current()
    path = cli.gallery_path(gallery)
    if not path.is_file():
        raise NotFoundError(f"no gallery at {path}; enroll faces first, or pass --gallery")
    pipeline = cli.pipeline(embedder=cli.embedder_for(path, embedder), accept=accept)
    options = VideoOptions(fps=fps or None, collection=collection, fpir=fpir, threshold=threshold)
    with (
        Gallery.open(path, model_id=pipeline.model_id, create=False) as g,
        VideoSource(source, fps=options.fps) as src,
    ):
        info = src.info
        recognizer = VideoRecognizer(pipeline, g, options=options, frame_rate=info.fps or 25.0)
        log_file = EventLog(events) if events else None
        writer = None
        interrupted = False
        last = None
        started = clock.monotonic()
        total = None
        if not info.live and info.duration and options.fps:
            total = max(1, round(info.duration * min(options.fps, info.fps or options.fps)))
        elif not info.live and info.frames:
            total = info.frames
        try:
            with output.progress_bar(
                f"video {Path(source).name if not info.live else source}",
                total=total,
                unit="frames",
                enabled=not as_json and cli.show_progress,
            ) as progress:
                for result in recognize_video(pipeline, g, src, recognizer=recognizer):
                    fresh = result.frame is not last  # the closing result repeats a frame
                    last = result.frame
                    if log_file is not None:
                        log_file.write(result.events)
                    if out is not None and fresh:
                        if writer is None:
                            rate = options.fps or info.fps or 25.0
                            writer = VideoWriter(
                                out, fps=rate, width=last.width, height=last.height
                            )
                        writer.write(annotate(last.pixels, result.tracks))
                    progress(recognizer.stats.frames_processed, 0, "")
                    if max_seconds is not None and last.timestamp >= max_seconds:
                        break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            closing = recognizer.finish(last)
            if log_file is not None:
                log_file.write(closing)
                log_file.close()
            if writer is not None:
                writer.close()
        elapsed = clock.monotonic() - started
        tracks = list(recognizer.tracks.values())
        groups: list[Path] = []
        if save_unknown is not None:
            groups = save_unknown_tracks(
                tracks,
                save_unknown,
                threshold=pipeline.verification_threshold().similarity,
            )
        stats = recognizer.stats
        report = {
            "source": dataclasses.asdict(info),
            "interrupted": interrupted,
            "frames_decoded": stats.frames_decoded,
            "frames_processed": stats.frames_processed,
            "observations": stats.observations,
            "embedded": stats.embedded,
            "identifications": stats.identifications,
            "video_seconds": None if last is None else round(last.timestamp, 3),
            "elapsed_seconds": round(elapsed, 3),
            "processed_fps": round(stats.frames_processed / max(elapsed, 1e-9), 2),
            "threshold": None if recognizer.threshold is None else recognizer.threshold.similarity,
            "events": None if events is None else str(events),
            "out": None if out is None else str(out),
            "unknown_groups": [str(p) for p in groups],
            **summarize(tracks),
        }
    if as_json:
        output.print_json(report)
    else:
        for person in report["people"]:
            spans = person["tracks"]
            best = max((s["similarity"] or 0.0) for s in spans)
            output.line(
                f"{person['person']}: {person['first_timestamp']:.2f}–"
                f"{person['last_timestamp']:.2f} s in {len(spans)} track(s), "
                f"best similarity {best:.2f}"
            )
        output.line(
            f"{len(report['unknown_tracks'])} unknown track(s); "
            f"{stats.frames_processed} frames processed of {stats.frames_decoded} decoded "
            f"({report['processed_fps']} frames/s), {stats.embedded} of "
            f"{stats.observations} face observations embedded"
        )
        for group in groups:
            output.line(f"unknown faces saved in {group}")
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
