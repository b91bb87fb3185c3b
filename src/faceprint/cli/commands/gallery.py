"""``faceprint gallery …``: inspect, edit, export and import a gallery (no models load)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import (
    CollectionOpt,
    GalleryOpt,
    JsonOpt,
    TemplateKeyOpt,
    TenantOpt,
)
from faceprint.errors import UsageError

if TYPE_CHECKING:
    from faceprint.gallery import Gallery

group = typer.Typer(help="Inspect, edit, export and import a gallery.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from faceprint.cli.commands import gallery_keys

    gallery_keys.register(group)  # keygen, encrypt, rekey, decrypt
    app.add_typer(group, name="gallery")


def _open(gallery: Path | None) -> Gallery:
    from faceprint.gallery import Gallery

    cli = current()
    return Gallery.open(cli.gallery_path(gallery), create=False, key=cli.gallery_key())


@command(group, "list")
def gallery_list(
    gallery: GalleryOpt = None,
    collection: Annotated[str | None, typer.Option("--collection", "-c")] = None,
    faces: Annotated[bool, typer.Option("--faces", help="List each face too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Persons (and optionally faces) in a gallery."""
    with _open(gallery) as g:
        persons = g.persons(collection=collection)
        detail = (
            {(p.collection, p.name): g.faces(p.name, collection=p.collection) for p in persons}
            if faces
            else {}
        )
        if as_json:
            output.print_json(
                {
                    "gallery": g.path,
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
        output.line(f"{g.path}: model {g.model_id}, {len(persons)} person(s)")
        for p in persons:
            output.line(f"  {p.collection}/{p.name}: {p.faces} face(s)")
            for f in detail.get((p.collection, p.name), []):
                output.line(f"    #{f.id} {f.source} {output.fmt_box(f.bbox_xyxy)}")


@command(group, "policy")
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
    with _open(gallery) as g:
        if require_liveness is not None:
            g.set_require_liveness(require_liveness)
        policy = {"require_liveness": g.require_liveness}
    if as_json:
        output.print_json(policy)
    else:
        output.line(f"require_liveness: {policy['require_liveness']}")


@command(group, "index")
def gallery_index(
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Where searches run: auto (exact below 50,000 faces per collection, "
            "PQ codes above), exact, pq, milvus://HOST:PORT/DB or milvus-lite:PATH. "
            "Omit to show the current index."
        ),
    ] = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Rebuild the index from the gallery file.")
    ] = False,
    gallery: GalleryOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or choose a gallery's vector index; builds it if it is not built yet."""
    with _open(gallery) as g:
        if spec is not None:
            g.set_index(spec)
        if g.size() >= 50_000 and not as_json:
            output.note("loading or building the index…")
        if rebuild:
            g.rebuild_index()
        info = g.index_info()
    if as_json:
        output.print_json(info)
        return
    output.line(f"index: {info['index']} (change {info['change']})")
    for name, entry in sorted(info["collections"].items()):
        memory = entry.get("memory_bytes")
        size = f", {memory / 2**20:.1f} MiB" if memory else ""
        output.line(f"  {name}: {entry['kind']}, {entry['faces']} face(s){size}")


@command(group, "remove")
def gallery_remove(
    person: Annotated[str | None, typer.Argument(help="Person to remove with all faces.")] = None,
    face_id: Annotated[int | None, typer.Option("--face-id", help="Remove one face by id.")] = None,
    gallery: GalleryOpt = None,
    collection: CollectionOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Remove a person (all their faces) or a single face."""
    if (person is None) == (face_id is None):
        raise UsageError("give a PERSON or --face-id, not both")
    with _open(gallery) as g:
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
        output.line(f"removed {result['faces_removed']} face(s)")


@command(group, "rename")
def gallery_rename(
    old: Annotated[str, typer.Argument(help="Current name of the person (or collection).")],
    new: Annotated[str, typer.Argument(help="New name.")],
    rename_collection: Annotated[
        bool, typer.Option("--collection-name", help="Rename the collection OLD instead.")
    ] = False,
    gallery: GalleryOpt = None,
    collection: CollectionOpt = "default",
    as_json: JsonOpt = False,
) -> None:
    """Rename a person within a collection (or, with --collection-name, a collection)."""
    with _open(gallery) as g:
        if rename_collection:
            g.rename_collection(old, new)
        else:
            g.rename_person(old, new, collection=collection)
    kind = "collection" if rename_collection else "person"
    if as_json:
        output.print_json({"renamed": kind, "from": old, "to": new, "collection": collection})
    else:
        output.line(f"renamed {kind} {old!r} to {new!r}")


@command(group, "export")
def gallery_export(
    archive: Annotated[Path, typer.Argument(help="Archive file to write (a .zip).")],
    gallery: GalleryOpt = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="Export one collection only.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    clear_templates: Annotated[
        bool,
        typer.Option(
            "--clear-templates",
            help="Export an encrypted gallery: the archive holds its templates in clear.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write the gallery (or one collection) to a portable, checksummed archive: JSON
    metadata and a float32 .npy matrix in a ZIP, with the model pin (no pickle)."""
    from faceprint.gallery.archive import export_gallery

    if archive.exists() and not force:
        raise UsageError(f"{archive} exists; pass --force to overwrite it")
    cli = current()
    with (
        _open(gallery) as g,
        output.progress_bar("exporting", unit="faces", enabled=cli.show_progress) as bar,
    ):
        summary = export_gallery(
            g, archive, collection=collection, progress=bar, clear_templates=clear_templates
        )
    if as_json:
        output.print_json(summary)
    else:
        output.line(
            f"exported {summary.faces} face(s) of {summary.persons} person(s) in "
            f"{summary.collections} collection(s), model {summary.model_id} -> {archive}"
        )


@command(group, "import")
def gallery_import(
    archive: Annotated[Path, typer.Argument(help="Archive written by `gallery export`.")],
    gallery: GalleryOpt = None,
    collection: Annotated[
        str | None,
        typer.Option("--collection", "-c", help="Put everything into this collection."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Read an archive into a gallery (created if missing): checksums and the model pin
    are checked first, everything is written in one transaction, and faces the gallery
    already holds are skipped — importing twice adds nothing."""
    from faceprint.cli.options import existing
    from faceprint.gallery import Gallery
    from faceprint.gallery.archive import import_gallery

    existing([archive])
    cli = current()
    with (
        Gallery.open(cli.gallery_path(gallery), key=cli.gallery_key()) as g,
        output.progress_bar("importing", unit="faces", enabled=cli.show_progress) as bar,
    ):
        summary = import_gallery(g, archive, collection=collection, progress=bar)
    if as_json:
        output.print_json(summary)
    else:
        output.line(
            f"imported {summary.faces_added} face(s) ({summary.faces_skipped} already there), "
            f"{summary.persons_added} new person(s), {summary.collections_added} new "
            f"collection(s) -> {g.path}"
        )


@command(group, "reissue")
def gallery_reissue(
    gallery: GalleryOpt = None,
    template_key: TemplateKeyOpt = None,
    new_template_key: Annotated[
        str | None,
        typer.Option(
            "--new-template-key",
            metavar="SPEC",
            help="The key to move the templates to (file:PATH, env:NAME or cmd:COMMAND); "
            "omit it to make them plain again.",
        ),
    ] = None,
    tenant: TenantOpt = None,
    new_tenant: Annotated[
        str | None,
        typer.Option("--new-tenant", help="The tenant of the new key (default: --tenant)."),
    ] = None,
    gallery_key: Annotated[
        str | None,
        typer.Option(
            "--gallery-key", metavar="SPEC", help="The key of a gallery encrypted at rest."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-issue cancelable templates: move every template from --template-key to
    --new-template-key (one transaction, no image needed) and re-pin the gallery, so
    leaked templates match nothing and probes must come under the new key. Without
    --template-key a plain gallery is protected; without --new-template-key a protected
    one is made plain."""
    from faceprint.gallery.reissue import reissue_templates
    from faceprint.keysource import KeySource

    cli = current()
    path = cli.gallery_path(gallery)
    old = cli.template_key(template_key, tenant)
    new = None
    if new_template_key is not None:
        new = cli.template_key(new_template_key, new_tenant or tenant)
    elif new_tenant is not None:
        raise UsageError("--new-tenant needs --new-template-key SPEC")
    key = KeySource.parse(gallery_key).read(cli.env.variables) if gallery_key else None
    with output.progress_bar("re-issuing", unit="faces", enabled=cli.show_progress) as bar:
        summary = reissue_templates(path, old, new, key=key, progress=bar)
    if as_json:
        output.print_json(summary)
    elif summary.changed:
        output.line(
            f"re-issued {summary.faces} template(s) of {path}: model "
            f"{summary.old_model_id} -> {summary.new_model_id}"
        )
    else:
        output.line(f"{path} needs no re-issue: model {summary.new_model_id}; nothing changed")
