"""Milvus index specs: parsing, validation and redaction of ``milvus://`` and
``milvus-lite:`` URIs (no pymilvus import; :mod:`faceprint.gallery.milvus` uses them).

The spec grammar is documented in :mod:`faceprint.gallery.milvus`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from faceprint.errors import ConfigError

DEFAULT_TIMEOUT_S = 10.0
"""Seconds a Milvus call may take (``?timeout=`` changes it), but for flushes."""


@dataclass(frozen=True, slots=True)
class IndexType:
    """A Milvus index type: its build parameters, its search parameters (with the
    search parameter that must be at least ``k``) and where it runs."""

    build: dict[str, int] = field(default_factory=dict)
    search: dict[str, int] = field(default_factory=dict)
    at_least_k: str | None = None
    lite: bool = True
    exact: bool = False


INDEX_TYPES: dict[str, IndexType] = {
    "FLAT": IndexType(exact=True),
    "HNSW": IndexType(build={"M": 16, "efConstruction": 128}, search={"ef": 96}, at_least_k="ef"),
    "IVF_FLAT": IndexType(build={"nlist": 1024}, search={"nprobe": 16}),
    "IVF_SQ8": IndexType(build={"nlist": 1024}, search={"nprobe": 16}),
    "DISKANN": IndexType(search={"search_list": 100}, at_least_k="search_list", lite=False),
    "GPU_CAGRA": IndexType(
        build={"intermediate_graph_degree": 64, "graph_degree": 32},
        search={"itopk_size": 128},
        at_least_k="itopk_size",
        lite=False,
    ),
    "AUTOINDEX": IndexType(),
}
"""Index types a spec may name, with their default parameters."""

_OPTIONS = {"index", "prefix", "secure", "timeout", "token"}


@dataclass(frozen=True, slots=True)
class MilvusSpec:
    """A parsed Milvus index spec (see the module docstring).

    ``uri`` is what pymilvus connects to (a ``.db`` path for milvus-lite); ``display``
    names the target without credentials, for messages.
    """

    lite: bool
    uri: str
    display: str
    token: str
    db_name: str
    index_type: str
    build_params: dict[str, int]
    search_params: dict[str, int]
    prefix: str | None
    timeout: float

    @property
    def kind(self) -> str:
        """E.g. ``milvus:HNSW`` or ``milvus-lite:FLAT``."""
        return f"{'milvus-lite' if self.lite else 'milvus'}:{self.index_type}"

    def search_params_for(self, k: int) -> dict[str, int]:
        params = dict(self.search_params)
        grow = INDEX_TYPES[self.index_type].at_least_k
        if grow is not None:
            params[grow] = max(params[grow], k)
        return params


def redact(spec: str) -> str:
    """``spec`` with any password or token replaced by ``***``."""
    if not spec.startswith("milvus://"):
        return spec
    parts = urlsplit(spec)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{k}=***" if k == "token" else f"{k}={quote(v, safe='')}"
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    return f"milvus://{netloc}{parts.path}" + (f"?{query}" if query else "")


def parse_spec(spec: str, *, base_dir: Path | None = None) -> MilvusSpec:
    """Parse ``milvus://…`` or ``milvus-lite:…`` (relative lite paths from ``base_dir``).

    Raises:
        ConfigError: not a Milvus spec, an unknown option or index type, a bad value.
    """
    if spec.startswith("milvus-lite:"):
        rest = spec[len("milvus-lite:") :]
        path_text, _, query = rest.partition("?")
        if not path_text:
            raise ConfigError(f"{spec!r}: milvus-lite needs a file, e.g. milvus-lite:vectors.db")
        if not path_text.endswith(".db"):
            raise ConfigError(f"{spec!r}: a milvus-lite file's name must end in .db")
        path = Path(unquote(path_text)).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        path = Path(os.path.abspath(path))
        return _with_options(
            spec, query, lite=True, uri=os.fspath(path), display=f"milvus-lite:{path}"
        )
    if spec.startswith("milvus://"):
        parts = urlsplit(spec)
        if not parts.hostname:
            raise ConfigError(f"{redact(spec)!r}: no host, e.g. milvus://localhost:19530")
        try:
            port = parts.port or 19530
        except ValueError as exc:
            raise ConfigError(f"{redact(spec)!r}: bad port ({exc})") from None
        token = ""
        if parts.username:
            token = unquote(parts.username)
            if parts.password is not None:
                token += ":" + unquote(parts.password)
        db_name = parts.path.strip("/")
        if "/" in db_name:
            raise ConfigError(f"{redact(spec)!r}: the path names one database, e.g. /faces")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return _with_options(
            spec,
            parts.query,
            lite=False,
            uri=f"{host}:{port}",
            display=f"milvus://{host}:{port}/{db_name or 'default'}",
            token=token,
            db_name=db_name,
        )
    raise ConfigError(
        f"{spec!r} is not a Milvus index: use milvus://HOST:PORT/DB or milvus-lite:PATH"
    )


def _with_options(
    spec: str,
    query: str,
    *,
    lite: bool,
    uri: str,
    display: str,
    token: str = "",
    db_name: str = "",
) -> MilvusSpec:
    shown = redact(spec)
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=False))
    index_type = options.pop("index", "FLAT" if lite else "HNSW").upper()
    kind = INDEX_TYPES.get(index_type)
    if kind is None or (lite and not kind.lite):
        allowed = [n for n, t in INDEX_TYPES.items() if t.lite or not lite]
        where = "milvus-lite" if lite else "Milvus"
        raise ConfigError(f"{shown!r}: {where} index must be one of {', '.join(allowed)}")
    build, search = dict(kind.build), dict(kind.search)
    secure = options.pop("secure", "false").lower() in ("1", "true", "yes")
    if lite and secure:
        raise ConfigError(f"{shown!r}: secure applies to a server, not milvus-lite")
    prefix = options.pop("prefix", None)
    if prefix is not None and not (prefix[:1].isalpha() or prefix[:1] == "_"):
        raise ConfigError(f"{shown!r}: prefix must start with a letter or '_'")
    if prefix is not None and not all(c.isalnum() or c == "_" for c in prefix):
        raise ConfigError(f"{shown!r}: prefix may hold letters, digits and '_' only")
    token = options.pop("token", token)
    timeout_text = options.pop("timeout", str(DEFAULT_TIMEOUT_S))
    try:
        timeout = float(timeout_text)
        for name in list(options):
            if name in build:
                build[name] = int(options.pop(name))
            elif name in search:
                search[name] = int(options.pop(name))
    except ValueError:
        raise ConfigError(f"{shown!r}: option values must be numbers") from None
    if options:
        known = sorted(_OPTIONS | set(build) | set(search))
        raise ConfigError(
            f"{shown!r}: unknown option(s) {', '.join(sorted(options))} for {index_type}; "
            f"known: {', '.join(known)}"
        )
    if timeout <= 0:
        raise ConfigError(f"{shown!r}: timeout must be positive")
    if not lite:
        uri = f"{'https' if secure else 'http'}://{uri}"
    return MilvusSpec(
        lite=lite,
        uri=uri,
        display=display,
        token=token,
        db_name=db_name,
        index_type=index_type,
        build_params=build,
        search_params=search,
        prefix=prefix,
        timeout=timeout,
    )
