"""Export: stream a gallery (or one collection) into an archive file, atomically."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from faceprint.errors import ConfigError, GalleryError
from faceprint.gallery.archive.manifest import (
    ARCHIVE_VERSION,
    COLLECTIONS,
    EMBEDDINGS,
    FACES,
    MANIFEST,
    PERSONS,
    PROGRESS_EVERY,
    Manifest,
    MemberRecord,
)
from faceprint.gallery.gallery import Gallery
from faceprint.gallery.schema import now_iso
from faceprint.gallery.transfer import GalleryDump
from faceprint.types import Progress

log = logging.getLogger(__name__)

ROWS_PER_WRITE = 1024
"""JSON lines or embedding rows handed to the ZIP stream at once."""

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # members carry a fixed time; the manifest has the real one


@dataclass(frozen=True, slots=True)
class ArchiveSummary:
    """What :func:`export_gallery` wrote: counts, the model pin, the file's size."""

    path: str
    collections: int
    persons: int
    faces: int
    model_id: str | None
    embedding_dim: int | None
    size_bytes: int


def export_gallery(
    gallery: Gallery,
    path: str | os.PathLike[str],
    *,
    collection: str | None = None,
    progress: Progress | None = None,
    clear_templates: bool = False,
) -> ArchiveSummary:
    """Write the gallery (or one collection) to an archive at ``path``, atomically.

    Rows stream from one consistent read of the database (metadata is never all in
    memory, nor is the matrix) into a temporary file next to ``path``, which then
    replaces ``path``: an existing file is overwritten only by a complete archive.
    Other threads using ``gallery`` wait until the export ends; other processes may go
    on writing to the file (what they write is not in the archive).

    Args:
        gallery: the open gallery.
        path: the archive to write; missing parent folders are created.
        collection: export only this collection; ``None`` exports all of them.
        progress: called with ``(faces written, total faces)`` every
            :data:`~faceprint.gallery.archive.manifest.PROGRESS_EVERY` faces and at the end.
        clear_templates: export an encrypted gallery (archives hold templates in clear;
            without this, an encrypted gallery is refused).

    Raises:
        ConfigError: the gallery is encrypted and ``clear_templates`` is not set.
        NotFoundError: ``collection`` is given and does not exist.
        GalleryCorruptError: a stored embedding is damaged.
        GalleryError: the archive cannot be written (the message says why), or the
            gallery is closed.
    """
    if gallery.encrypted and not clear_templates:
        raise ConfigError(
            f"gallery {gallery.path} is encrypted, but an archive holds its templates in "
            "clear: pass --clear-templates (clear_templates=True) to export them anyway, "
            "and protect the archive"
        )
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".incomplete"
        )
    except OSError as exc:
        raise GalleryError(f"cannot write archive {target}: {exc}; check the folder") from exc
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as raw:
            with (
                gallery._locked_store() as store,
                store.dump(collection) as dump,
                zipfile.ZipFile(raw, "w", allowZip64=True) as archive,
            ):
                _write_members(archive, dump, collection=collection, progress=progress)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise GalleryError(f"cannot write archive {target}: {exc}; check the path") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if progress is not None:
        progress(dump.faces, dump.faces, "faces")
    log.info("exported %d face(s) of gallery %s to %s", dump.faces, gallery.path, target)
    return ArchiveSummary(
        path=str(target),
        collections=dump.collections,
        persons=dump.persons,
        faces=dump.faces,
        model_id=dump.pin.model_id,
        embedding_dim=dump.pin.embedding_dim,
        size_bytes=target.stat().st_size,
    )


def _write_members(
    archive: zipfile.ZipFile,
    dump: GalleryDump,
    *,
    collection: str | None,
    progress: Progress | None,
) -> None:
    """Every member, then the manifest with their digests."""

    def face_lines() -> Iterator[dict[str, Any]]:
        for row, face in enumerate(dump.iter_faces()):
            if progress is not None and row % PROGRESS_EVERY == 0:
                progress(row, dump.faces, "faces")
            yield {
                "row": row,
                "collection": face.collection,
                "person": face.person,
                "source": face.source,
                "source_sha256": face.source_sha256,
                "bbox_xyxy": None if face.bbox_xyxy is None else list(face.bbox_xyxy),
                "det_score": face.det_score,
                "enrolled_at": face.enrolled_at,
            }

    collections = ({"name": c.name, "created_at": c.created_at} for c in dump.iter_collections())
    persons = (
        {"collection": p.collection, "name": p.name, "created_at": p.created_at}
        for p in dump.iter_persons()
    )
    members = {
        COLLECTIONS: _write_jsonl(archive, COLLECTIONS, collections),
        PERSONS: _write_jsonl(archive, PERSONS, persons),
        FACES: _write_jsonl(archive, FACES, face_lines()),
        EMBEDDINGS: _write_embeddings(archive, dump),
    }
    manifest = Manifest(
        format_version=ARCHIVE_VERSION,
        faceprint_version=_faceprint_version(),
        created_at=now_iso(),
        model_id=dump.pin.model_id,
        embedding_dim=dump.pin.embedding_dim,
        collection=collection,
        settings=dump.settings,
        collections=dump.collections,
        persons=dump.persons,
        faces=dump.faces,
        members=members,
    )
    archive.writestr(
        zipfile.ZipInfo(MANIFEST, date_time=_ZIP_TIME),
        manifest.to_json(),
        compress_type=zipfile.ZIP_DEFLATED,
    )


def _faceprint_version() -> str:
    """The installed faceprint's version (read from its package metadata, not imported:
    the gallery layer may not import the top-level package, which names higher layers)."""
    try:
        return importlib.metadata.version("faceprint")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - uninstalled tree
        return "unknown"


class _Digesting:
    """A write-only stream that passes bytes on and keeps their sha256 and count."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._sha = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self._sha.update(data)
        self._size += len(data)
        return len(data)

    def record(self) -> MemberRecord:
        """What was written, as the manifest records it."""
        return MemberRecord(sha256=self._sha.hexdigest(), size=self._size)


@contextmanager
def _member(archive: zipfile.ZipFile, name: str, compression: int) -> Iterator[_Digesting]:
    """A new member, streamed (its size is not known up front, hence ZIP64)."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = compression
    with archive.open(info, "w", force_zip64=True) as member:
        yield _Digesting(member)


def _write_jsonl(
    archive: zipfile.ZipFile, name: str, objects: Iterable[dict[str, Any]]
) -> MemberRecord:
    """A JSON Lines member: one compact object a line, UTF-8."""
    lines = (
        (json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        for obj in objects
    )
    with _member(archive, name, zipfile.ZIP_DEFLATED) as out:
        _write_batched(out, lines)
    return out.record()


def _write_embeddings(archive: zipfile.ZipFile, dump: GalleryDump) -> MemberRecord:
    """``embeddings.npy``: the .npy header for N×D ``<f4``, then each face's bytes in order.

    Stored, not deflated: float32 noise barely compresses.
    """
    dim = dump.pin.embedding_dim or 0
    header = {"descr": "<f4", "fortran_order": False, "shape": (dump.faces, dim)}
    with _member(archive, EMBEDDINGS, zipfile.ZIP_STORED) as out:
        np.lib.format.write_array_header_1_0(out, header)
        _write_batched(out, dump.iter_embeddings())
    return out.record()


def _write_batched(out: _Digesting, pieces: Iterable[bytes]) -> None:
    """Write ``pieces`` joined :data:`ROWS_PER_WRITE` at a time."""
    batch: list[bytes] = []
    for piece in pieces:
        batch.append(piece)
        if len(batch) == ROWS_PER_WRITE:
            out.write(b"".join(batch))
            batch.clear()
    out.write(b"".join(batch))
