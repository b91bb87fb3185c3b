"""``faceprint enroll``: images into a gallery, safely re-runnable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import EXIT_CODES, EXIT_INTERRUPTED, command
from faceprint.cli.options import (
    AcceptOpt,
    CollectionOpt,
    EmbedderOpt,
    GalleryOpt,
    JsonlOpt,
    JsonOpt,
    TemplateKeyOpt,
    TenantOpt,
    existing,
    output_mode,
)
from faceprint.errors import GalleryError

if TYPE_CHECKING:
    from faceprint.recognition import EnrollPlan, Skipped


def register(app: typer.Typer) -> None:
    command(app, "enroll")(enroll)


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
    refuse_degraded: Annotated[
        str | None,
        typer.Option(
            "--refuse-degraded",
            help="Also skip faces whose capture is degraded this way (comma-separated: "
            "motion_blur, noise, low_light, low_resolution, compression); implies --quality.",
        ),
    ] = None,
    allow_shared: Annotated[
        bool,
        typer.Option(
            "--allow-shared-images",
            help="Enroll an image for this person even if it is enrolled for another one.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show what would be enrolled; load no model, write nothing."
        ),
    ] = False,
    embedder: EmbedderOpt = None,
    accept: AcceptOpt = False,
    template_key: TemplateKeyOpt = None,
    tenant: TenantOpt = None,
    use_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run the models in the actors of a Ray cluster (needs the ray extra of "
            "faceprint): a local one started or joined here, or --ray-address.",
        ),
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            metavar="ADDRESS",
            help="The Ray cluster to use (implies --ray): auto (a cluster this machine "
            "belongs to), HOST:6379 or ray://HOST:10001. Default: $RAY_ADDRESS, else a "
            "local cluster.",
        ),
    ] = None,
    ray_actors: Annotated[
        int | None,
        typer.Option(
            "--ray-actors", min=1, help="With --ray: actors, each loading the models once (2)."
        ),
    ] = None,
    ray_cpus: Annotated[
        float | None,
        typer.Option(
            "--ray-cpus",
            min=0.01,
            help="With --ray: Ray CPUs each actor reserves (0.5; a fraction leaves Ray Data "
            "a CPU). Each actor's inference threads: --threads, else these CPUs rounded "
            "down, at least 1.",
        ),
    ] = None,
    as_json: JsonOpt = False,
    jsonl: JsonlOpt = False,
) -> None:
    """Add faces to a gallery (created if missing, pinned to the embedding model).

    Re-running is safe: images already enrolled for the person are skipped
    (already_enrolled), so a run stopped by Ctrl-C or a crash finishes where it left off.
    With --ray the models run in Ray actors; the gallery is written here, the same way.
    """
    from faceprint.core.quality import QualityPolicy
    from faceprint.gallery import Gallery
    from faceprint.recognition import plan_enrollment

    mode = output_mode(as_json, jsonl)
    refused = _degradations(refuse_degraded)
    use_ray = use_ray or ray_address is not None
    if not use_ray and (ray_actors is not None or ray_cpus is not None):
        from faceprint.errors import UsageError

        raise UsageError("--ray-actors and --ray-cpus need --ray (or --ray-address)")
    plan = plan_enrollment(existing(paths), person=person)
    cli = current()
    path = cli.gallery_path(gallery)
    model = cli.embedder_for(path, embedder)
    templates = cli.template_key(template_key, tenant)
    if use_ray and templates is not None:
        from faceprint.errors import UsageError

        raise UsageError("--template-key does not work with --ray yet; enroll without --ray")
    if dry_run:
        _dry_run(plan, path, collection=collection, allow_shared=allow_shared, mode=mode)
        return
    policy = QualityPolicy(degradations=refused) if quality or refused else None
    stream: Callable[[Gallery], Generator[Any, None, None]]
    if use_ray:
        from faceprint.models.card import load_catalog
        from faceprint.recognition import RayAnalyzer, RayOptions, run_enrollment

        model_id = load_catalog()[model].name  # an unknown model fails before the gallery
        analyzer = RayAnalyzer(  # without Ray installed, this fails before the gallery too
            cli.pipeline_config(embedder=model),
            cli.env.store_config(),
            options=RayOptions(
                address=ray_address,
                actors=ray_actors or 2,
                cpus_per_actor=ray_cpus or 0.5,
                verbose=cli.debug,
            ),
            accept_licence=accept,
        )

        def stream(opened: Gallery) -> Generator[Any, None, None]:
            return run_enrollment(  # what enroll_stream_ray runs
                analyzer,
                opened,
                plan.items,
                collection=collection,
                quality=policy,
                allow_shared_images=allow_shared,
            )
    else:
        from faceprint.recognition import enroll_stream

        pipeline = cli.pipeline(embedder=model, accept=accept, templates=templates)
        model_id = pipeline.model_id

        def stream(opened: Gallery) -> Generator[Any, None, None]:
            return enroll_stream(
                pipeline,
                opened,
                plan.items,
                collection=collection,
                quality=policy,
                allow_shared_images=allow_shared,
            )

    counts: Counter[str] = Counter()
    persons: set[str] = set()
    interrupted = False
    items: list[Any] = []
    with (
        Gallery.open(path, model_id=model_id, key=cli.gallery_key()) as opened,
        output.progress_bar(
            "enrolling", total=len(plan), unit="images", enabled=cli.show_progress
        ) as bar,
    ):
        outcomes = stream(opened)
        size_before = opened.size()
        try:
            for done, outcome in enumerate(outcomes, start=1):
                bar(done, 0, outcome.source)
                _show(outcome, mode, counts, persons, items)
        except KeyboardInterrupt:
            interrupted = True
            # What is saved is what the gallery holds: an outcome may have been committed
            # and not yet reported when the interrupt came.
            counts["enrolled"] = opened.size() - size_before
        finally:
            outcomes.close()
    summary = {
        "gallery": str(path),
        "collection": collection,
        "enrolled_faces": counts["enrolled"],
        "persons": len(persons),
        "skipped": sum(n for k, n in counts.items() if k != "enrolled"),
        "already_enrolled": counts["already_enrolled"],
        "interrupted": interrupted,
    }
    if mode == "json":
        output.print_json({**summary, **_split(items)})
    elif mode == "jsonl":
        output.json_line({"summary": summary})
    if mode == "text" or interrupted:
        _print_summary(summary)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if counts["enrolled_as_other_person"]:
        output.error_line(
            "enrolled_as_other_person",
            f"{counts['enrolled_as_other_person']} image(s) refused: already enrolled for "
            "another person (see above; --allow-shared-images enrolls them anyway)",
        )
        raise typer.Exit(EXIT_CODES[GalleryError])


def _split(items: list[Any]) -> dict[str, list[Any]]:
    from faceprint.recognition import EnrolledFace

    return {
        "enrolled": [i for i in items if isinstance(i, EnrolledFace)],
        "skipped": [i for i in items if not isinstance(i, EnrolledFace)],
    }


def _degradations(text: str | None) -> tuple[str, ...]:
    from faceprint.core.degradation import DEGRADATIONS
    from faceprint.errors import UsageError

    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    unknown = [n for n in names if n not in DEGRADATIONS]
    if unknown:
        raise UsageError(
            f"--refuse-degraded: unknown degradation {', '.join(unknown)}; choose from "
            f"{', '.join(DEGRADATIONS)}"
        )
    return names


def _show(
    outcome: Any, mode: str, counts: Counter[str], persons: set[str], items: list[Any]
) -> None:
    from faceprint.recognition import EnrolledFace

    if isinstance(outcome, EnrolledFace):
        counts["enrolled"] += 1
        persons.add(outcome.person)
    else:
        counts[outcome.reason] += 1
    if mode == "json":
        items.append(outcome)
        return
    if mode == "jsonl":
        kind = "enrolled" if isinstance(outcome, EnrolledFace) else "skipped"
        output.json_line({kind: outcome})
        return
    if isinstance(outcome, EnrolledFace):
        note = (
            f" ({outcome.faces_in_image} faces, used the most prominent)"
            if outcome.faces_in_image > 1
            else ""
        )
        if outcome.issues:
            note += f" [flagged: {', '.join(outcome.issues)}]"
        output.line(f"enrolled {outcome.person}: {outcome.source}{note}")
    elif outcome.reason != "already_enrolled":
        output.note(f"skipped ({outcome.reason}): {outcome.message}")


def _print_summary(summary: dict[str, Any]) -> None:
    already = summary["already_enrolled"]
    text = (
        f"{summary['enrolled_faces']} face(s) of {summary['persons']} person(s) enrolled, "
        f"{summary['skipped']} skipped"
        + (f" ({already} already enrolled)" if already else "")
        + f" -> {summary['gallery']}"
    )
    if summary["interrupted"]:
        output.note(
            f"interrupted: {text}; what was enrolled is saved — run the same command again "
            "to finish (already enrolled images are skipped)"
        )
    else:
        output.line(text)


def _dry_run(
    plan: EnrollPlan, path: Path, *, collection: str, allow_shared: bool, mode: str
) -> None:
    from faceprint.gallery import Gallery
    from faceprint.recognition import preview_enrollment

    key = current().gallery_key()
    opened = Gallery.open(path, create=False, key=key) if path.is_file() else None
    rows: list[tuple[str, Path, Skipped | None]] = []
    try:
        rows = list(
            preview_enrollment(
                plan, opened, collection=collection, allow_shared_images=allow_shared
            )
        )
    finally:
        if opened is not None:
            opened.close()
    new = sum(skip is None for _, _, skip in rows)
    if mode != "text":
        output.print_json(
            {
                "dry_run": True,
                "gallery": str(path),
                "would_enroll": new,
                "would_skip": len(rows) - new,
                "items": [
                    {
                        "person": person,
                        "image": str(image),
                        "skip": None if skip is None else skip.reason,
                    }
                    for person, image, skip in rows
                ],
            }
        )
        return
    for person, image, skip in rows:
        status = "enroll" if skip is None else f"skip ({skip.reason})"
        output.line(f"{status}\t{person}\t{image}")
    output.line(
        f"dry run: would enroll {new} image(s) of {len(plan.persons)} person(s), skip "
        f"{len(rows) - new}; nothing was written to {path}"
    )
