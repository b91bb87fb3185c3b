"""The one place where errors become a message and an exit code.

Every command is registered through :func:`command`, which maps library errors (by
class, first match walking the inheritance chain) to exit codes, prints one line on
stderr (a traceback only with ``--debug``), and with ``--json``/``--jsonl`` also puts
``{"error": {"code", "message"}}`` on stdout so a script piping the output still gets
JSON. Usage errors (bad options, bad layouts) exit with 2.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer

from faceprint import errors
from faceprint.cli.context import current

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_IMAGE = 3
EXIT_INTERRUPTED = 130
EXIT_INTERNAL = 70

EXIT_CODES: dict[type[errors.FaceprintError], int] = {
    errors.UsageError: EXIT_USAGE,
    errors.ImageError: EXIT_IMAGE,
    errors.VideoError: EXIT_IMAGE,
    errors.NoFaceError: 4,
    errors.MultipleFacesError: 4,
    errors.ModelError: 5,
    errors.GalleryError: 6,
    errors.PeopleError: 6,
    errors.WrongKeyError: 6,
    errors.CalibrationError: 7,
    errors.DatasetError: 7,
    errors.AuditError: 7,
    errors.ConfigError: 8,
    errors.FaceprintError: EXIT_FAILURE,
}
"""Error class → process exit code; the nearest class in an error's MRO wins."""

EXTRAS = {
    "fastapi": "service",
    "starlette": "service",
    "uvicorn": "service",
    "pydantic": "service",
    "limits": "service",
    "multipart": "service",
    "av": "video",
    "lap": "video",
    "matplotlib": "eval",
    "ray": "ray",
    "tenseal": "privacy",
    "gmpy2": "privacy",
}
"""Optional dependency → the ``faceprint[extra]`` that installs it."""

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE, what a shell reports for a writer whose reader closed the pipe."""


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    import os
    import sys

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception (70 for anything that is not a FaceprintError)."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_INTERNAL


def _say(code: str, message: str, *, as_json: bool) -> None:
    from faceprint.cli import output

    if as_json:
        output.json_line({"error": {"code": code, "message": message}})
    output.error_line(code, message)


def fail(exc: BaseException, *, as_json: bool) -> typer.Exit:
    """Report ``exc`` (one line; traceback with ``--debug``) and return the Exit to raise."""
    from faceprint.cli import output

    if current().debug:
        output.console(stderr=True).print_exception()
    if isinstance(exc, errors.FaceprintError):
        _say(exc.code, str(exc), as_json=as_json)
        return typer.Exit(exit_code_for(exc))
    missing = (exc.name or "").split(".")[0] if isinstance(exc, ModuleNotFoundError) else ""
    if missing in EXTRAS:
        _say(
            "missing_dependency",
            f"this command needs {missing}, which is not installed: "
            f"pip install 'faceprint[{EXTRAS[missing]}]'",
            as_json=as_json,
        )
        return typer.Exit(EXIT_CODES[errors.ConfigError])
    _say(
        "internal_error",
        f"{type(exc).__name__}: {exc} (run with --debug for a traceback and please report it)",
        as_json=as_json,
    )
    return typer.Exit(EXIT_INTERNAL)


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """Register ``func`` as a command of ``app`` with the error mapping around it.

    A command's ``as_json``/``jsonl`` parameters decide whether errors also go to stdout
    as JSON; Ctrl-C exits with 130 after the command's own clean-up has run.
    """

    def register(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **params: Any) -> Any:
            as_json = bool(params.get("as_json") or params.get("jsonl"))
            try:
                return func(*args, **params)
            except typer.Exit:
                raise
            except KeyboardInterrupt:
                _say("interrupted", "interrupted", as_json=as_json)
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except BrokenPipeError:
                # the reader went away (`… | head`): stop quietly, as Unix tools do
                _silence_stdout()
                raise typer.Exit(EXIT_BROKEN_PIPE) from None
            except Exception as exc:
                raise fail(exc, as_json=as_json) from None

        app.command(name, **kwargs)(wrapper)
        return func

    return register


def usage_failure(exc: typer.TyperException, argv: Sequence[str]) -> int:
    """Report a command-line parsing error (Click's ``UsageError`` family, which Typer
    raises as :class:`typer.TyperException`) in one line; returns its exit code (2)."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group called without a command
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        return EXIT_USAGE
    ctx = getattr(exc, "ctx", None)
    where = getattr(ctx, "command_path", None) or "faceprint"
    message = f"{where}: {exc.format_message()} (see '{where} --help')"
    code = getattr(exc, "exit_code", EXIT_USAGE)
    _say("usage_error" if code == EXIT_USAGE else "command_line", message, as_json=_json(argv))
    return int(code) if isinstance(code, int) else EXIT_USAGE


def _json(argv: Sequence[str]) -> bool:
    return "--json" in argv or "--jsonl" in argv
