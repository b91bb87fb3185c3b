"""sha256 digests of cached model files, remembered so a warm start hashes nothing.

A digest is remembered at two levels, both keyed by what ``fstat`` says of the open
file — size, mtime, ctime and inode:

- per process, by absolute path (cheap repeated :meth:`DigestCache.digest` calls);
- across processes, in a JSON record in the store, ``<store>/models/.verified.json``:
  ``{"version": 1, "files": {<catalog path>: {"sha256", "size", "mtime_ns", "ctime_ns",
  "inode"}}}``.

A file rewritten, replaced or touched changes at least one of the four (ctime cannot be
set back by a user, unlike mtime), so it is hashed again. The record is only a cache: a
missing, unreadable, malformed or unwritable record is ignored (logged at DEBUG) and
rewritten on the next digest (:mod:`faceprint.models.records`: replaced atomically; when
processes race, the last writer wins and the others' entries are hashed again later). ``faceprint models verify`` (``ModelStore.verify``) always re-hashes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, BinaryIO

from faceprint.models.records import read_record, write_record

log = logging.getLogger(__name__)

CHUNK = 1 << 20
"""Bytes read per step when hashing, copying or downloading."""

RECORD_NAME = ".verified.json"
"""File name of the cross-process digest record, in the store's ``models`` directory."""

_VERSION = 1

_Stat = tuple[int, int, int, int]
"""(size, mtime_ns, ctime_ns, inode) of the bytes a digest was taken of."""

# (absolute path, stat) -> sha256, per process.
_SEEN: dict[tuple[str, _Stat], str] = {}
_SEEN_LOCK = threading.Lock()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as fh:
        return sha256_stream(fh)


def sha256_stream(fh: BinaryIO) -> str:
    """Hex sha256 of everything left in a binary stream."""
    digest = hashlib.sha256()
    while block := fh.read(CHUNK):
        digest.update(block)
    return digest.hexdigest()


def _stat(st: os.stat_result) -> _Stat:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


class DigestCache:
    """Digests of the files under one directory (a store's ``models`` directory).

    Args:
        root: the directory; files outside it are remembered per process only.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._record_path = root / RECORD_NAME
        self._lock = threading.Lock()
        self._entries: dict[str, Any] | None = None  # the record's "files", read on first need

    def digest(self, path: Path, *, use_cache: bool = True) -> str | None:
        """sha256 of the file at ``path``, ``None`` if there is no file.

        The key is taken from the open descriptor, so it always describes the bytes hashed
        even if the file is replaced meanwhile. With ``use_cache`` a remembered digest for
        the same size, mtime, ctime and inode is returned without reading the file.
        """
        try:
            fh = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        with fh:
            stat = _stat(os.fstat(fh.fileno()))
            if use_cache:
                known = self._known(path, stat)
                if known is not None:
                    return known
            digest = sha256_stream(fh)
        self._keep(path, stat, digest)
        return digest

    def remember(self, path: Path, digest: str) -> None:
        """Record the digest of a file this process has just written and verified."""
        self._keep(path, _stat(path.stat()), digest)

    def forget(self, paths: list[Path]) -> None:
        """Drop the cross-process entries of files that are being deleted."""
        with self._lock:
            files = self._files(reload=True)
            gone = [rel for rel in map(self._relative, paths) if rel in files]
            for rel in gone:
                del files[rel]
            if gone:
                self._write()

    # --- internals ---------------------------------------------------------------------

    def _relative(self, path: Path) -> str | None:
        try:
            return path.relative_to(self._root).as_posix()
        except ValueError:
            return None

    def _known(self, path: Path, stat: _Stat) -> str | None:
        with _SEEN_LOCK:
            known = _SEEN.get((str(path), stat))
        if known is not None:
            return known
        rel = self._relative(path)
        if rel is None:
            return None
        with self._lock:
            entry = self._files(reload=False).get(rel)
        if not isinstance(entry, dict):
            return None
        fields = ("size", "mtime_ns", "ctime_ns", "inode")
        digest = entry.get("sha256")
        if tuple(entry.get(k) for k in fields) != stat or not isinstance(digest, str):
            return None
        with _SEEN_LOCK:
            _SEEN[(str(path), stat)] = digest
        return digest

    def _keep(self, path: Path, stat: _Stat, digest: str) -> None:
        with _SEEN_LOCK:
            _SEEN[(str(path), stat)] = digest
        rel = self._relative(path)
        if rel is None:
            return
        size, mtime_ns, ctime_ns, inode = stat
        entry = {
            "sha256": digest,
            "size": size,
            "mtime_ns": mtime_ns,
            "ctime_ns": ctime_ns,
            "inode": inode,
        }
        with self._lock:
            files = self._files(reload=True)  # merge what other processes recorded
            if files.get(rel) != entry:
                files[rel] = entry
                self._write()

    def _files(self, *, reload: bool) -> dict[str, Any]:
        """The record's ``files`` mapping (caller holds ``self._lock``)."""
        if self._entries is None or reload:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, Any]:
        record = read_record(self._record_path)
        files = record.get("files") if isinstance(record, dict) else None
        if not isinstance(record, dict) or record.get("version") != _VERSION:
            files = None
        if not isinstance(files, dict):
            if record is not None:
                log.debug("ignoring malformed digest record %s", self._record_path)
            return {}
        return files

    def _write(self) -> None:
        """Replace the record (caller holds ``self._lock``); never raises."""
        write_record(self._record_path, {"version": _VERSION, "files": self._entries or {}})
