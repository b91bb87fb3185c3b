"""``faceprint detect``, ``analyze`` and ``verify``: faces in images, no gallery."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import EXIT_IMAGE, command
from faceprint.cli.options import (
    AcceptOpt,
    DetectorOpt,
    EmbedderOpt,
    FairnessOpt,
    JsonlOpt,
    JsonOpt,
    TemplateKeyOpt,
    TenantOpt,
    existing,
    output_mode,
)

if TYPE_CHECKING:
    from faceprint.batch import ImageResult
    from faceprint.cli.output import Mode
    from faceprint.types import DegradationReport, Face

ImagesArg = Annotated[list[Path], typer.Argument(help="Image files or folders.")]


def register(app: typer.Typer) -> None:
    command(app, "detect")(detect)
    command(app, "analyze")(analyze)
    command(app, "verify")(verify)


T = TypeVar("T")


def show_stream(
    items: Iterable[T],
    *,
    mode: Mode,
    total: int,
    label: str,
    result: Callable[[T], ImageResult],
    as_item: Callable[[T], Any],
    as_lines: Callable[[T], Iterable[str]],
) -> None:
    """Print each image's result as soon as it is ready — text lines, a JSON array or
    JSON lines — with progress on stderr; an unreadable image is reported in its place.

    Raises:
        typer.Exit: with the image error code when no image could be read.
    """
    failed = 0
    with (
        output.ResultWriter(mode) as writer,
        output.progress_bar(
            label, total=total, unit="images", enabled=current().show_progress
        ) as bar,
    ):
        for item in items:
            image = result(item)
            bar(image.index + 1, 0, image.source)
            if image.error is not None:
                failed += 1
                code, message = image.error.code, str(image.error)
                writer.item({"image": image.source, "error": code, "message": message})
                if mode == "text":
                    output.error_line(code, message)
                continue
            writer.item(as_item(item))
            if mode == "text":
                for text in as_lines(item):
                    output.line(text)
    if total and failed == total:
        raise typer.Exit(EXIT_IMAGE)


def detect(
    images: ImagesArg,
    detector: DetectorOpt = "yunet",
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
    jsonl: JsonlOpt = False,
) -> None:
    """Find faces: box, score, five landmarks and any issue flags per face."""
    _show_images(
        images,
        output_mode(as_json, jsonl),
        label="detecting",
        models={"detector": detector, "accept": accept},
        analysis={"embed": "none"},
        as_item=lambda r: {
            "image": r.source,
            "width": r.width,
            "height": r.height,
            "faces": r.detections,
        },
        as_lines=_detected_lines,
    )


def _show_images(
    images: list[Path],
    mode: Mode,
    *,
    label: str,
    models: dict[str, Any],
    analysis: dict[str, Any],
    as_item: Callable[[ImageResult], Any],
    as_lines: Callable[[ImageResult], Iterable[str]],
) -> None:
    """Check the paths, load the models, stream every image through the shared path."""
    from faceprint.batch import analyze_images
    from faceprint.media.sources import expand_paths

    paths = expand_paths(existing(images))
    pipeline = current().pipeline(**models)
    show_stream(
        analyze_images(pipeline, paths, **analysis),
        mode=mode,
        total=len(paths),
        label=label,
        result=lambda r: r,
        as_item=as_item,
        as_lines=as_lines,
    )


def _detected_lines(result: ImageResult) -> Iterator[str]:
    yield f"{result.source}: {len(result.detections)} face(s)"
    for d in result.detections:
        flags = f" {','.join(d.issues)}" if d.issues else ""
        yield f"  box={output.fmt_box(d.bbox_xyxy)} score={d.score:.3f}{flags}"


def _analyzed(face: Face) -> dict[str, Any]:
    return {
        "bbox_xyxy": face.detection.bbox_xyxy,
        "score": face.detection.score,
        "landmarks_5": face.detection.landmarks_5,
        "issues": face.detection.issues,
        "liveness": face.liveness,
        "attributes": face.attributes,
        "quality": face.quality,
    }


def _degradation(report: DegradationReport) -> list[str]:
    """Each detected degradation with its measured severity."""
    described = {
        "motion_blur": f"motion_blur ({report.motion_length:.0f} px at {report.motion_angle or 0:.0f}°)",
        "defocus": f"defocus (σ {report.defocus:.1f} px)",
        "noise": f"noise (σ {report.noise:.0f})",
        "low_light": f"low_light (brightness {report.brightness:.2f})",
        "low_resolution": f"low_resolution (≈ {report.effective_resolution:.0f} px of detail)",
        "compression": f"compression (blockiness {report.blockiness:.1f})",
    }
    return [described.get(name, name) for name in report.detected]


def _describe(face: Face) -> str:
    live = face.liveness
    verdict = "-" if live is None else ("live" if live.is_live else "SPOOF SUSPECTED")
    score = "" if live is None else f" (bona fide {live.score:.3f}, threshold {live.threshold})"
    flags = f" [{','.join(face.detection.issues)}]" if face.detection.issues else ""
    if face.quality is not None:
        q = face.quality
        flags += f"; quality {q.score:.2f}" + (
            f" ({', '.join(q.reasons)})" if q.reasons else " (ok)"
        )
        if q.degradation is not None and q.degradation.detected:
            flags += "; degraded: " + ", ".join(_degradation(q.degradation))
    a = face.attributes
    attrs = (
        ""
        if a is None
        else f"; {a.gender} ({a.gender_score:.2f}), ~{a.age:.0f} y, {a.expression}, "
        f"yaw {a.yaw:+.0f} pitch {a.pitch:+.0f} roll {a.roll:+.0f}"
    )
    return f"  box={output.fmt_box(face.detection.bbox_xyxy)} {verdict}{score}{attrs}{flags}"


def analyze(
    images: ImagesArg,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
    jsonl: JsonlOpt = False,
) -> None:
    """Per face: box, issue flags, liveness, quality, age, gender, expression, head pose."""
    _show_images(
        images,
        output_mode(as_json, jsonl),
        label="analyzing",
        models={"accept": accept},
        analysis={"liveness": True, "attributes": True, "quality": True},
        as_item=lambda r: {"image": r.source, "faces": [_analyzed(f) for f in r.faces]},
        as_lines=lambda r: [f"{r.source}: {len(r.faces)} face(s)", *map(_describe, r.faces)],
    )


def verify(
    image_a: Annotated[Path, typer.Argument(help="First image.")],
    image_b: Annotated[Path, typer.Argument(help="Second image.")],
    threshold: Annotated[
        float | None, typer.Option(help="Cosine similarity threshold (overrides --fmr).")
    ] = None,
    fmr: Annotated[
        float | None, typer.Option(help="False-match rate to decide at (default 1e-3).")
    ] = None,
    preset: Annotated[
        str | None,
        typer.Option(
            help="Named operating point instead of --fmr: 'default' (FMR 1e-3) or "
            "'high-security' (FMR 1e-5, for access and payments; docs/security.md)."
        ),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Fail if an image has more than one face.")] = False,
    embedder: EmbedderOpt = None,
    fairness: FairnessOpt = None,
    accept: AcceptOpt = False,
    template_key: TemplateKeyOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """1:1: are the most prominent faces of two images the same person?"""
    from faceprint.batch import analyze_images
    from faceprint.core.thresholds import preset_fmr
    from faceprint.errors import MultipleFacesError, NoFaceError, UsageError

    if preset is not None:
        if fmr is not None or threshold is not None:
            raise UsageError("give --preset, --fmr or --threshold, not several")
        try:
            fmr = preset_fmr(preset)
        except ValueError as exc:
            raise UsageError(f"--preset: {exc}") from None
    existing([image_a, image_b])
    cli = current()
    templates = cli.template_key(template_key, tenant)
    pipeline = cli.pipeline(
        embedder=embedder, accept=accept, templates=templates, fairness=fairness
    )
    faces = []
    for result in analyze_images(pipeline, [image_a, image_b], embed="primary"):
        if result.error is not None:
            raise result.error
        face = result.primary_face
        if face is None:
            raise NoFaceError(f"{result.source}: no face found; use a photo where it is visible")
        if strict and len(result.detections) > 1:
            raise MultipleFacesError(
                f"{result.source}: {len(result.detections)} faces found where exactly one was "
                "required; crop the photo or drop --strict to use the most prominent face"
            )
        faces.append(face)
    decision = pipeline.verify(faces[0], faces[1], threshold=threshold, fmr=fmr)
    adjusted = pipeline.score_adjuster.method if pipeline.score_adjuster is not None else None
    if as_json:
        output.print_json(
            {
                "image_a": str(image_a),
                "image_b": str(image_b),
                "model": pipeline.model_id,
                "bbox_a": faces[0].detection.bbox_xyxy,
                "bbox_b": faces[1].detection.bbox_xyxy,
                "fairness": adjusted,
                **output.to_jsonable(decision),
            }
        )
        return
    verdict = "same person" if decision.is_match else "different people"
    t = decision.threshold
    output.line(
        f"{verdict}: similarity {decision.similarity:.4f}, threshold {t.similarity:.4f} "
        f"(FMR {output.fmt_rate(t.fmr)}, {t.source}), model {pipeline.model_id}"
        + (f", adjusted by {adjusted}" if adjusted else "")
    )
