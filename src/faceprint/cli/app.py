"""The ``faceprint`` Typer application: global options and the command groups.

Commands live in :mod:`faceprint.cli.commands`, one module per group; each imports the
library only inside its functions, so ``faceprint --help`` and a mistyped option cost
no model loading.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from faceprint import __version__
from faceprint.cli.context import CliContext, begin
from faceprint.cli.errors import EXIT_INTERRUPTED, usage_failure
from faceprint.environment import completing


class FaceprintGroup(TyperGroup):
    """Typer's group, with command-line errors reported in one line (exit 2) instead
    of a usage box, and as JSON on stdout when ``--json``/``--jsonl`` was given."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(
                args=argv,
                prog_name=prog_name or "faceprint",
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except typer.Abort:
            code = EXIT_INTERRUPTED
        except typer.TyperException as exc:  # Click's parsing errors (UsageError & co.)
            code = usage_failure(exc, argv)
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"faceprint {__version__}\n")
        raise typer.Exit(0)


def _root(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings on stderr; no progress.")
    ] = False,
    device: Annotated[
        str | None,
        typer.Option(
            "--device",
            help="auto (CUDA if PyTorch sees a GPU), cpu, cuda, or torch-cpu. "
            "Default: $FACEPRINT_DEVICE, else auto.",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=0,
            help="Inference threads. Default: $FACEPRINT_THREADS, else every visible core.",
        ),
    ] = None,
    no_restore: Annotated[
        bool,
        typer.Option(
            "--no-restore",
            help="Do not undo measured capture degradations (motion blur, JPEG blocking; "
            "detection retried on dark or noisy photos). Clean faces are never touched.",
        ),
    ] = False,
    gallery_key: Annotated[
        str | None,
        typer.Option(
            "--gallery-key",
            metavar="SPEC",
            help="Key of a gallery encrypted at rest: file:PATH, env:NAME or cmd:COMMAND "
            "(a KMS or secret manager). Default: $FACEPRINT_GALLERY_KEY.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = CliContext(
        debug=debug,
        quiet=quiet,
        device=device,
        threads=threads,
        restore=not no_restore,
        gallery_key_spec=gallery_key,
    )
    begin(ctx.obj)
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    if not debug:
        logging.getLogger("faceprint").setLevel(logging.WARNING if quiet else logging.INFO)
        logging.getLogger().setLevel(logging.WARNING)


COMMANDS: dict[str, str] = {
    "models": "models",
    "detect": "faces",
    "analyze": "faces",
    "verify": "faces",
    "enroll": "enroll",
    "identify": "identify",
    "gallery": "gallery",
    "eval": "evaluate",
    "degrade": "degrade",
    "keys": "keys",
    "serve": "serve",
    "video": "video",
    "privacy": "privacy",
    "audit": "audit",
    "cluster": "cluster",
}
"""Top-level command → the module of :mod:`faceprint.cli.commands` that registers it."""

_VALUE_OPTIONS = frozenset({"--device", "--threads", "--gallery-key"})


def command_name(argv: Sequence[str]) -> str | None:
    """The top-level command in ``argv`` (after global options), or ``None``."""
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def build(argv: Sequence[str] | None = None) -> typer.Typer:
    """The ``faceprint`` app. With ``argv``, only the command it names is registered
    (Typer inspects every registered command at start-up; one is enough to run one);
    help, shell completion and unknown commands get every command."""
    app = typer.Typer(
        name="faceprint",
        cls=FaceprintGroup,
        help="Face detection, verification and identification with calibrated error rates.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    name = command_name(argv) if argv is not None else None
    chosen = [COMMANDS[name]] if name in COMMANDS and not completing() else COMMANDS.values()
    for module in dict.fromkeys(chosen):
        import_module(f"faceprint.cli.commands.{module}").register(app)
    return app


@functools.cache
def full_app() -> typer.Typer:
    """The app with every command (for tests and ``typer.testing.CliRunner``)."""
    return build()
