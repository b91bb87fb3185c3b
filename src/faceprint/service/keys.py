"""API keys: created and revoked with ``faceprint keys``, checked on every request.

A key is ``fp_<key_id>_<secret>``. Only ``sha256(secret)`` is stored: the secret is 32
random bytes (256 bits), so a fast hash is enough — there is nothing to brute-force —
and a stolen keys file gives no usable key. Comparison is constant-time.

Each key carries scopes ``COLLECTION:ROLE``: ROLE ``read`` or ``write`` (``write``
implies ``read``), COLLECTION a name or ``*`` for every collection. A key can only
ever see collections its scopes name.

A key may also carry what its answers reveal (``responses``: ``scores``, or ``decision``
— the match decision without any similarity, which starves score-driven attacks) and its
own daily budget of matching requests; unset, the service's defaults apply
(docs/security.md).

Keys live in their own SQLite file (WAL, one transaction per write); revocation takes
effect on the next request, since every request reads the file. Files written before
these columns existed gain them when opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from faceprint.errors import AlreadyExistsError, ConfigError, NotFoundError

ROLES = ("read", "write")
"""Roles a scope may grant; ``write`` implies ``read``."""

RESPONSES = ("scores", "decision")
"""What a key's answers reveal: similarities (rounded as the service is configured) and
decisions, or decisions only."""

PREFIX = "fp"
_TOKEN = re.compile(r"^fp_([0-9a-f]{12})_([A-Za-z0-9_-]{20,128})$")
_RATE = re.compile(r"^\s*\d+\s*(/|\s+per\s+)\s*(\d+\s+)?(second|minute|hour|day)s?\s*$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys(
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    scopes TEXT NOT NULL,
    rate_limit TEXT,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('format', 'faceprint.keys');
"""

_ADDED_COLUMNS = (("responses", "TEXT"), ("daily_budget", "INTEGER"))
"""Columns added after the first release (``ALTER TABLE`` on open; older readers ignore
them)."""

_COLUMNS = "key_id, name, scopes, rate_limit, created_at, revoked_at, responses, daily_budget"


@dataclass(frozen=True, slots=True)
class Scope:
    """Access to one collection (or ``*``, all) with a role."""

    collection: str
    role: str

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``COLLECTION:ROLE`` (``team-a:write``, ``*:read``).

        Raises:
            ConfigError: malformed text or unknown role.
        """
        collection, sep, role = text.strip().rpartition(":")
        if not sep or not collection.strip() or role not in ROLES:
            raise ConfigError(
                f"scope {text!r} is not COLLECTION:ROLE with ROLE one of {', '.join(ROLES)} "
                "(e.g. 'team-a:write' or '*:read')"
            )
        return cls(collection=collection.strip(), role=role)

    def __str__(self) -> str:
        return f"{self.collection}:{self.role}"

    def grants(self, collection: str, role: str) -> bool:
        """Whether this scope allows ``role`` on ``collection``."""
        if self.collection not in ("*", collection):
            return False
        return self.role == "write" or role == "read"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never its secret)."""

    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    rate_limit: str | None
    created_at: str
    revoked_at: str | None = None
    responses: str | None = None
    """``scores`` or ``decision``; ``None``: the service's default."""
    daily_budget: int | None = None
    """Matching requests a day; ``None``: the service's default."""

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def can(self, collection: str, role: str) -> bool:
        """Whether the key may ``role`` (read or write) ``collection``."""
        return any(scope.grants(collection, role) for scope in self.scopes)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class KeyStore:
    """The keys file. Safe to share between threads (one lock, one connection)."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> KeyStore:
        """Open (or create) a keys file.

        Raises:
            NotFoundError: the file is missing and ``create`` is false.
            ConfigError: the file is not a faceprint keys file.
        """
        where = str(path)
        if where != ":memory:":
            file = Path(path)
            if not file.exists():
                if not create:
                    raise NotFoundError(
                        f"no keys file at {file}; create a key with `faceprint keys create`"
                    )
                file.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                where, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            if where != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            row = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"{where} is not a faceprint keys file ({exc})") from exc
        if row is None or row[0] != "faceprint.keys":
            conn.close()
            raise ConfigError(f"{where} is not a faceprint keys file")
        have = {str(r[1]) for r in conn.execute("PRAGMA table_info(keys)")}
        for column, kind in _ADDED_COLUMNS:
            if column not in have:
                with contextlib.suppress(sqlite3.OperationalError):  # another process added it
                    conn.execute(f"ALTER TABLE keys ADD COLUMN {column} {kind}")
        return cls(conn, where)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        return self._path

    def create(
        self,
        name: str,
        scopes: Sequence[Scope | str],
        *,
        rate_limit: str | None = None,
        responses: str | None = None,
        daily_budget: int | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; returns it and its token (shown once, never stored).

        Raises:
            ConfigError: empty name, no scopes, a malformed scope, rate limit, response
                mode or budget.
            AlreadyExistsError: an active key has this name.
        """
        if not name.strip():
            raise ConfigError("a key needs a non-empty name")
        parsed = tuple(s if isinstance(s, Scope) else Scope.parse(s) for s in scopes)
        if not parsed:
            raise ConfigError("a key needs at least one scope, e.g. --scope 'team-a:write'")
        if rate_limit is not None and not _RATE.match(rate_limit):
            raise ConfigError(f"rate limit {rate_limit!r} is not like '50/second' or '1000/minute'")
        if responses is not None and responses not in RESPONSES:
            raise ConfigError(f"responses must be one of {', '.join(RESPONSES)}, got {responses!r}")
        if daily_budget is not None and daily_budget < 1:
            raise ConfigError(f"a daily budget must be ≥ 1 request, got {daily_budget}")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(
            key_id=key_id,
            name=name.strip(),
            scopes=parsed,
            rate_limit=rate_limit,
            created_at=_now(),
            responses=responses,
            daily_budget=daily_budget,
        )
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                taken = self._conn.execute(
                    "SELECT 1 FROM keys WHERE name = ? AND revoked_at IS NULL", (key.name,)
                ).fetchone()
                if taken is not None:
                    raise AlreadyExistsError(
                        f"an active key named {key.name!r} exists; revoke it or pick another name"
                    )
                self._conn.execute(
                    "INSERT INTO keys(key_id, name, secret_sha256, scopes, rate_limit, "
                    "created_at, responses, daily_budget) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key_id,
                        key.name,
                        _digest(secret),
                        json.dumps([str(s) for s in parsed]),
                        rate_limit,
                        key.created_at,
                        responses,
                        daily_budget,
                    ),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return key, f"{PREFIX}_{key_id}_{secret}"

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        """Keys by creation time (active ones only unless ``include_revoked``)."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM keys "  # noqa: S608 - a constant
                "WHERE ?1 OR revoked_at IS NULL ORDER BY created_at, key_id",
                (include_revoked,),
            ).fetchall()
        return [_key(row) for row in rows]

    def revoke(self, key: str) -> ApiKey:
        """Revoke an active key by id or name; returns it.

        Raises:
            NotFoundError: no active key with that id or name.
        """
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS} FROM keys "  # noqa: S608 - a constant
                "WHERE (key_id = ?1 OR name = ?1) AND revoked_at IS NULL",
                (key,),
            ).fetchone()
            if row is None:
                raise NotFoundError(f"no active key with id or name {key!r}")
            now = _now()
            self._conn.execute("UPDATE keys SET revoked_at = ? WHERE key_id = ?", (now, row[0]))
        return _key((*row[:5], now, *row[6:]))

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key for ``token``, or ``None`` (malformed, unknown or revoked)."""
        match = _TOKEN.match(token.strip())
        if match is None:
            return None
        key_id, secret = match.groups()
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_COLUMNS}, secret_sha256 FROM keys WHERE key_id = ?",  # noqa: S608
                (key_id,),
            ).fetchone()
        if row is None or row[5] is not None:
            return None
        if not hmac.compare_digest(row[8], _digest(secret)):
            return None
        return _key(row[:8])


def _key(row: tuple[object, ...]) -> ApiKey:
    scopes = tuple(Scope.parse(s) for s in json.loads(str(row[2])))
    return ApiKey(
        key_id=str(row[0]),
        name=str(row[1]),
        scopes=scopes,
        rate_limit=None if row[3] is None else str(row[3]),
        created_at=str(row[4]),
        revoked_at=None if row[5] is None else str(row[5]),
        responses=None if row[6] is None else str(row[6]),
        daily_budget=None if row[7] is None else int(str(row[7])),
    )
