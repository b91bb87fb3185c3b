"""Small JSON cache records (digests, batch verdicts): read leniently, replaced atomically.

A record is only ever a cache: one that is missing, unreadable or not JSON reads as
``None``, and one that cannot be written is skipped; both are logged at DEBUG, never
raised. Writes go to a ``*.incomplete`` file named for the process and thread and are
renamed into place, so a reader never sees half a record; when writers race, the last
one wins.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def read_record(path: Path) -> object | None:
    """The JSON value in ``path``, or ``None`` when it is missing or unreadable."""
    try:
        value: object = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.debug("ignoring unreadable record %s: %s", path, exc)
        return None
    return value


def write_record(path: Path, value: object) -> None:
    """Replace ``path`` with ``value`` as JSON, atomically; never raises."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.incomplete")
    try:
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n", "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("not writing the record %s: %s", path, exc)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
