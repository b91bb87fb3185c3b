"""The ``faceprint`` command: a thin adapter over the library.

Every command takes ``--json`` (machine-readable result on stdout; logs go to stderr).
Errors become a one-line message and an exit code (see ``output.EXIT_CODES``); a
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape as esc

from faceprint.cli import output
from faceprint.config import PipelineConfig, StoreConfig
from faceprint.errors import FaceprintError
from faceprint.models.card import load_catalog
from faceprint.models.store import ModelStore
from faceprint.pipeline import FacePipeline

log = logging.getLogger("faceprint.cli")

app = typer.Typer(
    name="faceprint",
    help="Face detection, verification and identification with calibrated error rates.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="List, fetch and verify model files.", no_args_is_help=True)
gallery_app = typer.Typer(help="Inspect and edit a gallery.", no_args_is_help=True)
eval_app = typer.Typer(help="Accuracy and calibration on standard protocols.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(gallery_app, name="gallery")
app.add_typer(eval_app, name="eval")
keys_app = typer.Typer(
    help="Create, list and revoke API keys of the service.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")


@dataclass
class State:
    debug: bool = False
    quiet: bool = False
    device: str = "auto"
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


STATE = State()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON result on stdout.")]
EmbedderOpt = Annotated[
    str,
    typer.Option(
        "--embedder",
        help="Embedding model or fused template (see `faceprint models list`).",
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


def _store() -> ModelStore:
    return ModelStore(StoreConfig.from_env(STATE.env))


def _pipeline(
    *, embedder: str = "sface", detector: str = "yunet", accept: bool = False
) -> FacePipeline:
    return FacePipeline.from_config(
        PipelineConfig(detector=detector, embedder=embedder, device=STATE.device),
        store=_store(),
        accept_licence=accept,
    )


def _gallery_path(path: Path | None) -> Path:
    if path is not None:
        return path
    if STATE.env.get("FACEPRINT_GALLERY"):
        return Path(STATE.env["FACEPRINT_GALLERY"])
    return _store().root / "gallery.db"


def _decode_or_report(path: Path, results: list[dict[str, Any]], *, as_json: bool) -> Any:
    """Decode one input; on a bad image record the error in ``results`` and return None."""
    from faceprint.media.images import decode_image

    try:
        return decode_image(path)
    except FaceprintError as exc:
        results.append({"image": str(path), "error": exc.code, "message": str(exc)})
        if not as_json:
            output.stderr.print(
                f"{esc(str(path))}: [red]{exc.code}[/] {esc(str(exc))}", highlight=False
            )
        return None


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(output.to_jsonable(value), indent=2) + "\n", "utf-8")


def _report(report: Any, *, json_out: Path | None, plot: Path | None = None) -> None:
    """Write an eval report's JSON and plot where asked, and print its summary."""
    if json_out:
        _write_json(json_out, report)
    if plot:
        report.plot(plot)
    output.stdout.print(report.summary(), highlight=False, markup=False)


def _run(func: Any) -> None:
    """Run a command body, mapping errors to a message and an exit code in one place."""
    try:
        func()
    except FaceprintError as exc:
        if STATE.debug:
            output.stderr.print_exception()
        output.stderr.print(f"[bold red]error[/] ({exc.code}): {esc(str(exc))}", highlight=False)
        raise typer.Exit(output.exit_code_for(exc)) from None
    except KeyboardInterrupt:
        output.stderr.print("interrupted")
        raise typer.Exit(130) from None
    except typer.Exit:
        raise
    except Exception as exc:
        if STATE.debug:
            output.stderr.print_exception()
        output.stderr.print(
            f"[bold red]internal error[/]: {type(exc).__name__}: {exc} "
            "(run with --debug for a traceback and please report it)",
            highlight=False,
        )
        raise typer.Exit(output.EXIT_INTERNAL) from None


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings on stderr.")] = False,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="auto (CUDA if PyTorch sees a GPU), cpu, cuda, or torch-cpu. "
            "Default: $FACEPRINT_DEVICE, else auto.",
        ),
    ] = None,
) -> None:
    STATE.debug = debug
    STATE.quiet = quiet
    STATE.device = device or STATE.env.get("FACEPRINT_DEVICE", "") or "auto"
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if not debug:
        logging.getLogger("faceprint").setLevel(logging.WARNING if quiet else logging.INFO)
        logging.getLogger().setLevel(logging.WARNING)


# --- models ---------------------------------------------------------------------------


@models_app.command("list")
def models_list(as_json: JsonOpt = False) -> None:
    """List the catalog: task, licence, size, cached or not, calibration."""

    def body() -> None:
        store = _store()
        rows: list[dict[str, Any]] = []
        for card in load_catalog().values():
            rows.append(
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
            )
        if as_json:
            output.print_json(rows)
            return
        from rich.table import Table

        table = Table("name", "task", "licence", "size", "cached", "calibrated")
        for r in rows:
            licence = str(r["licence"]) if r["commercial"] else f"[red]{r['licence']}[/]"
            name = f"{r['name']}{' *' if r['default'] else ''}"
            size = f"{int(r['size']) / 1e6:.1f} MB" if r["size"] else "-"
            table.add_row(
                name,
                str(r["task"]),
                licence,
                size,
                "yes" if r["cached"] else "no",
                "yes" if r["calibrated"] else "-",
            )
        output.stdout.print(table)
        output.stdout.print("* part of the default pipeline")

    _run(body)


@models_app.command("pull")
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

    def body() -> None:
        catalog = load_catalog()
        chosen = list(names or [])
        if default or not (chosen or all_):
            chosen += [c.name for c in catalog.defaults()]
            chosen.append("sface+reid-0095")
        if all_:
            chosen += [c.name for c in catalog.values() if c.commercial]
        store = _store()
        results = []
        for name in dict.fromkeys(chosen):
            card = catalog[name]
            if not card.commercial and accept:
                output.stderr.print(f"[yellow]licence notice for {name}:[/] {esc(card.notice)}")
            with output.progress_bar(
                f"fetching {name}", enabled=not as_json and not STATE.quiet
            ) as bar:
                path = store.ensure(
                    name,
                    accept_licence=accept,
                    force=force,
                    progress=lambda file, done, total: bar(done, total, file),
                )
            results.append({"name": name, "path": str(path), "licence": card.licence})
            if not as_json:
                output.stdout.print(f"[green]ok[/] {name} -> {esc(str(path))}", highlight=False)
        if as_json:
            output.print_json(results)

    _run(body)


@models_app.command("verify")
def models_verify(
    names: Annotated[list[str] | None, typer.Argument(help="Model names (default: all).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check cached files against the catalog's sha256 (fetches nothing)."""

    def body() -> None:
        store = _store()
        catalog = load_catalog()
        statuses = []
        bad = 0
        for name in names or list(catalog):
            for status in store.verify(name):
                statuses.append({"model": name, **output.to_jsonable(status)})
                bad += status.state == "mismatch"
                if not as_json:
                    colour = {"ok": "green", "missing": "yellow", "mismatch": "red"}[status.state]
                    output.stdout.print(f"[{colour}]{status.state:8}[/] {name}: {esc(status.path)}")
        if as_json:
            output.print_json(statuses)
        if bad:
            raise typer.Exit(5)

    _run(body)


# --- detect / verify -------------------------------------------------------------------


@app.command()
def detect(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    detector: DetectorOpt = "yunet",
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Find faces: box, score, five landmarks and any issue flags per face."""

    def body() -> None:
        from faceprint.recognition import iter_sources

        pipeline = _pipeline(detector=detector, accept=accept)
        results: list[dict[str, Any]] = []
        for path in iter_sources(images):
            decoded = _decode_or_report(path, results, as_json=as_json)
            if decoded is None:
                continue
            faces = pipeline.detect(decoded.pixels)
            height, width = decoded.pixels.shape[:2]
            results.append({"image": str(path), "width": width, "height": height, "faces": faces})
            if not as_json:
                output.stdout.print(f"{path}: {len(faces)} face(s)", highlight=False, markup=False)
                for d in faces:
                    flags = f" [yellow]{','.join(d.issues)}[/]" if d.issues else ""
                    output.stdout.print(
                        f"  box={output.fmt_box(d.bbox_xyxy)} score={d.score:.3f}{flags}",
                        highlight=False,
                    )
        if as_json:
            output.print_json(results)
        if results and all("error" in r for r in results):
            raise typer.Exit(output.EXIT_IMAGE)

    _run(body)


@app.command()
def verify(
    image_a: Annotated[Path, typer.Argument(help="First image.")],
    image_b: Annotated[Path, typer.Argument(help="Second image.")],
    threshold: Annotated[
        float | None, typer.Option(help="Cosine similarity threshold (overrides --fmr).")
    ] = None,
    fmr: Annotated[
        float | None, typer.Option(help="False-match rate to decide at (default 1e-3).")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Fail if an image has more than one face.")] = False,
    embedder: EmbedderOpt = "sface",
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """1:1: are the most prominent faces of two images the same person?"""

    def body() -> None:
        from faceprint.errors import MultipleFacesError, NoFaceError
        from faceprint.media.images import load_image

        pipeline = _pipeline(embedder=embedder, accept=accept)
        faces = []
        for path in (image_a, image_b):
            pixels = load_image(path)
            try:
                faces.append(pipeline.primary_face(pixels, strict=strict))
            except (NoFaceError, MultipleFacesError) as exc:
                raise type(exc)(f"{path}: {exc}") from None
        result = pipeline.verify(faces[0], faces[1], threshold=threshold, fmr=fmr)
        if as_json:
            output.print_json(
                {
                    "image_a": str(image_a),
                    "image_b": str(image_b),
                    "model": pipeline.model_id,
                    "bbox_a": faces[0].detection.bbox_xyxy,
                    "bbox_b": faces[1].detection.bbox_xyxy,
                    **output.to_jsonable(result),
                }
            )
            return
        verdict = "[green]same person[/]" if result.is_match else "[red]different people[/]"
        t = result.threshold
        output.stdout.print(
            f"{verdict}: similarity {result.similarity:.4f}, threshold {t.similarity:.4f} "
            f"(FMR {output.fmt_rate(t.fmr)}, {t.source}), model {pipeline.model_id}",
            highlight=False,
        )

    _run(body)


@app.command()
def analyze(
    images: Annotated[list[Path], typer.Argument(help="Image files or folders.")],
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Per face: box, issue flags, liveness, quality, age, gender, expression, head pose."""

    def body() -> None:
        from faceprint.recognition import iter_sources

        pipeline = _pipeline(accept=accept)
        results: list[dict[str, Any]] = []
        for path in iter_sources(images):
            decoded = _decode_or_report(path, results, as_json=as_json)
            if decoded is None:
                continue
            faces = pipeline.analyze(decoded.pixels, liveness=True, attributes=True, quality=True)
            results.append(
                {
                    "image": str(path),
                    "faces": [
                        {
                            "bbox_xyxy": f.detection.bbox_xyxy,
                            "score": f.detection.score,
                            "landmarks_5": f.detection.landmarks_5,
                            "issues": f.detection.issues,
                            "liveness": f.liveness,
                            "attributes": f.attributes,
                            "quality": f.quality,
                        }
                        for f in faces
                    ],
                }
            )
            if as_json:
                continue
            output.stdout.print(f"{path}: {len(faces)} face(s)", highlight=False, markup=False)
            for f in faces:
                live = f.liveness
                verdict = "-" if live is None else ("live" if live.is_live else "SPOOF SUSPECTED")
                score = (
                    ""
                    if live is None
                    else f" (bona fide {live.score:.3f}, threshold {live.threshold})"
                )
                flags = f" [{','.join(f.detection.issues)}]" if f.detection.issues else ""
                if f.quality is not None:
                    q = f.quality
                    flags += f"; quality {q.score:.2f}" + (
                        f" ({', '.join(q.reasons)})" if q.reasons else " (ok)"
                    )
                a = f.attributes
                attrs = (
                    ""
                    if a is None
                    else f"; {a.gender} ({a.gender_score:.2f}), ~{a.age:.0f} y, {a.expression}, "
                    f"yaw {a.yaw:+.0f} pitch {a.pitch:+.0f} roll {a.roll:+.0f}"
                )
                output.stdout.print(
                    f"  box={output.fmt_box(f.detection.bbox_xyxy)} {verdict}{score}{attrs}{flags}",
                    highlight=False,
                    markup=False,
                )
        if as_json:
            output.print_json(results)
        if results and all("error" in r for r in results):
            raise typer.Exit(output.EXIT_IMAGE)

    _run(body)


# --- enroll / identify ----------------------------------------------------------------


@app.command()
def enroll(
    paths: Annotated[
        list[Path],
        typer.Argument(help="A folder tree DIR/<person>/<images>, or images with --person."),
    ],
    person: Annotated[
        str | None, typer.Option("--person", "-p", help="Enroll the given images as this person.")
    ] = None,
    gallery: GalleryOpt = None,
    collection: CollectionOpt = "default",
    quality: Annotated[
        bool,
        typer.Option(
            "--quality/--no-quality",
            help="Skip faces that fail the default quality policy (too small, blurry, "
            "extreme pose, too dark, low confidence), with the reason.",
        ),
    ] = False,
    embedder: EmbedderOpt = "sface",
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add faces to a gallery (created if missing, pinned to the embedding model)."""

    def body() -> None:
        from faceprint.core.quality import QualityPolicy
        from faceprint.gallery import Gallery
        from faceprint.recognition import enroll_images, enroll_tree, iter_sources

        pipeline = _pipeline(embedder=embedder, accept=accept)
        path = _gallery_path(gallery)
        path.parent.mkdir(parents=True, exist_ok=True)
        with (
            Gallery.open(path, model_id=pipeline.model_id) as g,
            output.progress_bar("enrolling", enabled=not as_json and not STATE.quiet) as bar,
        ):
            policy = QualityPolicy() if quality else None
            if person:
                report = enroll_images(
                    pipeline,
                    g,
                    person,
                    iter_sources(paths),
                    collection=collection,
                    progress=bar,
                    quality=policy,
                )
            else:
                if len(paths) != 1 or not paths[0].is_dir():
                    raise typer.BadParameter(
                        "without --person, give one folder laid out as DIR/<person>/<images>"
                    )
                report = enroll_tree(
                    pipeline, g, paths[0], collection=collection, progress=bar, quality=policy
                )
        if as_json:
            output.print_json({"gallery": str(path), **output.to_jsonable(report)})
            return
        for e in report.enrolled:
            note = (
                f" ({e.faces_in_image} faces, used the most prominent)"
                if e.faces_in_image > 1
                else ""
            )
            if e.issues:
                note += f" [flagged: {', '.join(e.issues)}]"
            output.stdout.print(
                f"enrolled {e.person}: {e.source}{note}", highlight=False, markup=False
            )
        for s in report.skipped:
            output.stderr.print(f"[yellow]skipped[/] {esc(s.source)}: {s.reason}", highlight=False)
        output.stdout.print(
            f"{len(report.enrolled)} face(s) of {len(report.persons)} person(s) enrolled, "
            f"{len(report.skipped)} skipped -> {path}",
            highlight=False,
            markup=False,
        )

    _run(body)


@app.command()
def identify(
    paths: Annotated[list[Path], typer.Argument(help="Probe images or folders.")],
    gallery: GalleryOpt = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Search one collection only.")
    ] = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, help="Candidates per face.")] = 5,
    threshold: Annotated[float | None, typer.Option(help="Cosine similarity threshold.")] = None,
    fmr: Annotated[float | None, typer.Option(help="Per-comparison false-match rate.")] = None,
    fpir: Annotated[
        float | None,
        typer.Option(
            help="False-positive identification rate (default 0.01 for this gallery's size)."
        ),
    ] = None,
    embedder: EmbedderOpt = "sface",
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """1:N open set: who is each face in the probe images (or `unknown`)?"""

    def body() -> None:
        from faceprint.gallery import Gallery
        from faceprint.recognition import identify_faces, iter_sources

        path = _gallery_path(gallery)
        pipeline = _pipeline(embedder=embedder, accept=accept)
        results: list[dict[str, Any]] = []
        with Gallery.open(path, model_id=pipeline.model_id, create=False) as g:
            for source in iter_sources(paths):
                decoded = _decode_or_report(source, results, as_json=as_json)
                if decoded is None:
                    continue
                found = identify_faces(
                    pipeline,
                    g,
                    decoded.pixels,
                    k=k,
                    collection=collection,
                    threshold=threshold,
                    fmr=fmr,
                    fpir=fpir,
                )
                results.append(
                    {
                        "image": str(source),
                        "faces": [
                            {
                                "bbox_xyxy": f.face.detection.bbox_xyxy,
                                "score": f.face.detection.score,
                                "issues": f.face.detection.issues,
                                "person": f.identification.person,
                                "similarity": (
                                    f.identification.best.similarity
                                    if f.identification.best
                                    else None
                                ),
                                "threshold": f.identification.threshold,
                                "candidates": f.identification.candidates,
                                "liveness": f.face.liveness,
                                "rejected": f.rejected,
                            }
                            for f in found
                        ],
                    }
                )
                if as_json:
                    continue
                if not found:
                    output.stdout.print(f"{source}\t-\tno face", highlight=False, markup=False)
                for f in found:
                    ident = f.identification
                    best = ident.best
                    who = ident.person or "unknown"
                    sim = f"{best.similarity:.4f}" if best else "-"
                    issues = (
                        f"\t[{','.join(f.face.detection.issues)}]"
                        if f.face.detection.issues
                        else ""
                    )
                    if f.rejected:
                        issues += f"\t[{f.rejected}]"
                    output.stdout.print(
                        f"{source}\t{output.fmt_box(f.face.detection.bbox_xyxy)}\t{who}\t"
                        f"similarity={sim}\tthreshold={ident.threshold.similarity:.4f}"
                        f" (FPIR {output.fmt_rate(ident.threshold.fpir)}, "
                        f"N={ident.threshold.gallery_size}){issues}",
                        highlight=False,
                        markup=False,
                    )
        if as_json:
            output.print_json(results)

    _run(body)


# --- gallery ---------------------------------------------------------------------------


@gallery_app.command("list")
def gallery_list(
    gallery: GalleryOpt = None,
    collection: Annotated[str | None, typer.Option("--collection", "-c")] = None,
    faces: Annotated[bool, typer.Option("--faces", help="List each face too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Persons (and optionally faces) in a gallery."""

    def body() -> None:
        from faceprint.gallery import Gallery

        path = _gallery_path(gallery)
        with Gallery.open(path, create=False) as g:
            persons = g.persons(collection=collection)
            detail = (
                {(p.collection, p.name): g.faces(p.name, collection=p.collection) for p in persons}
                if faces
                else {}
            )
            if as_json:
                output.print_json(
                    {
                        "gallery": str(path),
                        "model_id": g.model_id,
                        "persons": [
                            {
                                **output.to_jsonable(p),
                                **(
                                    {"faces": output.to_jsonable(detail[(p.collection, p.name)])}
                                    if faces
                                    else {}
                                ),
                            }
                            for p in persons
                        ],
                    }
                )
                return
            output.stdout.print(
                f"{path}: model {g.model_id}, {len(persons)} person(s)",
                highlight=False,
                markup=False,
            )
            for p in persons:
                output.stdout.print(
                    f"  {p.collection}/{p.name}: {p.faces} face(s)", highlight=False, markup=False
                )
                for f in detail.get((p.collection, p.name), []):
                    output.stdout.print(
                        f"    #{f.id} {f.source} {output.fmt_box(f.bbox_xyxy)}",
                        highlight=False,
                        markup=False,
                    )

    _run(body)


@gallery_app.command("policy")
def gallery_policy(
    require_liveness: Annotated[
        bool | None,
        typer.Option(
            "--require-liveness/--no-require-liveness",
            help="Refuse faces that fail presentation-attack detection at enroll and identify.",
        ),
    ] = None,
    gallery: GalleryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or change a gallery's policy."""

    def body() -> None:
        from faceprint.gallery import Gallery

        with Gallery.open(_gallery_path(gallery), create=False) as g:
            if require_liveness is not None:
                g.set_require_liveness(require_liveness)
            policy = {"require_liveness": g.require_liveness}
        if as_json:
            output.print_json(policy)
        else:
            output.stdout.print(f"require_liveness: {policy['require_liveness']}", markup=False)

    _run(body)


@gallery_app.command("remove")
def gallery_remove(
    person: Annotated[str | None, typer.Argument(help="Person to remove with all faces.")] = None,
    face_id: Annotated[int | None, typer.Option("--face-id", help="Remove one face by id.")] = None,
    gallery: GalleryOpt = None,
    collection: CollectionOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Remove a person (all their faces) or a single face."""

    def body() -> None:
        from faceprint.gallery import Gallery

        if (person is None) == (face_id is None):
            raise typer.BadParameter("give a PERSON or --face-id, not both")
        with Gallery.open(_gallery_path(gallery), create=False) as g:
            if person is not None:
                removed = g.remove_person(person, collection=collection)
                result = {"person": person, "collection": collection, "faces_removed": removed}
            else:
                assert face_id is not None
                g.remove_face(face_id)
                result = {"face_id": face_id, "faces_removed": 1}
        if as_json:
            output.print_json(result)
        else:
            output.stdout.print(f"removed {result['faces_removed']} face(s)", highlight=False)

    _run(body)


# --- eval ------------------------------------------------------------------------------


@eval_app.command("lfw")
def eval_lfw(
    root: Annotated[Path, typer.Option(help="LFW images folder (root/<Name>/<Name>_NNNN.jpg).")],
    pairs: Annotated[Path, typer.Option(help="pairs.txt (View 2).")],
    embedder: EmbedderOpt = "sface",
    json_out: Annotated[
        Path | None, typer.Option("--json-out", "--json", help="Write the JSON report here.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write a ROC curve PNG here.")] = None,
    accept: AcceptOpt = False,
) -> None:
    """LFW 10-fold verification accuracy, ROC AUC and TAR@FAR=1e-3."""

    def body() -> None:
        from faceprint.eval.runner import run_lfw

        pipeline = _pipeline(embedder=embedder, accept=accept)
        with output.progress_bar("embedding LFW", enabled=not STATE.quiet) as bar:
            report = run_lfw(pipeline, root=root, pairs_file=pairs, progress=bar)
        _report(report, json_out=json_out, plot=plot)

    _run(body)


@eval_app.command("identify")
def eval_identify(
    root: Annotated[Path, typer.Option(help="Folder tree root/<person>/<images>.")],
    nonmated: Annotated[Path | None, typer.Option(help="Folder of non-mated probe images.")] = None,
    fpir: Annotated[float, typer.Option(help="FPIR at which to report FNIR.")] = 0.01,
    embedder: EmbedderOpt = "sface",
    json_out: Annotated[
        Path | None, typer.Option("--json-out", "--json", help="Write the JSON report here.")
    ] = None,
    accept: AcceptOpt = False,
) -> None:
    """Open-set 1:N: gallery = first image per person, probes = the rest."""

    def body() -> None:
        from faceprint.eval.runner import run_identify

        pipeline = _pipeline(embedder=embedder, accept=accept)
        with output.progress_bar("embedding", enabled=not STATE.quiet) as bar:
            report = run_identify(
                pipeline, root=root, nonmated_root=nonmated, fpir=fpir, progress=bar
            )
        _report(report, json_out=json_out)

    _run(body)


@eval_app.command("quality")
def eval_quality(
    root: Annotated[Path, typer.Option(help="LFW images folder.")],
    pairs: Annotated[Path, typer.Option(help="pairs.txt (View 2).")],
    embedder: EmbedderOpt = "sface",
    json_out: Annotated[
        Path | None, typer.Option("--json-out", "--json", help="Write the JSON report here.")
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Write the curve as a PNG.")] = None,
    accept: AcceptOpt = False,
) -> None:
    """Error-vs-reject: does dropping the lowest-quality pairs lower the error?"""

    def body() -> None:
        from faceprint.eval.runner import run_error_vs_reject

        pipeline = _pipeline(embedder=embedder, accept=accept)
        with output.progress_bar("embedding LFW", enabled=not STATE.quiet) as bar:
            report = run_error_vs_reject(pipeline, root=root, pairs_file=pairs, progress=bar)
        _report(report, json_out=json_out, plot=plot)

    _run(body)


@eval_app.command("liveness")
def eval_liveness(
    images: Annotated[
        Path, typer.Option(help="Folder of bona fide photos (searched recursively).")
    ],
    every: Annotated[int, typer.Option(min=1, help="Use every N-th image (sorted).")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the simulated attacks.")] = 0,
    json_out: Annotated[
        Path | None, typer.Option("--json-out", "--json", help="Write the JSON report here.")
    ] = None,
) -> None:
    """BPCER on bona fide photos and APCER per simulated attack (screen, print, photo)."""

    def body() -> None:
        from faceprint.eval.runner import run_liveness_eval
        from faceprint.recognition import iter_sources

        pipeline = _pipeline()
        paths = iter_sources([images])[::every]
        with output.progress_bar("liveness", enabled=not STATE.quiet) as bar:
            report = run_liveness_eval(pipeline, paths, seed=seed, progress=bar)
        _report(report, json_out=json_out)

    _run(body)


@eval_app.command("calibrate")
def eval_calibrate(
    root: Annotated[Path, typer.Option(help="LFW images folder.")],
    pairs: Annotated[Path, typer.Option(help="pairs.txt: its images are the calibration set.")],
    embedder: Annotated[list[str], typer.Option("--embedder", help="Models to calibrate.")],
    out: Annotated[Path, typer.Option(help="calibrations.json to update.")],
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fit similarity→FMR curves from all cross-identity pairs and store them."""

    def body() -> None:
        from faceprint.eval.runner import calibrate_models

        store = _store()
        with output.progress_bar("calibrating", enabled=not STATE.quiet and not as_json) as bar:
            curves = calibrate_models(
                embedder,
                store=store,
                root=root,
                pairs_file=pairs,
                out=out,
                accept_licence=accept,
                progress=bar,
            )
        if as_json:
            output.print_json({name: curve.to_dict() for name, curve in curves.items()})
            return
        for name, curve in curves.items():
            output.stdout.print(
                f"{name}: {curve.impostor_pairs:,} impostor pairs; "
                f"threshold at FMR 1e-3 = {curve.threshold_for_fmr(1e-3):.4f}",
                highlight=False,
            )

    _run(body)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()


# --- service -----------------------------------------------------------------------------

KeysOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys", help="API keys file. Default: $FACEPRINT_KEYS, else $FACEPRINT_HOME/keys.db."
    ),
]


def _keys_path(path: Path | None) -> Path:
    from faceprint.service.settings import default_keys_path

    return path if path is not None else default_keys_path(STATE.env)


def _key_json(key: Any) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "scopes": [str(s) for s in key.scopes],
        "rate_limit": key.rate_limit,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    gallery: GalleryOpt = None,
    keys: KeysOpt = None,
    embedder: EmbedderOpt = "sface",
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
) -> None:
    """Run the REST service and its web page (http://HOST:PORT/, API docs at /docs)."""

    def body() -> None:
        from faceprint.config import PipelineConfig
        from faceprint.errors import ConfigError
        from faceprint.service.server import serve as run_server
        from faceprint.service.settings import MIB, ServiceSettings

        decimals: int | str | None = None
        if score_decimals is not None:
            text = score_decimals.strip().lower()
            if text == "none":
                decimals = "none"
            elif text.isdigit():
                decimals = int(text)
            else:
                raise ConfigError(
                    f"--score-decimals takes a number or 'none', not {score_decimals!r}"
                )
        overrides: dict[str, Any] = {
            "gallery_path": _gallery_path(gallery),
            "keys_path": _keys_path(keys),
            "pipeline": PipelineConfig(detector=detector, embedder=embedder, device=STATE.device),
            "accept_licence": accept,
            "max_request_bytes": None if max_request_mb is None else int(max_request_mb * MIB),
            "max_image_pixels": None if max_megapixels is None else int(max_megapixels * 1_000_000),
            "rate_limit": rate_limit,
            "inference_threads": threads,
            "enroll_quality": enroll_quality,
        }
        settings = ServiceSettings.from_env(STATE.env, **overrides)
        if decimals == "none":
            settings = dataclasses.replace(settings, score_decimals=None)
        elif isinstance(decimals, int):
            settings = dataclasses.replace(settings, score_decimals=decimals)
        run_server(settings, host=host, port=port, access_log=access_log)

    _run(body)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A name for the key (who or what uses it).")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            "-s",
            help="COLLECTION:ROLE, ROLE read or write; '*' for every collection. Repeatable.",
        ),
    ],
    rate_limit: Annotated[
        str | None, typer.Option(help="This key's rate limit, e.g. '100/second'.")
    ] = None,
    keys: KeysOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""

    def body() -> None:
        from faceprint.service.keys import KeyStore

        with KeyStore.open(_keys_path(keys), create=True) as store:
            key, token = store.create(name, scope, rate_limit=rate_limit)
        if as_json:
            output.print_json({**_key_json(key), "token": token})
            return
        output.stdout.print(
            f"created key {key.key_id} ({key.name}) with scopes "
            f"{', '.join(str(s) for s in key.scopes)}",
            markup=False,
        )
        output.stdout.print("store it now; it cannot be shown again:", markup=False)
        sys.stdout.write(token + "\n")

    _run(body)


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    keys: KeysOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List API keys (ids, names, scopes; never secrets)."""

    def body() -> None:
        from faceprint.service.keys import KeyStore

        with KeyStore.open(_keys_path(keys), create=False) as store:
            found = store.list(include_revoked=include_revoked)
        if as_json:
            output.print_json([_key_json(k) for k in found])
            return
        if not found:
            output.stdout.print("no keys", markup=False)
        for k in found:
            state = "active" if k.active else f"revoked {k.revoked_at}"
            output.stdout.print(
                f"{k.key_id}  {k.name}  {', '.join(str(s) for s in k.scopes)}  "
                f"rate={k.rate_limit or 'default'}  {state}",
                markup=False,
            )

    _run(body)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id or name.")],
    keys: KeysOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API key; it is refused from the next request on."""

    def body() -> None:
        from faceprint.service.keys import KeyStore

        with KeyStore.open(_keys_path(keys), create=False) as store:
            revoked = store.revoke(key)
        if as_json:
            output.print_json(_key_json(revoked))
        else:
            output.stdout.print(f"revoked key {revoked.key_id} ({revoked.name})", markup=False)

    _run(body)


# --- video -------------------------------------------------------------------------------


@app.command()
def video(
    source: Annotated[
        str,
        typer.Argument(help="Video file, stream URL (rtsp://, http://…) or webcam index (0)."),
    ],
    gallery: GalleryOpt = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Search one collection (default: all).")
    ] = None,
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
    fpir: Annotated[
        float | None, typer.Option(help="False-positive identification rate (default 0.01).")
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="Explicit similarity threshold.")] = None,
    max_seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds of video (streams).")
    ] = None,
    embedder: EmbedderOpt = "sface",
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Recognise people in a video or stream: one identity per track, events, annotated output.

    Ctrl-C stops cleanly: open tracks end, events are flushed, outputs are closed.
    """

    def body() -> None:
        import time as clock

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

        pipeline = _pipeline(embedder=embedder, accept=accept)
        options = VideoOptions(
            fps=fps or None, collection=collection, fpir=fpir, threshold=threshold
        )
        with (
            Gallery.open(_gallery_path(gallery), model_id=pipeline.model_id, create=False) as g,
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
                with output.frame_progress(
                    f"video {Path(source).name if not info.live else source}",
                    total=total,
                    enabled=not as_json and not STATE.quiet,
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
                        progress(recognizer.stats.frames_processed)
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
                "threshold": None
                if recognizer.threshold is None
                else recognizer.threshold.similarity,
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
                output.stdout.print(
                    f"{person['person']}: {person['first_timestamp']:.2f}–"
                    f"{person['last_timestamp']:.2f} s in {len(spans)} track(s), "
                    f"best similarity {best:.2f}",
                    markup=False,
                )
            output.stdout.print(
                f"{len(report['unknown_tracks'])} unknown track(s); "
                f"{stats.frames_processed} frames processed of {stats.frames_decoded} decoded "
                f"({report['processed_fps']} frames/s), {stats.embedded} of "
                f"{stats.observations} face observations embedded",
                markup=False,
            )
            for group in groups:
                output.stdout.print(f"unknown faces saved in {group}", markup=False)
        if interrupted:
            raise typer.Exit(130)

    _run(body)
