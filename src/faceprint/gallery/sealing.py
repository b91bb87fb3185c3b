"""Templates encrypted at rest: the row cipher and the gallery's wrapped data key.

Envelope encryption (AES-256-GCM, ``cryptography``):

* a random 32-byte **data key** (DEK) encrypts every face's template;
* the DEK is stored in the gallery's ``meta`` table wrapped (AES-256-GCM) under a
  **key-encryption key** derived from the user's key
  (:meth:`~faceprint.keysource.SecretKey.derive` of :data:`KEK_PURPOSE`), next to the
  scheme and the user key's public :attr:`~faceprint.keysource.SecretKey.key_id`, so a
  wrong key is named, never used;
* a stored row is :data:`ROW_MAGIC` ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte tag of
  the float32 little-endian template, authenticated with the face id, the model id and
  the dimension of the pin as associated data: a row copied onto another face, into
  another model's gallery or altered fails authentication
  (:class:`~faceprint.errors.GalleryCorruptError`), never decrypts to garbage.

An encrypted gallery writes ``schema_version`` :data:`ENCRYPTED_SCHEMA_VERSION`, so
faceprint versions that predate encryption refuse the file instead of misreading it.
Files are rewritten by :mod:`faceprint.gallery.encryption`.
"""

from __future__ import annotations

import base64
import logging
import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from faceprint.errors import (
    ConfigError,
    GalleryCorruptError,
    GalleryError,
    KeyUnavailableError,
    WrongKeyError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from faceprint.keysource import SecretKey

log = logging.getLogger(__name__)

SCHEME = "aes-256-gcm/v1"
"""``meta.encryption``: how rows and the data key are encrypted."""

ENCRYPTED_SCHEMA_VERSION = 2
"""``schema_version`` of an encrypted gallery (older faceprint versions refuse it)."""

PLAIN_SCHEMA_VERSION = 1
"""``schema_version`` of a plaintext gallery (what a decrypted gallery goes back to)."""

META_SCHEME = "encryption"
META_KEY_ID = "encryption.key_id"
META_DEK = "encryption.dek"
META_KEYS = (META_SCHEME, META_KEY_ID, META_DEK)
"""The ``meta`` rows of an encrypted gallery."""

KEK_PURPOSE = "faceprint.gallery.kek"
"""What the user's key is derived for to wrap a gallery's data key."""

ROW_MAGIC = b"FPe1"
"""First bytes of an encrypted template (a float32 template never needs them)."""

NONCE_BYTES = 12
TAG_BYTES = 16
ROW_OVERHEAD = len(ROW_MAGIC) + NONCE_BYTES + TAG_BYTES
"""Bytes an encrypted row holds beyond its template."""

_DEK_AAD = b"faceprint.gallery.dek|" + SCHEME.encode()
_ROW_AAD = b"faceprint.gallery.face|"

KEY_HINT = (
    "pass --gallery-key SPEC or set FACEPRINT_GALLERY_KEY (file:PATH, env:NAME or cmd:COMMAND)"
)


def _aesgcm(key: bytes) -> AESGCM:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


class RowCipher:
    """Encrypts and decrypts one gallery's templates with its data key.

    Args:
        dek: the 32-byte data key.
        gallery: the gallery's path, for messages.
        key_id: the id of the user key that wraps ``dek`` (``meta.encryption.key_id``).
    """

    def __init__(self, dek: bytes, gallery: str, key_id: str) -> None:
        self._aead = _aesgcm(dek)
        self._gallery = gallery
        self.key_id = key_id

    @staticmethod
    def _aad(face_id: int, model_id: str, dim: int) -> bytes:
        return b"%s%d|%d|%s" % (_ROW_AAD, face_id, dim, model_id.encode())

    def seal(self, face_id: int, model_id: str, dim: int, template: bytes) -> bytes:
        """The stored form of face ``face_id``'s float32 template bytes."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, template, self._aad(face_id, model_id, dim))
        return ROW_MAGIC + nonce + sealed

    def open(self, face_id: int, model_id: str, dim: int, stored: object) -> bytes:
        """The float32 template bytes of a stored row (checked to be ``dim`` × 4 bytes).

        Raises:
            GalleryCorruptError: the row is not an encrypted template of this face, model
                and gallery (altered, clear, or copied from another face or gallery).
        """
        from cryptography.exceptions import InvalidTag

        if (
            not isinstance(stored, bytes)
            or not stored.startswith(ROW_MAGIC)
            or len(stored) != ROW_OVERHEAD + 4 * dim
        ):
            raise GalleryCorruptError(
                f"face {face_id} in encrypted gallery {self._gallery} is not an encrypted "
                f"{dim}-d template; the file is damaged (remove that face or restore a backup)"
            )
        nonce = stored[len(ROW_MAGIC) : len(ROW_MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(
                nonce, stored[len(ROW_MAGIC) + NONCE_BYTES :], self._aad(face_id, model_id, dim)
            )
        except InvalidTag:
            raise GalleryCorruptError(
                f"face {face_id} in gallery {self._gallery} does not authenticate: its row "
                "was altered or copied from another face or gallery; remove that face or "
                "restore a backup"
            ) from None


@dataclass(frozen=True, slots=True)
class Sealing:
    """What an encrypted gallery's ``meta`` says: scheme, key id and the wrapped DEK."""

    scheme: str
    key_id: str
    wrapped_dek: str

    def rows(self) -> dict[str, str]:
        """The ``meta`` rows to store."""
        return {META_SCHEME: self.scheme, META_KEY_ID: self.key_id, META_DEK: self.wrapped_dek}


def read_sealing(meta: Mapping[str, str], gallery: str) -> Sealing | None:
    """The gallery's encryption from its ``meta`` rows; ``None`` for a plaintext gallery.

    Raises:
        GalleryCorruptError: the rows are incomplete or name an unknown scheme.
    """
    present = [k for k in META_KEYS if k in meta]
    if not present:
        return None
    if len(present) != len(META_KEYS):
        raise GalleryCorruptError(
            f"gallery {gallery} has incomplete encryption metadata; restore a backup"
        )
    if meta[META_SCHEME] != SCHEME:
        raise GalleryCorruptError(
            f"gallery {gallery} is encrypted with scheme {meta[META_SCHEME]!r}, which this "
            f"faceprint does not know ({SCHEME}); upgrade faceprint"
        )
    return Sealing(scheme=SCHEME, key_id=meta[META_KEY_ID], wrapped_dek=meta[META_DEK])


def new_sealing(key: SecretKey) -> tuple[Sealing, bytes]:
    """A fresh random data key, and its :class:`Sealing` wrapped under ``key``."""
    dek = secrets.token_bytes(32)
    return wrap(key, dek), dek


def wrap(key: SecretKey, dek: bytes) -> Sealing:
    """``dek`` wrapped under ``key``'s key-encryption key."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    sealed = _aesgcm(key.derive(KEK_PURPOSE)).encrypt(nonce, dek, _DEK_AAD)
    return Sealing(
        scheme=SCHEME, key_id=key.key_id, wrapped_dek=base64.b64encode(nonce + sealed).decode()
    )


def unwrap(sealing: Sealing, key: SecretKey | None, gallery: str) -> bytes:
    """The gallery's data key.

    Raises:
        KeyUnavailableError: no key was given (the message says how to give one).
        WrongKeyError: ``key`` is not the gallery's key (both key ids are named).
        GalleryCorruptError: the key id matches but the wrapped data key does not open.
    """
    from cryptography.exceptions import InvalidTag

    if key is None:
        raise KeyUnavailableError(
            f"gallery {gallery} is encrypted (key id {sealing.key_id}); {KEY_HINT}"
        )
    if key.key_id != sealing.key_id:
        raise WrongKeyError(
            f"gallery {gallery} is encrypted with key id {sealing.key_id}; the given key "
            f"({key.source or 'from the caller'}) is {key.key_id}: give the gallery's key"
        )
    try:
        raw = base64.b64decode(sealing.wrapped_dek, validate=True)
        dek = _aesgcm(key.derive(KEK_PURPOSE)).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _DEK_AAD
        )
    except (ValueError, InvalidTag):
        raise GalleryCorruptError(
            f"the data key of gallery {gallery} does not open with key {key.key_id} although "
            "the key id matches: the encryption metadata is damaged; restore a backup"
        ) from None
    if len(dek) != 32:
        raise GalleryCorruptError(f"gallery {gallery} holds a malformed data key; restore a backup")
    return dek


def plaintext_with_key(gallery: str) -> ConfigError:
    """The error for a key given to a plaintext gallery that holds faces."""
    return ConfigError(
        f"gallery {gallery} is not encrypted, but a gallery key was given: encrypt it with "
        "`faceprint gallery encrypt --key SPEC` (or encrypt_gallery), or give no key"
    )


def too_new(version: int, meta: Mapping[str, str]) -> bool:
    """Whether a ``schema_version`` is newer than this code reads: 2 is schema 1 with
    encrypted templates, so a 2 without encryption metadata is a newer schema."""
    return version > ENCRYPTED_SCHEMA_VERSION or (
        version == ENCRYPTED_SCHEMA_VERSION and META_SCHEME not in meta
    )


def unlock(
    conn: sqlite3.Connection, gallery: str, key: SecretKey | None, *, write: bool
) -> RowCipher | None:
    """Inside a transaction (a write one if ``write``): the gallery's row cipher.

    ``None`` for a plaintext gallery opened without a key (or, unless ``write``, with
    one). With ``write``, a key given to a plaintext gallery that holds no face encrypts
    it (a fresh data key, ``schema_version`` 2).

    Raises:
        KeyUnavailableError, WrongKeyError, GalleryCorruptError: as :func:`unwrap`.
        ConfigError: a key was given for a plaintext gallery that holds faces.
    """
    meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    sealing = read_sealing(meta, gallery)
    if sealing is not None:
        return RowCipher(unwrap(sealing, key, gallery), gallery, sealing.key_id)
    if key is None or not write:
        return None
    if conn.execute("SELECT 1 FROM faces LIMIT 1").fetchone() is not None:
        raise plaintext_with_key(gallery)
    sealing, dek = new_sealing(key)
    write_sealing(conn, sealing)
    log.info("gallery %s is encrypted with key %s", gallery, key.key_id)
    return RowCipher(dek, gallery, sealing.key_id)


def check_current(conn: sqlite3.Connection, cipher: RowCipher | None, gallery: str) -> None:
    """Inside a write: refuse to write rows if another process encrypted, rekeyed or
    decrypted the gallery since this connection unlocked it.

    Raises:
        GalleryError: the gallery's encryption changed (open it again).
    """
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY_ID,)).fetchone()
    stored = None if row is None else str(row[0])
    if stored != (None if cipher is None else cipher.key_id):
        raise GalleryError(
            f"gallery {gallery} was encrypted, rekeyed or decrypted since it was opened; "
            "open it again (with its current key); nothing was written"
        )


def write_sealing(conn: sqlite3.Connection, sealing: Sealing | None) -> None:
    """Inside a write: store ``sealing`` (``None``: remove it) and the schema version."""
    if sealing is None:
        conn.execute("DELETE FROM meta WHERE key IN (?, ?, ?)", META_KEYS)
        version = PLAIN_SCHEMA_VERSION
    else:
        conn.executemany(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            sealing.rows().items(),
        )
        version = ENCRYPTED_SCHEMA_VERSION
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
