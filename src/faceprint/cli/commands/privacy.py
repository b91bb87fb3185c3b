"""``faceprint privacy keygen|encrypt-probe|encrypt-gallery|search|decrypt``: encrypted 1:N.

The client makes keys, embeds and encrypts a probe; the server scores it against a
gallery (its own, or one the client encrypted) without decrypting anything; the client
decrypts the answer. Each step reads and writes files, so the two sides can run on
different machines (or use the REST endpoints ``/v1/privacy/…``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import (
    AcceptOpt,
    EmbedderOpt,
    FpirOpt,
    GalleryOpt,
    JsonOpt,
    TemplateKeyOpt,
    TenantOpt,
    ThresholdOpt,
    existing,
)

group = typer.Typer(
    help="Search over encrypted templates (CKKS): keys, probes, search, decryption.",
    no_args_is_help=True,
)

KeysFile = Annotated[Path, typer.Option("--keys", "-k", help="Key file (from `privacy keygen`).")]
OutFile = Annotated[Path, typer.Option("--output", "-o", help="Write the result here.")]
ModeOpt = Annotated[
    str,
    typer.Option(
        help="decision: the client learns only which faces pass the threshold (default); "
        "scores: raw similarities (lets a client rebuild the gallery from ~128 probes)."
    ),
]
WorkersOpt = Annotated[
    int | None, typer.Option(help="Worker processes of the server (default: every core).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="privacy")


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` atomically (a temporary file renamed); ``private``: mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".incomplete")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    partial.replace(path)


def _read(path: Path) -> bytes:
    existing([path])
    return path.read_bytes()


def _keys(path: Path) -> Any:
    from faceprint.privacy.ckks import KeySet

    return KeySet.from_bytes(_read(path), what=str(path))


@command(group, "keygen")
def privacy_keygen(
    keys: KeysFile,
    public: Annotated[
        Path | None,
        typer.Option(help="Also write the public keys (for the server) here; default KEYS.pub."),
    ] = None,
    dim: Annotated[int, typer.Option(help="Template dimension (SFace: 128).")] = 128,
    force: Annotated[bool, typer.Option(help="Overwrite existing key files.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make CKKS keys: a secret key file (mode 0600, keep it) and a public one (send it)."""
    from faceprint.errors import UsageError
    from faceprint.privacy.ckks import KeySet

    public = public or keys.with_name(keys.name + ".pub")
    for path in (keys, public):
        if path.exists() and not force:
            raise UsageError(f"{path} exists; pass --force to replace it (old results stay sealed)")
    made = KeySet.generate(dim)
    secret_bytes, public_bytes = made.to_bytes(), made.public().to_bytes()
    _write(keys, secret_bytes, private=True)
    _write(public, public_bytes)
    if as_json:
        output.print_json(
            {
                "key_id": made.key_id,
                "dim": dim,
                "keys": str(keys),
                "public_keys": str(public),
                "public_bytes": len(public_bytes),
            }
        )
        return
    output.line(f"keys {made.key_id} for {dim}-d templates")
    output.line(f"  secret: {keys} (keep it; it decrypts results)")
    output.line(f"  public: {public} ({len(public_bytes) / 1e6:.1f} MB; give it to the server)")


@command(group, "encrypt-probe")
def privacy_encrypt_probe(
    image: Annotated[Path, typer.Argument(help="A photo of the person to search for.")],
    keys: KeysFile,
    out: OutFile,
    embedder: EmbedderOpt = None,
    accept: AcceptOpt = False,
    template_key: TemplateKeyOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Embed the most prominent face of IMAGE and encrypt its template for the server."""
    from faceprint.batch import analyze_images
    from faceprint.errors import NoFaceError

    existing([image])
    key_set = _keys(keys)
    cli = current()
    pipeline = cli.pipeline(
        embedder=embedder, accept=accept, templates=cli.template_key(template_key, tenant)
    )
    (result,) = list(analyze_images(pipeline, [image], embed="primary"))
    if result.error is not None:
        raise result.error
    face = result.primary_face
    if face is None or face.embedding is None:
        raise NoFaceError(f"{image}: no face found; use a photo where it is visible")
    _write(out, key_set.encrypt_probe(face.embedding.vector))
    output.line(f"encrypted probe of {image} for keys {key_set.key_id}: {out}")


@command(group, "encrypt-gallery")
def privacy_encrypt_gallery(
    keys: KeysFile,
    out: OutFile,
    gallery: GalleryOpt = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="One collection (default: all).")
    ] = None,
) -> None:
    """Encrypt a gallery's templates under KEYS for a server that must never see them."""
    from faceprint.gallery import Gallery
    from faceprint.privacy.index import encrypt_gallery
    from faceprint.privacy.labels import Labels

    key_set = _keys(keys)
    cli = current()
    with Gallery.open(cli.gallery_path(gallery), create=False, key=cli.gallery_key()) as g:
        stored = g.templates(collection=collection)
        model_id = g.model_id
    names = [stored.persons[int(p)][0] for p in stored.person_ids]
    labels = Labels.of_persons(names, face_ids=stored.face_ids.tolist(), collection=collection)
    data = encrypt_gallery(key_set, stored.matrix, labels, model_id=model_id)
    _write(out, data)
    output.line(f"{len(names)} templates encrypted for keys {key_set.key_id}: {out}")


@command(group, "search")
def privacy_search(
    probe: Annotated[Path, typer.Argument(help="An encrypted probe (`privacy encrypt-probe`).")],
    public_keys: Annotated[
        Path, typer.Option("--public-keys", "-p", help="The client's public key file.")
    ],
    out: OutFile,
    gallery: GalleryOpt = None,
    encrypted_gallery: Annotated[
        Path | None,
        typer.Option(help="Search this encrypted gallery (`privacy encrypt-gallery`) instead."),
    ] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", "-c", help="One collection (default: all).")
    ] = None,
    mode: ModeOpt = "decision",
    threshold: ThresholdOpt = None,
    fpir: FpirOpt = None,
    workers: WorkersOpt = None,
) -> None:
    """The server's step: score an encrypted probe without decrypting it."""
    from faceprint.privacy.ckks import KeySet

    data = _read(probe)
    if encrypted_gallery is not None:
        from faceprint.privacy.index import EncryptedIndex
        from faceprint.privacy.server import calibrated_threshold

        keys = KeySet.from_bytes(_read(public_keys), what=str(public_keys))
        with EncryptedIndex.from_encrypted(keys, _read(encrypted_gallery), workers=workers) as idx:
            chosen = calibrated_threshold(
                idx.model_id or "sface", idx.count, threshold=threshold, fpir=fpir
            )
            result = idx.search(data, threshold=chosen.similarity, mode=mode)
        size = idx.count
    else:
        from faceprint.gallery import Gallery
        from faceprint.privacy.server import PrivateSearch

        cli = current()
        with Gallery.open(cli.gallery_path(gallery), create=False, key=cli.gallery_key()) as g:
            server = PrivateSearch(g, workers=workers)
            try:
                server.register(_read(public_keys))
                answer = server.search(
                    data, collection=collection, mode=mode, threshold=threshold, fpir=fpir
                )
            finally:
                server.close()
        result, chosen, size = answer.result, answer.threshold, answer.gallery_size
    _write(out, result)
    output.line(
        f"scored against {size} templates ({mode}, threshold {chosen.similarity:.4f}"
        f"{'' if chosen.fpir is None else f', FPIR {output.fmt_rate(chosen.fpir)}'}): {out}"
    )


@command(group, "decrypt")
def privacy_decrypt(
    result: Annotated[Path, typer.Argument(help="A search result (`privacy search`).")],
    keys: KeysFile,
    as_json: JsonOpt = False,
) -> None:
    """The client's last step: decrypt a search result and name who matched."""
    key_set = _keys(keys)
    found = key_set.decrypt_result(_read(result))
    persons = found.matched_persons()
    body: dict[str, Any] = {
        "mode": found.mode,
        "threshold": found.threshold,
        "collection": found.collection,
        "matches": persons,
        "faces_passing": int(found.accepted.sum()),
        "templates": len(found.face_ids),
    }
    if found.mode == "scores":
        best = int(found.values.argmax())
        body["best"] = {
            "person": found.persons[best],
            "face_id": found.face_ids[best],
            "similarity": float(found.values[best]),
        }
    if as_json:
        output.print_json(body)
        return
    if not persons:
        output.line(f"unknown: no enrolled face passes the threshold {found.threshold:.4f}")
        return
    for person in persons:
        output.line(f"match\t{person}")
    if "best" in body:
        output.line(f"best\t{body['best']['person']}\tsimilarity={body['best']['similarity']:.4f}")
