"""Where a secret key comes from: a file, an environment variable or a command.

A key source is written as a spec string, so one option or variable names it:

* ``file:PATH`` (or a bare ``PATH``) — the file holds the key;
* ``env:NAME`` — the environment variable ``NAME`` holds it;
* ``cmd:COMMAND ARGS…`` — the command prints it on stdout (run without a shell, 30 s
  at most): the hook a KMS or a secret manager plugs into, e.g.
  ``cmd:vault kv get -field=key secret/faceprint`` or ``cmd:aws kms decrypt …``.

A key is 32 random bytes (256 bits), given raw, as 64 hex digits or as base64; longer
keys are accepted. Passphrases are refused: a guessable secret would make the
encryption as weak as the guess. :func:`new_key_text` makes one (``faceprint gallery
keygen FILE`` writes it to a file only its owner can read).

:class:`SecretKey` never shows its bytes (``repr`` shows the key id). One master key
can serve several purposes without reuse: :meth:`SecretKey.derive` gives an
independent 32-byte key per purpose (HKDF-SHA256, RFC 5869).

The environment is passed in (:meth:`KeySource.read` takes a mapping), so only the
adapters read ``os.environ``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import shlex
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from faceprint.errors import KeyUnavailableError

__all__ = ["KEY_BYTES", "KeySource", "SecretKey", "new_key_text"]

log = logging.getLogger(__name__)

KEY_BYTES = 32
"""Bytes of key material a key must hold at least (256 bits)."""

COMMAND_TIMEOUT_S = 30.0
"""How long a ``cmd:`` key source may run before it is given up on."""

_MAX_KEY_TEXT = 4096
_KINDS = ("file", "env", "cmd")
_HINT = (
    "a key is 32 random bytes, raw, as 64 hex digits or as base64; make one with "
    "`faceprint gallery keygen FILE`"
)


@dataclass(frozen=True, slots=True)
class SecretKey:
    """Key material (at least :data:`KEY_BYTES` bytes); ``repr`` never shows it."""

    material: bytes = field(repr=False)
    source: str = ""
    """Where it came from, for messages (``file:/etc/faceprint/gallery.key``)."""

    def __post_init__(self) -> None:
        if len(self.material) < KEY_BYTES:
            raise KeyUnavailableError(
                f"the key from {self.source or 'the caller'} is {len(self.material)} bytes; "
                + _HINT
            )

    @property
    def key_id(self) -> str:
        """A public 16-hex-digit name of this key (an HMAC of a fixed label, so it reveals
        nothing of the key): galleries record it to say which key they expect."""
        return hmac.new(self.material, b"faceprint.key-id", hashlib.sha256).hexdigest()[:16]

    def derive(self, purpose: str, *, length: int = KEY_BYTES) -> bytes:
        """An independent key for ``purpose`` (e.g. ``"gallery.kek"``), by HKDF-SHA256."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        return HKDF(
            algorithm=hashes.SHA256(),
            length=length,
            salt=b"faceprint",
            info=purpose.encode(),
        ).derive(self.material)

    def __repr__(self) -> str:
        return f"SecretKey(id={self.key_id}, source={self.source!r})"


@dataclass(frozen=True, slots=True)
class KeySource:
    """A parsed key spec (``file:PATH``, ``env:NAME``, ``cmd:COMMAND``)."""

    kind: Literal["file", "env", "cmd"]
    value: str

    @classmethod
    def parse(cls, spec: str) -> KeySource:
        """Parse a spec; a bare path is ``file:PATH``.

        Raises:
            KeyUnavailableError: an empty spec, an empty name or command.
        """
        text = spec.strip()
        if not text:
            raise KeyUnavailableError(
                "an empty key source; give file:PATH, env:NAME or cmd:COMMAND"
            )
        kind, sep, value = text.partition(":")
        if sep and kind in _KINDS:
            if not value.strip():
                raise KeyUnavailableError(f"key source {spec!r} names no {kind}")
            return cls(kind=kind, value=value.strip())  # type: ignore[arg-type]
        return cls(kind="file", value=text)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    def read(self, environ: Mapping[str, str]) -> SecretKey:
        """Read the key.

        Args:
            environ: the environment an ``env:`` source reads (the adapter passes
                ``os.environ``); also the environment a ``cmd:`` runs in.

        Raises:
            KeyUnavailableError: the file, variable or command gives no key (missing,
                unreadable, empty, too short, failed, timed out); the message names the
                source, never the key.
        """
        if self.kind == "file":
            raw = self._read_file()
        elif self.kind == "env":
            if self.value not in environ:
                raise KeyUnavailableError(
                    f"environment variable {self.value} (key source {self}) is not set"
                )
            raw = environ[self.value].encode()
        else:
            raw = self._run(environ)
        return SecretKey(material=_decode(raw, str(self)), source=str(self))

    def _read_file(self) -> bytes:
        path = Path(self.value).expanduser()
        try:
            mode = path.stat().st_mode
            if stat.S_ISDIR(mode):
                raise KeyUnavailableError(f"key file {path} is a directory")
            if mode & (stat.S_IRGRP | stat.S_IROTH):
                log.warning("key file %s can be read by other users; chmod 600 it", path)
            with path.open("rb") as handle:
                return handle.read(_MAX_KEY_TEXT + 1)
        except FileNotFoundError:
            raise KeyUnavailableError(f"key file {path} does not exist") from None
        except PermissionError:
            raise KeyUnavailableError(f"key file {path} cannot be read (permission)") from None
        except OSError as exc:
            raise KeyUnavailableError(f"key file {path} cannot be read: {exc}") from None

    def _run(self, environ: Mapping[str, str]) -> bytes:
        try:
            argv = shlex.split(self.value)
        except ValueError as exc:
            raise KeyUnavailableError(
                f"key command {self.value!r} cannot be parsed: {exc}"
            ) from None
        try:
            done = subprocess.run(  # the operator's own command, without a shell
                argv,
                capture_output=True,
                timeout=COMMAND_TIMEOUT_S,
                env=dict(environ),
                check=False,
            )
        except FileNotFoundError:
            raise KeyUnavailableError(f"key command {argv[0]!r} is not installed") from None
        except subprocess.TimeoutExpired:
            raise KeyUnavailableError(
                f"key command {argv[0]!r} did not finish in {COMMAND_TIMEOUT_S:g} s"
            ) from None
        except OSError as exc:
            raise KeyUnavailableError(f"key command {argv[0]!r} cannot run: {exc}") from None
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise KeyUnavailableError(
                f"key command {argv[0]!r} failed with exit code {done.returncode}: {tail[0]}"
            )
        return done.stdout


def _decode(raw: bytes, source: str) -> bytes:
    """Key bytes from a source's raw content: hex, base64, or raw binary."""
    if len(raw) > _MAX_KEY_TEXT:
        raise KeyUnavailableError(f"{source} holds more than {_MAX_KEY_TEXT} bytes; " + _HINT)
    text = raw.strip()
    if not text:
        raise KeyUnavailableError(f"{source} is empty; " + _HINT)
    try:
        ascii_text = text.decode("ascii")
    except UnicodeDecodeError:
        return raw  # binary key material
    hex_digits = all(c in "0123456789abcdefABCDEF" for c in ascii_text)
    if hex_digits and len(ascii_text) >= 2 * KEY_BYTES and len(ascii_text) % 2 == 0:
        return bytes.fromhex(ascii_text)
    try:
        decoded = base64.b64decode(ascii_text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) >= KEY_BYTES:
        return decoded
    if len(raw) >= KEY_BYTES and not ascii_text.isprintable():
        return raw
    raise KeyUnavailableError(
        f"{source} does not hold a key (a passphrase or a short text is refused); " + _HINT
    )


def new_key_text() -> str:
    """A fresh random 256-bit key as 64 hex digits and a newline (what a key file holds)."""
    return secrets.token_hex(KEY_BYTES) + "\n"
