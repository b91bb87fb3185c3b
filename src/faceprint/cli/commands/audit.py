"""``faceprint audit``: attack the configured embedder and service, report what works.

Four attacks (docs/security.md): master embeddings and wolves, attribute-matched
impersonation, score-only model inversion against the running service in each
response mode, and non-face inputs. Writes ``audit.json``, ``audit.md``, ``audit.png``
and ``reconstructions.png`` to ``--out``.
"""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.context import DEFAULT_EMBEDDER, current
from faceprint.cli.errors import command
from faceprint.cli.options import AcceptOpt, JsonOpt, existing

PARTS = ("masters", "impersonation", "inversion", "nonface")


def register(app: typer.Typer) -> None:
    command(app, "audit")(audit)


def _list(text: str, allowed: tuple[str, ...] | list[str], what: str) -> list[str]:
    from faceprint.errors import UsageError

    chosen = [p.strip() for p in text.split(",") if p.strip()]
    wrong = [p for p in chosen if p not in allowed]
    if wrong or not chosen:
        raise UsageError(f"--{what} takes a comma-separated subset of {','.join(allowed)}")
    return chosen


def audit(
    images: Annotated[
        Path,
        typer.Argument(help="Enrolled faces in the LFW layout: DIR/<person>/<images>."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the report files.")] = Path("audit"),
    embedder: Annotated[
        str | None, typer.Option(help=f"The attacked embedder (default {DEFAULT_EMBEDDER}).")
    ] = None,
    check_embedder: Annotated[
        str | None,
        typer.Option(
            help="The other model that must also accept a reconstruction (default "
            "reid-0095; sface when reid-0095 is attacked)."
        ),
    ] = None,
    parts: Annotated[str, typer.Option(help=f"Attacks to run: {','.join(PARTS)}.")] = ",".join(
        PARTS
    ),
    modes: Annotated[
        str,
        typer.Option(help="Service response modes the inversion attacks."),
    ] = "exact,rounded,decision,detector,defaults",
    targets: Annotated[int, typer.Option(min=1, help="Inversion targets (people).")] = 2,
    budget: Annotated[int, typer.Option(min=10, help="Queries per inversion run.")] = 10_000,
    space_images: Annotated[
        int, typer.Option(min=50, help="Other people's photos the eigenface space is built from.")
    ] = 2000,
    impersonation_targets: Annotated[
        int | None, typer.Option(min=1, help="Impersonation targets (default: every person).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds every draw.")] = 0,
    cache: Annotated[
        Path | None,
        typer.Option(
            help="Where embeddings and the face space are cached (default: the model cache)."
        ),
    ] = None,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write the PNGs.")] = True,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Security audit: master faces, look-alike impersonation, score-only inversion
    against the service, non-face inputs — measured on the configured models."""
    chosen = _list(parts, PARTS, "parts")
    from faceprint.eval.audit.run import MODES

    mode_list = _list(modes, list(MODES), "modes")
    existing([images])
    cli = current()
    attacked = embedder or DEFAULT_EMBEDDER
    checker = check_embedder or ("sface" if attacked == "reid-0095" else "reid-0095")
    pipeline = cli.pipeline(embedder=attacked, accept=accept)
    where = cache or cli.env.root / "audit"
    report, pictures = _run(
        pipeline,
        images,
        chosen,
        mode_list,
        where=where,
        checker=checker,
        targets=targets,
        budget=budget,
        space_images=space_images,
        impersonation_targets=impersonation_targets,
        seed=seed,
        accept=accept,
    )
    from faceprint.eval.audit.report import write_report

    written = write_report(report, out, images=pictures, plots=plot)
    if as_json:
        output.print_json(report)
        return
    from faceprint.eval.audit.report import markdown

    output.line(markdown(report))
    output.line("wrote " + ", ".join(str(p) for p in written))


def _run(
    pipeline: Any,
    images: Path,
    parts: list[str],
    modes: list[str],
    *,
    where: Path,
    checker: str,
    targets: int,
    budget: int,
    space_images: int,
    impersonation_targets: int | None,
    seed: int,
    accept: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    from faceprint.eval.audit import (
        attribute_impersonation,
        audit_nonface,
        find_master_embeddings,
        nonface_inputs,
        wolves,
    )
    from faceprint.eval.audit.cache import cached_audit_set
    from faceprint.eval.audit.run import audit_thresholds

    cli = current()
    show = cli.show_progress
    with output.progress_bar("embedding the faces", unit="images", enabled=show) as bar:
        faces = cached_audit_set(pipeline, images, where, progress=bar)
    thresholds = audit_thresholds(pipeline)
    similarities = {name: sim for name, (sim, _) in thresholds.items()}
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "model_id": pipeline.model_id,
        "dataset": {
            "name": str(images),
            "faces": len(faces),
            "identities": len(faces.identities),
            "skipped": len(faces.skipped),
        },
        "thresholds": {n: {"similarity": s, "fmr": f} for n, (s, f) in thresholds.items()},
        "seed": seed,
    }
    pictures: dict[str, Any] = {}
    if "masters" in parts:
        report["masters"] = {}
        for name, sim in similarities.items():
            found = find_master_embeddings(faces, similarity=sim, name=name, k=10, seed=seed)
            row = found.to_dict()
            row.pop("vectors")
            report["masters"][name] = row
        default = next(iter(similarities.values()))
        report["wolves"] = [w.to_dict() for w in wolves(faces, default, top=10)]
    if "impersonation" in parts:
        report["impersonation"] = attribute_impersonation(
            faces, similarities, attempts=100, max_targets=impersonation_targets, seed=seed
        ).to_dict()
    if "nonface" in parts:
        result = audit_nonface(pipeline, nonface_inputs(seed=seed), faces, similarities)
        report["nonface"] = result.to_dict()
    if "inversion" in parts:
        report["inversion"], pictures = _inversion(
            pipeline, faces, images, modes, where=where, checker=checker, targets=targets,
            budget=budget, space_images=space_images, seed=seed, accept=accept,
        )  # fmt: skip
    return report, pictures


def _inversion(
    pipeline: Any,
    faces: Any,
    images: Path,
    modes: list[str],
    *,
    where: Path,
    checker: str,
    targets: int,
    budget: int,
    space_images: int,
    seed: int,
    accept: bool,
) -> tuple[dict[str, Any], dict[str, Any]]:
    from faceprint.eval.audit.cache import cached_face_space
    from faceprint.eval.audit.run import choose_targets, run_inversion
    from faceprint.eval.audit.run import space_images as pick
    from faceprint.service.audit import AuditTarget

    cli = current()
    chosen = choose_targets(faces, images, targets, seed=seed)
    photos = pick(faces, images, [t.person for t in chosen], limit=space_images, seed=seed)
    with output.progress_bar(
        "building the face space", unit="images", enabled=cli.show_progress
    ) as bar:
        space = cached_face_space(pipeline, photos, where, progress=bar)
    check = cli.pipeline(embedder=checker, accept=accept)
    check_threshold = check.verification_threshold().similarity
    with (
        AuditTarget(pipeline, chosen) as target,
        output.stage_progress(unit="queries", enabled=cli.show_progress) as stage,
    ):
        summaries = run_inversion(
            space, chosen, modes, target.oracle, check=check, check_threshold=check_threshold,
            budget=budget, seed=seed, events_for=target.events, progress=stage,
        )  # fmt: skip
    result = {
        "targets": [t.person for t in chosen],
        "check_model": check.model_id,
        "check_threshold": check_threshold,
        "budget": budget,
        "space": {"images": len(photos), "components": space.dimension},
        "modes": [s.to_dict() for s in summaries],
    }
    return result, {s.mode: s.images for s in summaries}
