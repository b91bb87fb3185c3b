"""The one place that reads ``FACEPRINT_*`` environment variables.

Only the adapters (CLI, service) call :meth:`Environment.read`, once, at their edge;
everything below them takes typed configuration passed in. :data:`VARIABLES` is the
documented table; the README's "Environment" table lists the same variables (a test
checks that the two, and the variables the code reads, agree).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from faceprint.config import StoreConfig, default_home
from faceprint.errors import ConfigError

__all__ = ["VARIABLES", "Environment", "Variable", "completing"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable faceprint reads, and what it means."""

    name: str
    meaning: str


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "FACEPRINT_HOME",
        "cache root (models under `models/`, default gallery `gallery.db`, keys `keys.db`); "
        "default: the user cache dir",
    ),
    Variable(
        "FACEPRINT_MODEL_MIRROR",
        "a directory or `http(s)://` base URL laid out like the catalog paths; tried before "
        "the official URL",
    ),
    Variable("FACEPRINT_OFFLINE", "`1` never touches the network (a mirror directory still works)"),
    Variable("FACEPRINT_GALLERY", "default gallery file of the CLI and the service"),
    Variable("FACEPRINT_KEYS", "API keys file of the service (default `$FACEPRINT_HOME/keys.db`)"),
    Variable(
        "FACEPRINT_GALLERY_KEY",
        "the key source (`file:PATH`, `env:NAME`, `cmd:COMMAND`) of a gallery encrypted at "
        "rest; default for `--gallery-key` and the service's",
    ),
    Variable("FACEPRINT_DEVICE", "`auto` (default), `cpu`, `cuda` or `torch-cpu`"),
    Variable("FACEPRINT_THREADS", "inference threads (default: every visible core)"),
    Variable("FACEPRINT_SERVICE_MAX_REQUEST_MB", "service: largest request body in MiB (20)"),
    Variable("FACEPRINT_SERVICE_MAX_MEGAPIXELS", "service: largest image in megapixels (40)"),
    Variable(
        "FACEPRINT_SERVICE_SCORE_DECIMALS",
        "service: decimals of similarities in responses, or `none` (2)",
    ),
    Variable("FACEPRINT_SERVICE_RATE_LIMIT", "service: default per-key rate limit (`50/second`)"),
    Variable(
        "FACEPRINT_SERVICE_RESPONSES",
        "service: what keys without their own setting get back, `scores` or `decision` (`scores`)",
    ),
    Variable(
        "FACEPRINT_SERVICE_DAILY_BUDGET",
        "service: matching requests per key per day, or `none` (10000)",
    ),
    Variable(
        "FACEPRINT_SERVICE_TARGET_BUDGET",
        "service: failed 1:1 claims per key per enrolled person per day, or `none` (20)",
    ),
    Variable(
        "FACEPRINT_SERVICE_HILL_CLIMB",
        "service: detect hill-climbing probe sequences and throttle the key (`on`)",
    ),
    Variable(
        "FACEPRINT_SERVICE_AUDIT_LOG",
        "service: security events as JSON lines (default: `audit.jsonl` beside the keys file)",
    ),
    Variable(
        "FACEPRINT_PEOPLE",
        "service: the clustering folder (`faceprint cluster … --out DIR`) its People page "
        "reviews; default for `faceprint serve --people` (none)",
    ),
    Variable(
        "FACEPRINT_SERVICE_VERIFY_PRESET",
        "service: 1:1 threshold preset, `default` (FMR 1e-3) or `high-security` (FMR 1e-5)",
    ),
    Variable(
        "FACEPRINT_TEMPLATE_KEY",
        "cancelable templates: the key source (`file:PATH`, `env:NAME`, `cmd:COMMAND`) of "
        "the secret rotation; default for `--template-key` and the service's",
    ),
    Variable(
        "FACEPRINT_FAIRNESS",
        "a fairness score adjuster applied when matching (catalog name or `.json` path); "
        "default for `--fairness` and the service's (none)",
    ),
    Variable(
        "FACEPRINT_TEMPLATE_TENANT",
        "cancelable templates: the tenant whose transform the key is derived for (`default`)",
    ),
)
"""Every variable faceprint reads (``FACEPRINT_SHARED``, read by the Makefile, the tests
and the benchmarks, points them at the shared models and faces; the library ignores it)."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Environment:
    """The ``FACEPRINT_*`` variables, parsed and checked.

    Attributes mirror :data:`VARIABLES`; ``None`` means unset (the default applies).
    """

    home: Path | None = None
    mirror: str | None = None
    offline: bool = False
    gallery: Path | None = None
    keys: Path | None = None
    gallery_key: str | None = None
    device: str = "auto"
    threads: int = 0
    service_max_request_mb: float | None = None
    service_max_megapixels: float | None = None
    service_score_decimals: int | str | None = None
    service_rate_limit: str | None = None
    service_responses: str | None = None
    service_daily_budget: int | str | None = None
    service_target_budget: int | str | None = None
    service_hill_climb: bool | None = None
    service_audit_log: Path | None = None
    service_verify_preset: str | None = None
    people: Path | None = None
    template_key: str | None = None
    template_tenant: str | None = None
    fairness: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """The whole environment as read: what ``env:NAME`` key sources look up and
    ``cmd:`` key sources run in (:meth:`faceprint.keysource.KeySource.read`)."""

    @classmethod
    def read(cls, env: Mapping[str, str] | None = None) -> Environment:
        """Parse ``env`` (default: ``os.environ``).

        Raises:
            ConfigError: a variable has a malformed value (the message names it).
        """
        env = os.environ if env is None else env

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def path(name: str) -> Path | None:
            value = text(name)
            return Path(value).expanduser() if value else None

        def number(name: str, kind: type[float] | type[int]) -> float | None:
            value = text(name)
            if value is None:
                return None
            try:
                parsed = kind(value)
            except ValueError:
                raise ConfigError(f"{name}={value!r} is not a number") from None
            if parsed < 0:
                raise ConfigError(f"{name}={value!r} must not be negative")
            return parsed

        decimals_text = (text("FACEPRINT_SERVICE_SCORE_DECIMALS") or "").lower()
        decimals: int | str | None = None
        if decimals_text == "none":
            decimals = "none"
        elif decimals_text:
            decimals = int(number("FACEPRINT_SERVICE_SCORE_DECIMALS", int) or 0)
        threads = number("FACEPRINT_THREADS", int)

        def budget(name: str) -> int | str | None:
            if (text(name) or "").lower() == "none":
                return "none"
            value = number(name, int)
            return None if value is None else int(value)

        climb = text("FACEPRINT_SERVICE_HILL_CLIMB")
        return cls(
            home=path("FACEPRINT_HOME"),
            mirror=text("FACEPRINT_MODEL_MIRROR"),
            offline=_flag(env, "FACEPRINT_OFFLINE"),
            gallery=path("FACEPRINT_GALLERY"),
            keys=path("FACEPRINT_KEYS"),
            gallery_key=text("FACEPRINT_GALLERY_KEY"),
            device=(text("FACEPRINT_DEVICE") or "auto").lower(),
            threads=int(threads or 0),
            service_max_request_mb=number("FACEPRINT_SERVICE_MAX_REQUEST_MB", float),
            service_max_megapixels=number("FACEPRINT_SERVICE_MAX_MEGAPIXELS", float),
            service_score_decimals=decimals,
            service_rate_limit=text("FACEPRINT_SERVICE_RATE_LIMIT"),
            service_responses=(text("FACEPRINT_SERVICE_RESPONSES") or "").lower() or None,
            service_daily_budget=budget("FACEPRINT_SERVICE_DAILY_BUDGET"),
            service_target_budget=budget("FACEPRINT_SERVICE_TARGET_BUDGET"),
            service_hill_climb=None
            if climb is None
            else _flag(env, "FACEPRINT_SERVICE_HILL_CLIMB"),
            service_audit_log=path("FACEPRINT_SERVICE_AUDIT_LOG"),
            service_verify_preset=(text("FACEPRINT_SERVICE_VERIFY_PRESET") or "").lower() or None,
            people=path("FACEPRINT_PEOPLE"),
            template_key=text("FACEPRINT_TEMPLATE_KEY"),
            template_tenant=text("FACEPRINT_TEMPLATE_TENANT"),
            fairness=text("FACEPRINT_FAIRNESS"),
            variables=dict(env),
        )

    def store_config(self) -> StoreConfig:
        """Where model files live and may come from."""
        return StoreConfig(home=self.home, mirror=self.mirror, offline=self.offline)

    @property
    def root(self) -> Path:
        """The cache root (``FACEPRINT_HOME``, else the user cache directory)."""
        return default_home(self.home)

    def gallery_path(self, given: Path | None = None) -> Path:
        """``given``, else ``FACEPRINT_GALLERY``, else ``<root>/gallery.db``."""
        return given or self.gallery or self.root / "gallery.db"

    def keys_path(self, given: Path | None = None) -> Path:
        """``given``, else ``FACEPRINT_KEYS``, else ``<root>/keys.db``."""
        return given or self.keys or self.root / "keys.db"


def completing(env: Mapping[str, str] | None = None) -> bool:
    """Whether the shell is asking for command-line completions (Typer sets
    ``_FACEPRINT_COMPLETE`` when it calls the program for them)."""
    env = os.environ if env is None else env
    return bool(env.get("_FACEPRINT_COMPLETE"))


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={env[name]!r} is not a boolean; use 1/0, true/false, yes/no")
