"""``faceprint keys create|list|revoke``: API keys of the REST service."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faceprint.cli import output
from faceprint.cli.context import current
from faceprint.cli.errors import command
from faceprint.cli.options import JsonOpt, KeysOpt

if TYPE_CHECKING:
    from faceprint.service.keys import ApiKey

group = typer.Typer(help="Create, list and revoke API keys of the service.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(group, name="keys")


def _key_json(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "scopes": [str(s) for s in key.scopes],
        "rate_limit": key.rate_limit,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


@command(group, "create")
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
    from faceprint.service.keys import KeyStore

    with KeyStore.open(current().keys_path(keys), create=True) as store:
        key, token = store.create(name, scope, rate_limit=rate_limit)
    if as_json:
        output.print_json({**_key_json(key), "token": token})
        return
    scopes = ", ".join(str(s) for s in key.scopes)
    output.line(f"created key {key.key_id} ({key.name}) with scopes {scopes}")
    output.line("store it now; it cannot be shown again:")
    sys.stdout.write(token + "\n")


@command(group, "list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    keys: KeysOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List API keys (ids, names, scopes; never secrets)."""
    from faceprint.service.keys import KeyStore

    with KeyStore.open(current().keys_path(keys), create=False) as store:
        found = store.list(include_revoked=include_revoked)
    if as_json:
        output.print_json([_key_json(k) for k in found])
        return
    if not found:
        output.line("no keys")
    for k in found:
        state = "active" if k.active else f"revoked {k.revoked_at}"
        output.line(
            f"{k.key_id}  {k.name}  {', '.join(str(s) for s in k.scopes)}  "
            f"rate={k.rate_limit or 'default'}  {state}"
        )


@command(group, "revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="Key id or name.")],
    keys: KeysOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API key; it is refused from the next request on."""
    from faceprint.service.keys import KeyStore

    with KeyStore.open(current().keys_path(keys), create=False) as store:
        revoked = store.revoke(key)
    if as_json:
        output.print_json(_key_json(revoked))
    else:
        output.line(f"revoked key {revoked.key_id} ({revoked.name})")
