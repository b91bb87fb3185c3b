"""``faceprint keys create|list|revoke|events``: API keys of the REST service and the
security events (budgets, throttling, hill-climbing alerts) logged against them."""

from __future__ import annotations

import sys
from pathlib import Path
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
        "responses": key.responses,
        "daily_budget": key.daily_budget,
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
    responses: Annotated[
        str | None,
        typer.Option(
            help="What this key's answers carry: 'scores' (similarities and decisions) or "
            "'decision' (decisions only; starves score-driven attacks). Default: the "
            "service's (FACEPRINT_SERVICE_RESPONSES, 'scores')."
        ),
    ] = None,
    daily_budget: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Matching requests (verify, search) this key may make a day. Default: the "
            "service's (FACEPRINT_SERVICE_DAILY_BUDGET, 10000).",
        ),
    ] = None,
    keys: KeysOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from faceprint.service.keys import KeyStore

    with KeyStore.open(current().keys_path(keys), create=True) as store:
        key, token = store.create(
            name, scope, rate_limit=rate_limit, responses=responses, daily_budget=daily_budget
        )
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
            f"rate={k.rate_limit or 'default'}  responses={k.responses or 'default'}  "
            f"budget={k.daily_budget or 'default'}/day  {state}"
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


@command(group, "events")
def keys_events(
    key: Annotated[
        str | None, typer.Option("--key", help="Only this key's events (its id).")
    ] = None,
    last: Annotated[int, typer.Option(min=1, help="Show the newest N events.")] = 50,
    log: Annotated[
        Path | None,
        typer.Option(
            "--log",
            help="The audit log. Default: $FACEPRINT_SERVICE_AUDIT_LOG, else audit.jsonl "
            "beside the keys file.",
        ),
    ] = None,
    keys: KeysOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Security events the service logged: exhausted budgets, throttled keys, suspected
    hill-climbing attacks (alerts)."""
    from faceprint.service.defences import read_events

    cli = current()
    where = log or cli.env.service_audit_log or cli.keys_path(keys).with_name("audit.jsonl")
    events = [e for e in read_events(where) if key is None or e.get("key_id") == key][-last:]
    if as_json:
        output.print_json(events)
        return
    if not events:
        output.line(f"no security events in {where}")
    for e in events:
        extra = {k: v for k, v in e.items() if k not in ("time", "event", "key_id")}
        detail = "  ".join(f"{k}={v}" for k, v in extra.items())
        output.line(f"{e.get('time')}  {e.get('event')}  key={e.get('key_id')}  {detail}")
