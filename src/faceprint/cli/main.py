"""Entry point of the ``faceprint`` command (``python -m faceprint`` runs it too).

``app`` is the whole Typer application (what tests drive with ``CliRunner``);
:func:`main` builds one with just the command being run, which starts faster.
"""

from __future__ import annotations

import sys
from typing import Any

from faceprint.cli.app import build, full_app


def main() -> None:
    """Console-script entry point."""
    build(sys.argv[1:])()


def __getattr__(name: str) -> Any:
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
