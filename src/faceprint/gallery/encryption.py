"""Encrypt, rekey and decrypt a gallery file: every template rewritten in ONE transaction.

:func:`encrypt_gallery` seals a plaintext gallery's templates under a fresh data key
wrapped by the user's key; :func:`rekey_gallery` re-encrypts every row under a fresh data
key wrapped by a new user key; :func:`decrypt_gallery` writes the templates back in
clear (``schema_version`` 1). The row format and the wrapped key are described in
:mod:`faceprint.gallery.sealing`.

Each rewrite is one SQLite write transaction: killed at any point (``kill -9``, power
loss), the gallery is either as before (readable with the old key) or completely
rewritten (readable with the new one). Afterwards the file is vacuumed and its
write-ahead log truncated (``secure_delete`` on), so old rows — clear templates after
``encrypt``, rows under the old data key after ``rekey`` — do not linger in free pages;
a saved vector index beside the file (``<gallery>.index/``, int16 rows in clear) is
deleted, as an encrypted gallery's indexes live in memory only.

Re-running a job is harmless: encrypting a gallery already encrypted with that key, a
rekey already done, or decrypting a plaintext gallery changes nothing
(:attr:`RewriteSummary.changed` is ``False``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import ConfigError, GalleryCorruptError
from faceprint.gallery.database import GalleryDatabase
from faceprint.gallery.sealing import (
    RowCipher,
    Sealing,
    new_sealing,
    read_sealing,
    unwrap,
    write_sealing,
)
from faceprint.keysource import SecretKey
from faceprint.types import Progress

__all__ = [
    "RewriteSummary",
    "decrypt_gallery",
    "drop_saved_index",
    "encrypt_gallery",
    "rekey_gallery",
    "scrub_file",
]

log = logging.getLogger(__name__)

Plan = Callable[[Sealing | None, str], RowCipher | None]
"""``plan(current sealing, path)``: the cipher that opens the rows now (``None``: they
are clear); raises :class:`_Done` when there is nothing to do."""

ROWS_PER_STEP = 5_000
"""Rows read, rewritten and reported (to ``progress``) at a time."""


@dataclass(frozen=True, slots=True)
class RewriteSummary:
    """What a rewrite did: ``action`` (``encrypt``, ``rekey``, ``decrypt``), the faces
    rewritten, whether anything ``changed``, the key id the gallery now has (``None``:
    plaintext) and the seconds the rewrite took."""

    path: str
    action: str
    faces: int
    changed: bool
    key_id: str | None
    seconds: float


def encrypt_gallery(
    path: str | os.PathLike[str], key: SecretKey, *, progress: Progress | None = None
) -> RewriteSummary:
    """Encrypt a plaintext gallery's templates under ``key`` (one transaction).

    Raises:
        NotFoundError: no gallery at ``path``.
        ConfigError: the gallery is already encrypted with another key (use
            :func:`rekey_gallery`), or its index is a Milvus server (which holds the
            templates in clear: set the index to ``auto`` first).
        GalleryCorruptError: a stored template is damaged (nothing was changed).
        GalleryError: the file cannot be written (nothing was changed).
    """

    def plan(current: Sealing | None, gallery: str) -> RowCipher | None:
        if current is not None:
            if current.key_id == key.key_id:
                unwrap(current, key, gallery)  # proves the key, or says what is damaged
                raise _Done
            raise ConfigError(
                f"gallery {gallery} is already encrypted with key id {current.key_id}; "
                "change its key with `faceprint gallery rekey --key OLD --new-key NEW`"
            )
        return None

    return _rewrite(path, "encrypt", plan, key, progress)


def rekey_gallery(
    path: str | os.PathLike[str],
    old_key: SecretKey,
    new_key: SecretKey,
    *,
    progress: Progress | None = None,
) -> RewriteSummary:
    """Re-encrypt every template under a fresh data key wrapped by ``new_key``.

    A gallery already under ``new_key`` (a rekey re-run after it committed) is left as
    it is when ``old_key`` differs from ``new_key``; with the same key the data key is
    rotated.

    Raises:
        NotFoundError: no gallery at ``path``.
        ConfigError: the gallery is not encrypted (use :func:`encrypt_gallery`).
        WrongKeyError: ``old_key`` is not the gallery's key.
        GalleryCorruptError: a stored row does not authenticate (nothing was changed).
        GalleryError: the file cannot be written (nothing was changed).
    """

    def plan(current: Sealing | None, gallery: str) -> RowCipher | None:
        if current is None:
            raise ConfigError(
                f"gallery {gallery} is not encrypted; encrypt it with "
                "`faceprint gallery encrypt --key SPEC`"
            )
        if current.key_id == new_key.key_id != old_key.key_id:
            unwrap(current, new_key, gallery)
            raise _Done
        return RowCipher(unwrap(current, old_key, gallery), gallery, current.key_id)

    return _rewrite(path, "rekey", plan, new_key, progress)


def decrypt_gallery(
    path: str | os.PathLike[str], key: SecretKey, *, progress: Progress | None = None
) -> RewriteSummary:
    """Write an encrypted gallery's templates back in clear (``schema_version`` 1).

    Raises:
        NotFoundError: no gallery at ``path``.
        WrongKeyError: ``key`` is not the gallery's key.
        GalleryCorruptError: a stored row does not authenticate (nothing was changed).
        GalleryError: the file cannot be written (nothing was changed).
    """

    def plan(current: Sealing | None, gallery: str) -> RowCipher | None:
        if current is None:
            raise _Done
        return RowCipher(unwrap(current, key, gallery), gallery, current.key_id)

    return _rewrite(path, "decrypt", plan, None, progress)


class _Done(Exception):  # noqa: N818 - control flow: the gallery is already as asked
    """Raised by a plan when there is nothing to do."""


def _rewrite(
    path: str | os.PathLike[str],
    action: str,
    plan: Plan,
    new_key: SecretKey | None,
    progress: Progress | None,
) -> RewriteSummary:
    """Open the file without unlocking it and rewrite every row in one transaction.

    ``plan`` (:data:`Plan`) says how the rows open now; ``new_key`` (``None``: decrypt)
    wraps a fresh data key that seals them.
    """
    started = time.perf_counter()
    name = os.fspath(path)
    store = GalleryDatabase.open(name, create=False, unlock=False)
    try:
        conn = store._db
        conn.execute("PRAGMA secure_delete = ON")  # freed cells are zeroed
        try:
            with store._write() as conn:
                faces, key_id = _rewrite_rows(store, conn, plan, new_key, progress)
        except _Done:
            key_id = _current_key_id(store)
            log.info("gallery %s needs no %s: nothing changed", name, action)
            return RewriteSummary(name, action, 0, False, key_id, time.perf_counter() - started)
        scrub_file(store, conn)
    finally:
        store.close()
    if action == "encrypt":
        drop_saved_index(name)
    seconds = time.perf_counter() - started
    log.info("%sed %d face(s) of gallery %s in %.1f s", action, faces, name, seconds)
    return RewriteSummary(name, action, faces, True, key_id, seconds)


def _rewrite_rows(
    store: GalleryDatabase,
    conn: sqlite3.Connection,
    plan: Plan,
    new_key: SecretKey | None,
    progress: Progress | None,
) -> tuple[int, str | None]:
    meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
    old = plan(read_sealing(meta, store.path), store.path)
    if new_key is not None and str(meta.get("setting.index", "")).startswith("milvus"):
        raise ConfigError(
            f"gallery {store.path} is indexed in Milvus, which holds its templates in "
            "clear: run `faceprint gallery index auto` (and drop the Milvus collections) "
            "before encrypting it"
        )
    pin = store._read_pin(conn)
    (total,) = conn.execute("SELECT COUNT(*) FROM faces").fetchone()
    if total and (pin.embedding_dim is None or pin.model_id is None):
        raise GalleryCorruptError(
            f"gallery {store.path} holds faces but no model pin; the file is damaged"
        )
    model_id, dim = pin.model_id or "", pin.embedding_dim or 0
    sealing, new = None, None
    if new_key is not None:
        sealing, dek = new_sealing(new_key)
        new = RowCipher(dek, store.path, sealing.key_id)
    done, last = 0, 0
    if progress is not None:
        progress(0, int(total), "faces")
    while rows := conn.execute(
        "SELECT id, embedding FROM faces WHERE id > ? ORDER BY id LIMIT ?", (last, ROWS_PER_STEP)
    ).fetchall():
        updates = []
        for face_id, blob in rows:
            fid = int(face_id)
            clear = (
                store._check_blob(fid, blob, dim)
                if old is None
                else old.open(fid, model_id, dim, blob)
            )
            updates.append((clear if new is None else new.seal(fid, model_id, dim, clear), fid))
        conn.executemany("UPDATE faces SET embedding = ? WHERE id = ?", updates)
        done += len(rows)
        last = int(rows[-1][0])
        if progress is not None:
            progress(done, int(total), "faces")
    write_sealing(conn, sealing)
    return done, None if sealing is None else sealing.key_id


def _current_key_id(store: GalleryDatabase) -> str | None:
    return store.meta("encryption.key_id")


def scrub_file(store: GalleryDatabase, conn: sqlite3.Connection) -> None:
    """Rebuild the file and empty its write-ahead log, so no old row survives in a free
    page or a log frame. A failure (another process reading) is reported, not raised:
    the rewrite is committed either way."""
    if store.path == ":memory:":
        return
    try:
        conn.execute("VACUUM")
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        log.warning(
            "gallery %s was rewritten, but could not be vacuumed (%s): old rows may stay "
            "in its free pages until `sqlite3 %s VACUUM` runs",
            store.path,
            exc,
            store.path,
        )
        return
    if busy and int(busy[0]):
        log.warning(
            "gallery %s was rewritten, but another process holds its write-ahead log "
            "open: old pages stay in %s-wal until that process closes the gallery",
            store.path,
            store.path,
        )


def drop_saved_index(path: str) -> None:
    """Delete a saved vector index beside the gallery file (its int16 rows are the
    templates in clear, as they were; the next search builds a new one)."""
    folder = Path(f"{path}.index")
    if not folder.is_dir():
        return
    for file in folder.iterdir():
        if file.name != "lock":
            with contextlib.suppress(OSError):
                file.unlink()
    log.info("deleted the saved vector index %s (it held the old templates)", folder)
