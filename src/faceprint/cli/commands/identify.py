"""``faceprint identify``: who is each face in the probe images (or ``unknown``)?"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.commands.faces import show_stream
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import (
    AcceptOpt,
    EmbedderOpt,
    FairnessOpt,
    FpirOpt,
    GalleryOpt,
    JsonlOpt,
    JsonOpt,
    SearchCollectionOpt,
    TemplateKeyOpt,
    TenantOpt,
    ThresholdOpt,
    existing,
    output_mode,
)

if TYPE_CHECKING:
    from faceprint.recognition import IdentifiedImage


def register(app: typer.Typer) -> None:
    command(app, "identify")(identify)


def identify(
    paths: Annotated[list[Path], typer.Argument(help="Probe images or folders.")],
    gallery: GalleryOpt = None,
    collection: SearchCollectionOpt = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Candidates per face.")] = 5,
    threshold: ThresholdOpt = None,
    fmr: Annotated[float | None, typer.Option(help="Per-comparison false-match rate.")] = None,
    fpir: FpirOpt = None,
    embedder: EmbedderOpt = None,
    fairness: FairnessOpt = None,
    accept: AcceptOpt = False,
    template_key: TemplateKeyOpt = None,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
    jsonl: JsonlOpt = False,
) -> None:
    """1:N open set: who is each face in the probe images (or `unknown`)?

    One line per face, printed as each image is done: image, box, person or unknown,
    similarity, and the threshold with the FPIR it stands for at this gallery's size.
    """
    from faceprint.errors import NotFoundError
    from faceprint.gallery import Gallery
    from faceprint.media.sources import expand_paths
    from faceprint.recognition import identify_images

    mode = output_mode(as_json, jsonl)
    probes = expand_paths(existing(paths))
    cli = current()
    path = cli.gallery_path(gallery)
    if not path.is_file():
        raise NotFoundError(f"no gallery at {path}; enroll faces first, or pass --gallery")
    model = cli.embedder_for(path, embedder)
    templates = cli.template_key(template_key, tenant)
    pipeline = cli.pipeline(embedder=model, accept=accept, templates=templates, fairness=fairness)
    with Gallery.open(
        path,
        model_id=pipeline.model_id,
        create=False,
        device=cli.search_device(),
        key=cli.gallery_key(),
    ) as opened:
        found = identify_images(
            pipeline,
            opened,
            probes,
            k=k,
            collection=collection,
            threshold=threshold,
            fmr=fmr,
            fpir=fpir,
        )
        show_stream(
            found,
            mode=mode,
            total=len(probes),
            label="identifying",
            result=lambda image: image.result,
            as_item=_as_json,
            as_lines=_lines,
        )


def _as_json(image: IdentifiedImage) -> dict[str, Any]:
    return {
        "image": image.result.source,
        "faces": [
            {
                "bbox_xyxy": f.face.detection.bbox_xyxy,
                "score": f.face.detection.score,
                "issues": f.face.detection.issues,
                "person": f.identification.person,
                "similarity": f.identification.best.similarity if f.identification.best else None,
                "threshold": f.identification.threshold,
                "candidates": f.identification.candidates,
                "liveness": f.face.liveness,
                "rejected": f.rejected,
            }
            for f in image.faces
        ],
    }


def _lines(image: IdentifiedImage) -> Iterator[str]:
    source = image.result.source
    if not image.faces:
        yield f"{source}\t-\tno face"
    t = image.threshold
    for f in image.faces:
        best = f.identification.best
        who = f.identification.person or "unknown"
        sim = f"{best.similarity:.4f}" if best else "-"
        issues = f"\t[{','.join(f.face.detection.issues)}]" if f.face.detection.issues else ""
        if f.rejected:
            issues += f"\t[{f.rejected}]"
        yield (
            f"{source}\t{output.fmt_box(f.face.detection.bbox_xyxy)}\t{who}\t"
            f"similarity={sim}\tthreshold={t.similarity:.4f} "
            f"(FPIR {output.fmt_rate(t.fpir)}, N={t.gallery_size}){issues}"
        )
