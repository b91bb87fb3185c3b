"""Re-issue a gallery's cancelable templates under another template key, in ONE transaction.

A gallery of cancelable templates (:mod:`faceprint.core.cancelable`) is pinned to the
model id ``"<model>+cancelable:<key id>"``. When the gallery (or the key) leaks,
:func:`reissue_templates` moves every template to a new key — ``y' = R_new R_oldᵀ y``,
no image needed — and re-pins the gallery, so the leaked templates match nothing the
gallery will ever be searched with again and probes must come under the new key. It
also protects a plain gallery (``old=None``) or makes one plain again (``new=None``).

One SQLite write transaction: killed at any point, the gallery is either as before or
completely re-issued. An encrypted gallery (:mod:`faceprint.gallery.sealing`) is opened
with its key and its rows are sealed again for the new model id. Afterwards the file is
vacuumed and its write-ahead log truncated (``secure_delete`` on), so the old templates
do not linger in free pages; the saved vector index beside the file is deleted, and
the gallery's index identity changes (``meta.templates.epoch``), so no saved index of
the old templates is ever searched (a Milvus collection of them stays on its server
until dropped there).
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from faceprint.core.cancelable import (
    TemplateKey,
    base_model_id,
    key_id_of,
    reissue_matrix,
)
from faceprint.errors import ConfigError, GalleryCorruptError, ModelMismatchError
from faceprint.gallery.encryption import drop_saved_index, scrub_file
from faceprint.gallery.schema import TEMPLATES_EPOCH
from faceprint.gallery.storage import GalleryStore
from faceprint.types import Progress

if TYPE_CHECKING:
    from faceprint.keysource import SecretKey

__all__ = ["ReissueSummary", "reissue_templates"]

log = logging.getLogger(__name__)

ROWS_PER_STEP = 5_000
"""Rows read, rewritten and reported (to ``progress``) at a time."""


@dataclass(frozen=True, slots=True)
class ReissueSummary:
    """What a re-issue did: the faces rewritten, the model id before and after, whether
    anything changed, the seconds it took."""

    path: str
    faces: int
    old_model_id: str | None
    new_model_id: str | None
    changed: bool
    seconds: float


def _describe(key: TemplateKey | None) -> str:
    return "plain templates" if key is None else f"template key {key.key_id}"


def reissue_templates(
    path: str | os.PathLike[str],
    old: TemplateKey | None,
    new: TemplateKey | None,
    *,
    key: SecretKey | None = None,
    progress: Progress | None = None,
) -> ReissueSummary:
    """Move every template of the gallery at ``path`` from ``old`` to ``new``.

    Args:
        path: the gallery file.
        old: the key its templates are under now (``None``: they are plain).
        new: the key to move them to (``None``: make them plain).
        key: the gallery key, when the gallery is encrypted at rest.
        progress: ``progress(done, total, "faces")`` as rows are rewritten.

    A re-run after a committed re-issue (the gallery already under ``new``) changes
    nothing; so does a gallery without a pin (no faces yet).

    Raises:
        NotFoundError: no gallery at ``path``.
        ModelMismatchError: the gallery's templates are not under ``old`` (the message
            names the key id they are under).
        ConfigError: ``old`` and ``new`` are the same key.
        KeyUnavailableError, WrongKeyError: an encrypted gallery without its key.
        GalleryCorruptError: a stored template is damaged (nothing was changed).
        GalleryError: the file cannot be written (nothing was changed).
    """
    started = time.perf_counter()
    name = os.fspath(path)
    if (old is None and new is None) or (
        old is not None and new is not None and old.key_id == new.key_id
    ):
        raise ConfigError(
            f"re-issuing from {_describe(old)} to {_describe(new)} changes nothing; "
            "give the current key and a different new one"
        )
    store = GalleryStore.open(name, create=False, key=key)
    try:
        pinned = store.pin().model_id
        if pinned is None:
            return ReissueSummary(name, 0, None, None, False, time.perf_counter() - started)
        target = new.model_id(pinned) if new is not None else base_model_id(pinned)
        if pinned == target:
            log.info("gallery %s is already under %s: nothing changed", name, _describe(new))
            return ReissueSummary(name, 0, pinned, pinned, False, time.perf_counter() - started)
        expected = old.model_id(pinned) if old is not None else base_model_id(pinned)
        if pinned != expected:
            held = key_id_of(pinned)
            raise ModelMismatchError(
                f"gallery {name} holds "
                + (f"templates under template key {held}" if held else "plain templates")
                + f", not {_describe(old)}; pass the key its templates are under"
                + (" as --template-key" if held else " (no --template-key)")
            )
        store._db.execute("PRAGMA secure_delete = ON")  # freed cells are zeroed
        with store._write() as conn:
            faces = _rewrite_rows(store, conn, old, new, target, progress)
        scrub_file(store, conn)
    finally:
        store.close()
    drop_saved_index(name)
    seconds = time.perf_counter() - started
    log.info("re-issued %d template(s) of gallery %s in %.1f s", faces, name, seconds)
    return ReissueSummary(name, faces, pinned, target, True, seconds)


def _rewrite_rows(
    store: GalleryStore,
    conn: sqlite3.Connection,
    old: TemplateKey | None,
    new: TemplateKey | None,
    target: str,
    progress: Progress | None,
) -> int:
    pin = store._read_pin(conn)
    (total,) = conn.execute("SELECT COUNT(*) FROM faces").fetchone()
    dim = pin.embedding_dim
    if total and dim is None:
        raise GalleryCorruptError(
            f"gallery {store.path} holds faces but no embedding_dim; the file is damaged"
        )
    done, last = 0, 0
    if total:
        assert dim is not None
        matrix = reissue_matrix(old, new, dim)
        cipher = store._cipher
        if progress is not None:
            progress(0, int(total), "faces")
        while rows := conn.execute(
            "SELECT id, embedding FROM faces WHERE id > ? ORDER BY id LIMIT ?",
            (last, ROWS_PER_STEP),
        ).fetchall():
            ids = [int(r[0]) for r in rows]
            clear = b"".join(store._check_blob(fid, blob, dim) for fid, blob in rows)
            plain = np.frombuffer(clear, dtype="<f4").reshape(len(rows), dim).astype(np.float64)
            moved = plain @ matrix.T
            moved /= np.maximum(np.linalg.norm(moved, axis=1, keepdims=True), 1e-12)
            blobs = [np.ascontiguousarray(v, dtype="<f4").tobytes() for v in moved]
            conn.executemany(
                "UPDATE faces SET embedding = ? WHERE id = ?",
                [
                    (b if cipher is None else cipher.seal(fid, target, dim, b), fid)
                    for fid, b in zip(ids, blobs, strict=True)
                ],
            )
            done += len(rows)
            last = ids[-1]
            if progress is not None:
                progress(done, int(total), "faces")
    store._set_meta(conn, "model_id", target)
    store._set_meta(conn, TEMPLATES_EPOCH, secrets.token_hex(8))
    return done
