"""The audit report: ``audit.json`` (every figure), ``audit.md`` (tables a reviewer
reads), ``audit.png`` (the four attacks at a glance) and ``reconstructions.png`` (the
inversion's best images per mode). The PNGs need matplotlib (``faceprint[eval]``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from faceprint.eval.report import markdown_table
from faceprint.types import ImageArray

__all__ = ["markdown", "write_report"]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    return markdown_table([dict(zip(headers, r, strict=True)) for r in rows], columns=headers)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _masters_md(report: Mapping[str, Any]) -> list[str]:
    masters = report.get("masters")
    if not masters:
        return []
    rows = []
    for name, m in masters.items():
        cov, rnd, faces = m["coverage"], m["random_coverage"], m["face_coverage"]
        rows.append(
            [
                name,
                f"{m['similarity']:.3f}",
                *(
                    f"{_pct(cov[k - 1])} ({_pct(faces[k - 1])}; {_pct(rnd[k - 1])})"
                    for k in (1, 5, 10)
                ),
            ]
        )
    lines = [
        "## Master embeddings",
        "",
        f"Share of the {next(iter(masters.values()))['identities']} enrolled identities "
        "matched by k optimised unit vectors together (in brackets: k real faces chosen "
        "greedily; k random unit vectors).",
        "",
        _table(["threshold", "similarity", "k = 1", "k = 5", "k = 10"], rows),
    ]
    wolves = report.get("wolves") or []
    if wolves:
        lines += [
            "",
            "Wolves at the default threshold (real faces matching the most other people): "
            + ", ".join(f"{w['person']} ({w['matched_identities']})" for w in wolves[:5]),
        ]
    return [*lines, ""]


def _impersonation_md(report: Mapping[str, Any]) -> list[str]:
    imp = report.get("impersonation")
    if not imp:
        return []
    rows = [
        [
            r["threshold_name"],
            f"{r['similarity']:.3f}",
            f"{_pct(r['matched_rate'])} [{_pct(r['matched_interval'][0])}, {_pct(r['matched_interval'][1])}]",
            f"{_pct(r['random_rate'])} [{_pct(r['random_interval'][0])}, {_pct(r['random_interval'][1])}]",
        ]
        for r in imp["results"]
    ]
    return [
        "## Attribute-matched impersonation",
        "",
        f"{imp['targets']} targets; each attacked with {imp['attempts']} real faces of other "
        "people of the same predicted gender and age band, and with as many random faces. "
        "A target is impersonated when one face reaches the threshold against its enrolled "
        f"template (95 % Wilson intervals). {imp['short_targets']} targets had fewer "
        "look-alike faces to draw than attempts.",
        "",
        _table(["threshold", "similarity", "attribute-matched", "random"], rows),
        "",
    ]


def _inversion_md(report: Mapping[str, Any]) -> list[str]:
    inv = report.get("inversion")
    if not inv:
        return []
    modes = inv["modes"]
    budgets = modes[0]["budgets"] if modes else []
    rows = []
    for m in modes:
        cells = [m["mode"]]
        for i in range(len(budgets)):
            scores = [s for s in m["best_scores"][i] if s is not None]
            best = f", best {max(scores):.2f}" if scores else ""
            cells.append(
                f"{m['successes'][i]} / {m['targets']} (service said match {m['attacked_matches'][i]}{best})"
            )
        refusals = [r["first_refusal"] for r in m["runs"] if r["first_refusal"]]
        flags = [
            e.get("key_requests")
            for r in m["runs"]
            for e in r.get("security_events", [])
            if e.get("event") == "hill_climb_suspected"
        ]
        cells.append(
            "–"
            if not refusals and not flags
            else f"refused from query {min(refusals) if refusals else '–'}; flagged at "
            + (", ".join(str(f) for f in flags) if flags else "–")
        )
        rows.append(cells)
    return [
        "## Score-only model inversion",
        "",
        f"{len(inv['targets'])} targets, attacked through `POST …/persons/{{pid}}/verify` of "
        f"the running service; eigenface space of {inv['space']['images']} photos of other "
        f"people ({inv['space']['components']} components). Success: the service matched "
        f"the best image *and* {inv['check_model']} matched it to the target's real photos "
        f"at FMR 1e-3 ({inv['check_threshold']:.3f}).",
        "",
        _table(["mode", *(f"{b:,} queries" for b in budgets), "defences"], rows),
        "",
        *(f"- **{m['mode']}**: {m['description']}" for m in modes),
        "",
    ]


def _nonface_md(report: Mapping[str, Any]) -> list[str]:
    nf = report.get("nonface")
    if not nf:
        return []
    rows = [
        [name, str(nf["false_matches"].get(name, 0)), str(nf["drawn_matches"].get(name, 0))]
        for name in nf["thresholds"]
    ]
    return [
        "## Non-face and out-of-distribution inputs",
        "",
        f"{nf['inputs']} inputs ({nf['drawn_inputs']} drawn faces): "
        f"{nf['false_detections']} false detections in {nf['inputs_with_false_detections']} "
        f"inputs; {nf['drawn_detections']} detections in drawn faces.",
        "",
        _table(
            ["threshold", "false detections matching someone", "drawn faces matching someone"], rows
        ),
        "",
    ]


def markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown."""
    head = [
        f"# Security audit: {report['model_id']}",
        "",
        f"{report['date']} · {report.get('machine', '')} · dataset {report['dataset']['name']} "
        f"({report['dataset']['faces']} faces of {report['dataset']['identities']} people)",
        "",
        _table(
            ["threshold", "similarity", "FMR"],
            [
                [n, f"{t['similarity']:.4f}", f"{t['fmr']:g}"]
                for n, t in report["thresholds"].items()
            ],
        ),
        "",
    ]
    body = _masters_md(report) + _impersonation_md(report) + _inversion_md(report)
    return "\n".join(head + body + _nonface_md(report))


def _plot(report: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 9))
    ax = axes[0][0]
    for name, m in (report.get("masters") or {}).items():
        ks = range(1, len(m["coverage"]) + 1)
        (line,) = ax.plot(ks, [100 * c for c in m["coverage"]], marker="o", label=f"{name}")
        ax.plot(ks, [100 * c for c in m["face_coverage"]], ls="--", color=line.get_color())
    ax.set(
        title="Master embeddings (dashed: best real faces)",
        xlabel="k vectors",
        ylabel="identities matched (%)",
    )
    ax.legend(fontsize=8)
    ax = axes[0][1]
    imp = report.get("impersonation")
    if imp:
        names = [r["threshold_name"] for r in imp["results"]]
        x = np.arange(len(names))
        ax.bar(
            x - 0.2,
            [100 * r["matched_rate"] for r in imp["results"]],
            0.4,
            label="same gender & age",
        )
        ax.bar(x + 0.2, [100 * r["random_rate"] for r in imp["results"]], 0.4, label="random")
        ax.set_xticks(x, names, fontsize=8)
        ax.legend(fontsize=8)
    ax.set(
        title=f"Impersonation by {imp['attempts'] if imp else 100} faces",
        ylabel="targets impersonated (%)",
    )
    ax = axes[1][0]
    inv = report.get("inversion")
    if inv:
        for m in inv["modes"]:
            means = []
            for scores in m["check_scores"]:
                vals = [s for s in scores if s is not None]
                means.append(np.mean(vals) if vals else np.nan)
            ax.plot(m["budgets"], means, marker="o", label=m["mode"])
        ax.axhline(inv["check_threshold"], color="k", ls=":", label="check threshold")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    ax.set(
        title="Inversion: check-model similarity of the best image",
        xlabel="queries",
        ylabel="similarity to target",
    )
    ax = axes[1][1]
    nf = report.get("nonface")
    if nf:
        names = list(nf["thresholds"])
        x = np.arange(len(names))
        ax.bar(
            x - 0.2,
            [nf["false_matches"].get(n, 0) for n in names],
            0.4,
            label="non-face detections",
        )
        ax.bar(x + 0.2, [nf["drawn_matches"].get(n, 0) for n in names], 0.4, label="drawn faces")
        ax.set_xticks(x, names, fontsize=8)
        ax.legend(fontsize=8)
        ax.set(
            title=f"Non-face inputs: {nf['false_detections']} false detections of {nf['inputs']}"
        )
    ax.set(ylabel="matching an enrolled person")
    fig.suptitle(f"faceprint audit · {report['model_id']} · {report['date']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mosaic(images: Mapping[str, Mapping[str, ImageArray]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = list(images)
    people = sorted({p for m in images.values() for p in m})
    fig, axes = plt.subplots(
        len(people), len(modes), figsize=(2.2 * len(modes), 2.4 * len(people)), squeeze=False
    )
    for j, mode in enumerate(modes):
        for i, person in enumerate(people):
            ax = axes[i][j]
            ax.axis("off")
            if person in images[mode]:
                ax.imshow(images[mode][person])
            if i == 0:
                ax.set_title(mode, fontsize=9)
            if j == 0:
                ax.text(
                    -0.05,
                    0.5,
                    person.replace("_", " "),
                    transform=ax.transAxes,
                    rotation=90,
                    ha="right",
                    va="center",
                    fontsize=8,
                )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    report: Mapping[str, Any],
    out: Path,
    *,
    images: Mapping[str, Mapping[str, ImageArray]] | None = None,
    plots: bool = True,
) -> list[Path]:
    """Write the report files into ``out`` (created); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "audit.json", out / "audit.md"]
    written[0].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    written[1].write_text(markdown(report) + "\n", encoding="utf-8")
    if plots:
        _plot(report, out / "audit.png")
        written.append(out / "audit.png")
        if images:
            _mosaic(images, out / "reconstructions.png")
            written.append(out / "reconstructions.png")
    return written
