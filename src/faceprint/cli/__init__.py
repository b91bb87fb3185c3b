"""The ``faceprint`` command line: a thin adapter over the library (``faceprint[cli]``)."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point; explains how to install the CLI when it is missing."""
    try:
        import rich  # noqa: F401
        import typer  # noqa: F401
    except ImportError as exc:
        sys.stderr.write(
            f"error (missing_dependency): the faceprint command needs {exc.name}; install it "
            "with: pip install 'faceprint[cli]'\n"
        )
        raise SystemExit(1) from None
    from faceprint.cli.main import main as run

    run()
