"""``faceprint eval …``: accuracy and calibration on standard protocols.

Each prints a summary (``--json``: the full report on stdout instead), and writes the
report to ``--output PATH`` and a curve to ``--plot PATH`` where asked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.context import DEFAULT_EMBEDDER, current
from faceprint.cli.errors import command
from faceprint.cli.options import AcceptOpt, EmbedderOpt, JsonOpt, OutputOpt, PlotOpt, existing

group = typer.Typer(help="Accuracy and calibration on standard protocols.", no_args_is_help=True)

RootOpt = Annotated[Path, typer.Option(help="LFW images folder (root/<Name>/<Name>_NNNN.jpg).")]
PairsOpt = Annotated[Path, typer.Option(help="pairs.txt (View 2).")]


def register(app: typer.Typer) -> None:
    from faceprint.cli.commands import evaluate_cluster

    evaluate_cluster.register(group)  # eval cluster
    app.add_typer(group, name="eval")


def _report(report: Any, *, as_json: bool, out: Path | None, plot: Path | None = None) -> None:
    """Write the report where asked and print it (summary, or JSON with ``--json``)."""
    if out is not None:
        output.write_json(out, report)
    if plot is not None:
        report.plot(plot)
    if as_json:
        output.print_json(report)
    else:
        output.line(report.summary())


def _evaluate(
    run: Callable[..., Any],
    *,
    checked: list[Path],
    embedder: str | None = None,
    accept: bool = False,
    as_json: bool = False,
    out: Path | None = None,
    plot: Path | None = None,
    **arguments: Any,
) -> None:
    """Check the paths, load the models, run one evaluation with progress, report it."""
    existing(checked)
    cli = current()
    pipeline = cli.pipeline(embedder=embedder, accept=accept)
    with output.progress_bar("evaluating", unit="images", enabled=cli.show_progress) as bar:
        report = run(pipeline, progress=bar, **arguments)
    _report(report, as_json=as_json, out=out, plot=plot)


def _on_pairs(name: str, run: Callable[..., Any], doc: str) -> None:
    """Register an evaluation over an LFW-style pairs file as ``faceprint eval NAME``."""

    def evaluate(
        root: RootOpt,
        pairs: PairsOpt,
        embedder: EmbedderOpt = None,
        out: OutputOpt = None,
        plot: PlotOpt = None,
        accept: AcceptOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        _evaluate(
            run,
            checked=[root, pairs],
            embedder=embedder,
            accept=accept,
            as_json=as_json,
            out=out,
            plot=plot,
            root=root,
            pairs_file=pairs,
        )

    evaluate.__doc__ = doc
    command(group, name)(evaluate)


def _lfw(pipeline: Any, **arguments: Any) -> Any:
    from faceprint.eval.lfw import run_lfw

    return run_lfw(pipeline, **arguments)


def _error_vs_reject(pipeline: Any, **arguments: Any) -> Any:
    from faceprint.eval.quality import run_error_vs_reject

    return run_error_vs_reject(pipeline, **arguments)


_on_pairs("lfw", _lfw, "LFW 10-fold verification accuracy, ROC AUC and TAR@FAR=1e-3.")
_on_pairs(
    "quality",
    _error_vs_reject,
    "Error-vs-reject: does dropping the lowest-quality pairs lower the error?",
)


@command(group, "identify")
def eval_identify(
    root: Annotated[Path, typer.Option(help="Folder tree root/<person>/<images>.")],
    nonmated: Annotated[Path | None, typer.Option(help="Folder of non-mated probe images.")] = None,
    fpir: Annotated[float, typer.Option(help="FPIR at which to report FNIR.")] = 0.01,
    embedder: EmbedderOpt = None,
    out: OutputOpt = None,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Open-set 1:N: gallery = first image per person, probes = the rest."""
    from faceprint.eval.identification import run_identify

    _evaluate(
        run_identify,
        checked=[root] + ([nonmated] if nonmated else []),
        embedder=embedder,
        accept=accept,
        as_json=as_json,
        out=out,
        root=root,
        nonmated_root=nonmated,
        fpir=fpir,
    )


@command(group, "liveness")
def eval_liveness(
    images: Annotated[
        Path, typer.Option(help="Folder of bona fide photos (searched recursively).")
    ],
    every: Annotated[int, typer.Option(min=1, help="Use every N-th image (sorted).")] = 1,
    seed: Annotated[int, typer.Option(help="Seed of the simulated attacks.")] = 0,
    out: OutputOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """BPCER on bona fide photos and APCER per simulated attack (screen, print, photo)."""
    from faceprint.eval.liveness import run_liveness_eval
    from faceprint.media.sources import expand_paths

    paths = expand_paths(existing([images]))[::every]
    _evaluate(run_liveness_eval, checked=[], as_json=as_json, out=out, paths=paths, seed=seed)


@command(group, "calibrate")
def eval_calibrate(
    root: RootOpt,
    pairs: Annotated[Path, typer.Option(help="pairs.txt: its images are the calibration set.")],
    embedder: Annotated[list[str], typer.Option("--embedder", help="Models to calibrate.")],
    out: Annotated[Path, typer.Option("--out", help="calibrations.json to update.")],
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Fit similarity→FMR curves from all cross-identity pairs and store them."""
    from faceprint.eval.calibrate import calibrate_models

    existing([root, pairs])
    with output.progress_bar("calibrating", unit="images", enabled=current().show_progress) as bar:
        curves = calibrate_models(
            embedder,
            store=current().store(),
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
        output.line(
            f"{name}: {curve.impostor_pairs:,} impostor pairs; "
            f"threshold at FMR 1e-3 = {curve.threshold_for_fmr(1e-3):.4f}"
        )


def _folds(text: str | None) -> list[int] | None:
    """``"1-3,7"`` → [1, 2, 3, 7]."""
    from faceprint.errors import UsageError

    if not text:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.strip().partition("-")
            first, last = int(low), int(high or low)
            if last < first:
                raise ValueError(part)
            out.extend(range(first, last + 1))
    except ValueError:
        raise UsageError(f"--folds takes numbers and ranges like 1-3,7, not {text!r}") from None
    if len(set(out)) < 2:
        raise UsageError("--folds needs at least two folds (thresholds come from the others)")
    return out


@command(group, "robustness")
def eval_robustness(
    root: RootOpt,
    pairs: PairsOpt,
    kinds: Annotated[
        str | None,
        typer.Option(
            help="Degradations, comma-separated (default: all; see faceprint degrade --kinds)."
        ),
    ] = None,
    severity: Annotated[
        str, typer.Option(help="Severities 1 (mild) … 3 (severe), comma-separated.")
    ] = "2",
    folds: Annotated[
        str | None, typer.Option(help="Folds to use, e.g. 1-3 (default: all; at least two).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Degradation seed.")] = 0,
    embedder: Annotated[
        list[str] | None,
        typer.Option("--embedder", help="Embedders to compare (repeatable; default sface)."),
    ] = None,
    compare_raw: Annotated[
        bool,
        typer.Option(
            "--compare-raw", help="Also run each pipeline with restoration off, side by side."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the JSON report here after every condition; an "
            "interrupted run with the same file and settings resumes.",
        ),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the bar chart (PNG) here.")
    ] = None,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """LFW verification under synthetic capture degradations (blur, low resolution,
    weather, noise, JPEG, low light): accuracy, TAR@FAR=1e-3, faces not found, drop
    from clean, per pipeline."""
    from faceprint.errors import UsageError
    from faceprint.eval.degrade import KINDS, SEVERITIES, Degradation
    from faceprint.eval.robustness import run_robustness

    chosen = [k.strip() for k in kinds.split(",") if k.strip()] if kinds else list(KINDS)
    for kind in chosen:
        Degradation(kind)  # unknown kinds are refused before any model loads
    try:
        severities = [int(s) for s in severity.split(",") if s.strip()]
    except ValueError:
        raise UsageError(
            f"--severity takes 1, 2 or 3 (comma-separated), not {severity!r}"
        ) from None
    for level in severities:
        if level not in SEVERITIES:
            raise UsageError(f"severity must be 1, 2 or 3, got {level}")
    fold_list = _folds(folds)
    existing([root, pairs])
    cli = current()
    pipelines = {}
    for name in embedder or [DEFAULT_EMBEDDER]:
        pipelines[name] = cli.pipeline(embedder=name, accept=accept)
        if compare_raw:
            pipelines[f"{name} (no restoration)"] = cli.pipeline(
                embedder=name, accept=accept, restore=False
            )
    with output.progress_bar("evaluating", unit="images", enabled=cli.show_progress) as bar:
        report = run_robustness(
            pipelines,
            root=root,
            pairs_file=pairs,
            kinds=chosen,
            severities=severities,
            folds=fold_list,
            seed=seed,
            checkpoint=out,
            progress=bar,
        )
    if plot is not None:
        report.plot(plot)
    if as_json:
        output.print_json(report.to_dict())
    else:
        output.line(report.summary())


GroupsOpt = Annotated[
    str,
    typer.Option(
        help="Group labels: a CSV (header 'image' or 'person', then one column per "
        "grouping) or 'predicted' (the attribute model's gender and age band: proxies)."
    ),
]
CacheOpt = Annotated[
    Path | None,
    typer.Option(help="Where the embedded faces are cached (default: the model cache)."),
]


def _audited_faces(
    root: Path, groups: str, *, embedder: str | None, accept: bool, cache: Path | None
) -> tuple[Any, Any, Any]:
    """The pipeline, the embedded faces of ``root`` (cached) and their group labels."""
    from faceprint.eval.audit.cache import cached_audit_set
    from faceprint.eval.fairness.groups import predicted_groups, read_groups_csv

    csv = None if groups == "predicted" else Path(groups)
    existing([root] + ([csv] if csv is not None else []))
    cli = current()
    pipeline = cli.pipeline(embedder=embedder, accept=accept)
    with output.progress_bar(
        "embedding the faces", unit="images", enabled=cli.show_progress
    ) as bar:
        faces = cached_audit_set(pipeline, root, cache or cli.env.root / "audit", progress=bar)
    labels = predicted_groups(faces) if csv is None else read_groups_csv(csv, faces)
    return pipeline, faces, labels


def _column(labels: Any, column: str | None) -> str:
    """The grouping ``--column`` names (default: the first).

    Raises:
        UsageError: the groups have no such column.
    """
    from faceprint.errors import UsageError

    chosen = column or next(iter(labels.columns))
    if chosen not in labels.columns:
        raise UsageError(f"--column {chosen!r}: the groups have {list(labels.columns)}")
    return str(chosen)


@command(group, "fairness")
def eval_fairness(
    root: Annotated[Path, typer.Option(help="Folder tree root/<person>/<images>.")],
    groups: GroupsOpt = "predicted",
    pairs: Annotated[
        Path | None,
        typer.Option(help="LFW-style pairs.txt whose folds hold out identities (--mitigate)."),
    ] = None,
    mitigate: Annotated[
        str | None,
        typer.Option(
            help="Mitigations to measure on held-out identities, e.g. "
            "'none,faircal-20,group-thresholds,centroid-1' (needs --pairs)."
        ),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="Grouping the mitigations are fitted and judged on.")
    ] = None,
    fairness: Annotated[
        str | None, typer.Option(help="Audit with this score adjuster applied.")
    ] = None,
    rounds: Annotated[int, typer.Option(min=0, help="Bootstrap rounds (0: no intervals).")] = 1000,
    fpir: Annotated[float, typer.Option(help="Pooled FPIR of the 1:N part.")] = 0.01,
    cache: CacheOpt = None,
    embedder: EmbedderOpt = None,
    out: OutputOpt = None,
    plot: PlotOpt = None,
    accept: AcceptOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Demographic differentials: FMR/FNMR and FPIR/FNIR per group, with intervals."""
    from dataclasses import replace

    from faceprint.errors import CalibrationError, UsageError
    from faceprint.eval.fairness.audit import FMR_POINTS, audit_fairness
    from faceprint.models.adjusters import load_adjuster

    if mitigate and pairs is None:
        raise UsageError("--mitigate needs --pairs (its folds hold out the identities)")
    pipeline, faces, labels = _audited_faces(
        root, groups, embedder=embedder, accept=accept, cache=cache
    )
    adjuster = load_adjuster(fairness, model_id=faces.model_id) if fairness else None
    try:
        thresholds = {f: pipeline.verification_threshold(fmr=f).similarity for f in FMR_POINTS}
    except CalibrationError:
        thresholds = None  # measured on this set instead
    report = audit_fairness(
        faces,
        labels,
        thresholds=thresholds,
        adjuster=adjuster,
        fpir=fpir,
        rounds=rounds,
        dataset=str(root),
    )
    if mitigate and pairs is not None:
        from faceprint.eval.datasets import read_pairs
        from faceprint.eval.fairness.heldout import held_out_mitigations

        chosen = _column(labels, column)
        methods = [m.strip() for m in mitigate.split(",") if m.strip()]
        listed = read_pairs(existing([pairs])[0], root=root)
        with output.progress_bar("fitting", unit="folds", enabled=current().show_progress) as bar:
            mitigation = held_out_mitigations(
                faces,
                labels.columns[chosen],
                listed,
                root,
                methods,
                column=chosen,
                predicted=labels.predicted,
                progress=bar,
            )
        report = replace(report, mitigation=mitigation)
    _report(report, as_json=as_json, out=out, plot=plot)


@command(group, "fairness-fit")
def eval_fairness_fit(
    root: Annotated[Path, typer.Option(help="Folder tree root/<person>/<images>.")],
    method: Annotated[
        str, typer.Option(help="faircal-K (no labels), group-thresholds or centroid-BETA.")
    ],
    out: Annotated[Path, typer.Option("--out", help="The adjuster .json to write.")],
    groups: GroupsOpt = "predicted",
    column: Annotated[
        str | None, typer.Option(help="Grouping to fit on (default: the first).")
    ] = None,
    cache: CacheOpt = None,
    embedder: EmbedderOpt = None,
    accept: AcceptOpt = False,
) -> None:
    """Fit a fairness score adjuster on a labelled face set (use it with --fairness)."""
    import json
    import os

    from faceprint.errors import UsageError
    from faceprint.eval.fairness.heldout import fitter

    fit = fitter(method)
    _, faces, labels = _audited_faces(root, groups, embedder=embedder, accept=accept, cache=cache)
    chosen = _column(labels, column)
    adjuster = fit(faces.vectors, list(faces.persons), list(labels.columns[chosen]), faces.model_id)
    if adjuster is None:
        raise UsageError("'none' fits nothing; choose a method")
    proxy = " (predicted proxies)" if labels.predicted else ""
    fitted_on = (
        f"{root.resolve().parent.name}/{root.resolve().name}: {len(faces)} faces of {len(faces.identities)} identities; "
        f"groups {chosen} from {labels.source}{proxy}"
    )
    data = {**adjuster.to_dict(), "fitted_on": fitted_on}
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(data, separators=(",", ":")) + "\n", "utf-8")
    os.replace(partial, out)
    output.line(f"wrote {out}: {adjuster.method} for {faces.model_id} ({fitted_on})")
