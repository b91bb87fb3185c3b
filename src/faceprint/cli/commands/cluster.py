"""``faceprint cluster …``: who is in all these photos? Cluster, review, name, enroll.

``faceprint cluster DIR…`` is short for ``faceprint cluster run DIR…``. The work is
:mod:`faceprint.people`'s; these commands parse and render.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import CollectionOpt, EmbedderOpt, GalleryOpt, JsonOpt, existing

if TYPE_CHECKING:
    from faceprint.people import Cluster, Outputs, PeopleStore


class DefaultRunGroup(TyperGroup):
    """A group whose first argument, when it is not a subcommand, starts ``run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


group = typer.Typer(
    cls=DefaultRunGroup,
    help="Cluster the faces of a photo collection (`faceprint cluster DIR…`), then review, "
    "name, merge, split and enroll the clusters.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="cluster")


OutOpt = Annotated[
    Path,
    typer.Option("--out", "-o", help="The clustering folder (database, clusters.json, sheets)."),
]
ClusterArg = Annotated[int, typer.Argument(help="Cluster id (see `faceprint cluster list`).")]


def _open(out: Path) -> PeopleStore:
    from faceprint.people import open_folder

    return open_folder(out)


def _summary_lines(outputs: Outputs, *, limit: int = 15) -> None:
    s = outputs.summary()
    output.line(
        f"{s['clusters']} cluster(s) of {s['faces']} face(s) in {s['images']} image(s): "
        f"{s['groups']} with two or more faces, {s['singletons']} single, {s['named']} named"
    )
    shown = [c for c in outputs.clusters if not c.singleton or c.name][:limit]
    for c in shown:
        output.line(_cluster_line(c))
    rest = len([c for c in outputs.clusters if not c.singleton or c.name]) - len(shown)
    if rest > 0:
        output.line(f"  … {rest} more (faceprint cluster list --out {outputs.folder})")
    output.line(f"clusters.json and contact sheets in {outputs.folder}")


def _cluster_line(c: Cluster) -> str:
    name = c.name or "unnamed"
    mark = " (reviewed)" if c.reviewed and c.name is None else ""
    low = sum(1 for m in c.members if m.reasons)
    extra = f", {low} low-quality" if low else ""
    return f"  #{c.id:<5} {name}{mark}: {c.size} face(s){extra}, representative face {c.representative}"


@command(group, "run")
def cluster_run(
    photos: Annotated[list[Path], typer.Argument(help="Photos and folders (walked recursively).")],
    out: OutOpt = Path("clusters"),
    fpir: Annotated[
        float,
        typer.Option(
            "--fpir",
            help="Chance that a face of someone seen once gains a false link; the similarity "
            "threshold follows from the model's calibration and the number of faces.",
        ),
    ] = 0.01,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Explicit cosine similarity instead of --fpir."),
    ] = None,
    neighbours: Annotated[
        int, typer.Option("--neighbours", min=1, max=256, help="Neighbours searched per face.")
    ] = 32,
    sheets: Annotated[
        bool, typer.Option("--sheets/--no-sheets", help="Draw a contact-sheet PNG per cluster.")
    ] = True,
    embedder: EmbedderOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Embed the new photos in PHOTOS, cluster every face, write OUT/clusters.json and sheets.

    Only photos not seen before are embedded (the folder keeps them by content). Faces that fail the quality gate (tiny, blurry, low confidence) never link two
    clusters; new faces join reviewed (named) clusters when they match them."""
    from faceprint.people import cluster_photos

    existing(photos)
    if not 0.0 < fpir < 1.0:
        raise typer.BadParameter("must be in (0, 1)", param_hint="--fpir")
    cli = current()
    pipeline = cli.pipeline(embedder=embedder)
    with output.progress_bar(
        "embedding new photos", unit="img", enabled=cli.show_progress
    ) as update:
        run = cluster_photos(
            pipeline,
            photos,
            out,
            fpir=fpir,
            similarity=threshold,
            k=neighbours,
            sheets=sheets,
            progress=lambda done, total: update(done, total, ""),
        )
    if as_json:
        output.print_json(
            {**run.to_dict(), "clusters": [c.to_dict() for c in run.outputs.clusters]}
        )
        return
    i = run.ingested
    output.line(
        f"{i.paths} file(s): {i.new_images} new image(s) embedded ({i.new_faces} face(s), "
        f"{run.embed_seconds:.1f} s), {i.known_images} already known"
        + (f", {i.unreadable} unreadable" if i.unreadable else "")
    )
    t = run.clustering.threshold
    if t is not None:
        how = (
            f"FMR {t.fmr:.2g} per comparison, FPIR {t.fpir:.2g} over {t.faces} faces"
            if t.source == "fpir"
            else "given"
        )
        output.line(
            f"threshold {t.similarity:.4f} ({how}); clustered in {run.clustering.seconds:.1f} s"
        )
        if t.clamped:
            output.note(
                f"note: {t.faces} faces need a per-comparison FMR below the calibrated range; "
                f"used its smallest, {t.fmr:.2g} (FPIR {t.fpir:.2g})"
            )
    c = run.clustering
    if c.kept or c.joined:
        output.line(
            f"{c.kept} reviewed face(s) kept, {c.joined} new face(s) joined reviewed clusters"
        )
    if c.attached or c.low_quality:
        output.line(
            f"quality gate: {c.attached} low-quality face(s) attached by their best match, "
            f"{c.low_quality} left alone"
        )
    _summary_lines(run.outputs)


@command(group, "list")
def cluster_list(
    out: OutOpt = Path("clusters"),
    singletons: Annotated[
        bool, typer.Option("--singletons", help="List single-face clusters too.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The clusters of a clustering folder (named first, then by size)."""
    from faceprint.people import list_clusters

    with _open(out) as store:
        clusters = list_clusters(store)
    if as_json:
        output.print_json({"clusters": [c.to_dict() for c in clusters]})
        return
    single = sum(1 for c in clusters if c.singleton and not c.name)
    for c in clusters:
        if singletons or not c.singleton or c.name:
            output.line(_cluster_line(c))
    output.line(f"{len(clusters)} cluster(s), {single} single-face")


@command(group, "show")
def cluster_show(
    cluster: ClusterArg, out: OutOpt = Path("clusters"), as_json: JsonOpt = False
) -> None:
    """The faces of one cluster: face id, photo, box, quality, similarity to the best."""
    from faceprint.people import list_clusters

    with _open(out) as store:
        store.require_cluster(cluster)
        found = list_clusters(store, ids={cluster})
    if not found:
        output.line(f"cluster {cluster} is empty")
        return
    c = found[0]
    if as_json:
        output.print_json(c.to_dict())
        return
    output.line(_cluster_line(c).strip())
    for m in c.members:
        flags = f"  [{', '.join(m.reasons)}]" if m.reasons else ""
        output.line(
            f"  face {m.face_id:<6} {m.similarity:.3f}  {m.path} {output.fmt_box(m.box)} "
            f"({m.how}){flags}"
        )
    output.line(f"sheet: {out / 'sheets' / f'cluster-{c.id:05d}.png'}")


def _after_edit(store: PeopleStore, out: Path, as_json: bool, message: str, result: Any) -> None:
    from faceprint.people import write_outputs

    write_outputs(store, out)
    if as_json:
        output.print_json(result)
    else:
        output.line(message)


@command(group, "name")
def cluster_name(
    cluster: ClusterArg,
    person: Annotated[str, typer.Argument(help="The person's name.")],
    out: OutOpt = Path("clusters"),
    as_json: JsonOpt = False,
) -> None:
    """Name a cluster; a cluster already holding that name is merged with it.

    Named clusters keep their faces when clustering again; new photos join them."""
    from faceprint.people import name_cluster

    with _open(out) as store:
        target = name_cluster(store, cluster, person)
        merged = f" (merged into #{target})" if target != cluster else ""
        _after_edit(
            store,
            out,
            as_json,
            f"cluster #{cluster} is {person}{merged}",
            {"cluster": target, "name": person},
        )


@command(group, "unname")
def cluster_unname(
    cluster: ClusterArg, out: OutOpt = Path("clusters"), as_json: JsonOpt = False
) -> None:
    """Forget a cluster's name and review (its faces are clustered freely again)."""
    from faceprint.people import unname_cluster

    with _open(out) as store:
        unname_cluster(store, cluster)
        _after_edit(store, out, as_json, f"cluster #{cluster} is unnamed", {"cluster": cluster})


@command(group, "merge")
def cluster_merge(
    clusters: Annotated[list[int], typer.Argument(help="Two or more cluster ids.")],
    out: OutOpt = Path("clusters"),
    as_json: JsonOpt = False,
) -> None:
    """Merge clusters (into the named one, else the first given)."""
    from faceprint.people import merge_clusters

    with _open(out) as store:
        target = merge_clusters(store, clusters)
        _after_edit(
            store,
            out,
            as_json,
            f"merged {', '.join(f'#{c}' for c in clusters)} into #{target}",
            {"cluster": target, "merged": clusters},
        )


@command(group, "split")
def cluster_split(
    cluster: ClusterArg,
    faces: Annotated[list[int], typer.Argument(help="Face ids to move to a new cluster.")],
    out: OutOpt = Path("clusters"),
    as_json: JsonOpt = False,
) -> None:
    """Move faces out of a cluster into a new cluster of their own."""
    from faceprint.people import split_faces

    with _open(out) as store:
        new = split_faces(store, cluster, faces)
        _after_edit(
            store,
            out,
            as_json,
            f"{len(faces)} face(s) of #{cluster} are now cluster #{new}",
            {"cluster": cluster, "new_cluster": new, "faces": faces},
        )


@command(group, "remove")
def cluster_remove(
    cluster: ClusterArg,
    faces: Annotated[list[int], typer.Argument(help="Face ids that are not this person.")],
    out: OutOpt = Path("clusters"),
    as_json: JsonOpt = False,
) -> None:
    """Take faces out of a cluster for good (never put back into it)."""
    from faceprint.people import remove_faces

    with _open(out) as store:
        remove_faces(store, cluster, faces)
        _after_edit(
            store,
            out,
            as_json,
            f"removed {len(faces)} face(s) from #{cluster}",
            {"cluster": cluster, "removed": faces},
        )


@command(group, "enroll")
def cluster_enroll(
    clusters: Annotated[
        list[int] | None, typer.Argument(help="Cluster ids (default: every named cluster).")
    ] = None,
    out: OutOpt = Path("clusters"),
    gallery: GalleryOpt = None,
    collection: CollectionOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Enroll named clusters into a gallery, each as the person it is named.

    Only faces that pass the quality gate; enrolling again adds only new faces."""
    from faceprint.gallery import Gallery
    from faceprint.people import enroll_clusters

    cli = current()
    with _open(out) as store, Gallery.open(cli.gallery_path(gallery), key=cli.gallery_key()) as g:
        done = enroll_clusters(store, g, clusters=clusters or None, collection=collection)
        path = g.path
    if as_json:
        output.print_json({"gallery": path, "collection": collection, "clusters": done})
        return
    for e in done:
        skipped = f", {e.already} already enrolled" if e.already else ""
        low = f", {e.low_quality} low-quality skipped" if e.low_quality else ""
        output.line(f"#{e.cluster} {e.person}: {e.added} face(s) added{skipped}{low}")
    output.line(f"gallery {path}, collection {collection}")
