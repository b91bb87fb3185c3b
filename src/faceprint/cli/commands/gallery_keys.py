"""``faceprint gallery keygen|encrypt|rekey|decrypt``: a gallery's templates at rest.

Registered on the ``gallery`` group (:mod:`faceprint.cli.commands.gallery`). The work is
:mod:`faceprint.gallery.encryption`'s; these commands parse the key specs and render.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import GalleryOpt, JsonOpt
from faceprint.errors import KeyUnavailableError, UsageError

if TYPE_CHECKING:
    from faceprint.gallery.encryption import RewriteSummary
    from faceprint.keysource import SecretKey

KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--key",
        metavar="SPEC",
        help="The gallery key: file:PATH, env:NAME or cmd:COMMAND. Default: the "
        "--gallery-key global option, else $FACEPRINT_GALLERY_KEY.",
    ),
]


def register(group: typer.Typer) -> None:
    """Add the commands to the ``gallery`` group."""
    command(group, "keygen")(gallery_keygen)
    command(group, "encrypt")(gallery_encrypt)
    command(group, "rekey")(gallery_rekey)
    command(group, "decrypt")(gallery_decrypt)


def _key(spec: str | None, option: str = "--key") -> SecretKey:
    found = current().gallery_key(spec)
    if found is None:
        raise KeyUnavailableError(
            f"no gallery key: pass {option} SPEC (file:PATH, env:NAME or cmd:COMMAND) or set "
            "FACEPRINT_GALLERY_KEY; `faceprint gallery keygen FILE` makes a key"
        )
    return found


def _report(summary: RewriteSummary, as_json: bool, done: str, nothing: str) -> None:
    if as_json:
        output.print_json(summary)
    elif summary.changed:
        key = f" (key id {summary.key_id})" if summary.key_id else ""
        output.line(
            f"{done} {summary.faces} template(s) of {summary.path}{key} in {summary.seconds:.1f} s"
        )
    else:
        output.line(f"{summary.path} {nothing}; nothing changed")


def gallery_keygen(
    file: Annotated[Path, typer.Argument(help="Key file to create (mode 0600).")],
    as_json: JsonOpt = False,
) -> None:
    """Write a new random 256-bit gallery key to FILE, readable by its owner only
    (refuses to overwrite a file). Use it as --gallery-key file:FILE."""
    from faceprint.keysource import KeySource, new_key_text

    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{file} exists; a key file is never overwritten") from None
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(new_key_text())
    key_id = KeySource.parse(f"file:{file}").read({}).key_id
    if as_json:
        output.print_json({"file": str(file), "key_id": key_id})
    else:
        output.line(f"wrote key {key_id} to {file}; keep a copy: without it the gallery is lost")


def gallery_encrypt(
    gallery: GalleryOpt = None, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Encrypt a gallery's templates at rest (AES-256-GCM) in one transaction; a gallery
    already encrypted with this key is left as it is."""
    from faceprint.gallery.encryption import encrypt_gallery

    cli = current()
    secret = _key(key)
    path = cli.gallery_path(gallery)
    with output.progress_bar("encrypting", unit="faces", enabled=cli.show_progress) as bar:
        summary = encrypt_gallery(path, secret, progress=bar)
    _report(summary, as_json, "encrypted", f"is already encrypted with key {summary.key_id}")


def gallery_rekey(
    gallery: GalleryOpt = None,
    key: KeyOpt = None,
    new_key: Annotated[
        str | None,
        typer.Option(
            "--new-key",
            metavar="SPEC",
            help="The new gallery key (file:PATH, env:NAME or cmd:COMMAND).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-encrypt every template under a fresh data key wrapped by --new-key, in one
    transaction: interrupted, the gallery still opens with the old key."""
    from faceprint.gallery.encryption import rekey_gallery

    if new_key is None:
        raise UsageError("give the new key: --new-key SPEC")
    cli = current()
    old, new = _key(key), _key(new_key, "--new-key")
    path = cli.gallery_path(gallery)
    with output.progress_bar("re-keying", unit="faces", enabled=cli.show_progress) as bar:
        summary = rekey_gallery(path, old, new, progress=bar)
    _report(summary, as_json, "re-keyed", f"is already under key {summary.key_id}")


def gallery_decrypt(
    gallery: GalleryOpt = None, key: KeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Write an encrypted gallery's templates back in clear, in one transaction."""
    from faceprint.gallery.encryption import decrypt_gallery

    cli = current()
    secret = _key(key)
    path = cli.gallery_path(gallery)
    with output.progress_bar("decrypting", unit="faces", enabled=cli.show_progress) as bar:
        summary = decrypt_gallery(path, secret, progress=bar)
    _report(summary, as_json, "decrypted", "is not encrypted")
