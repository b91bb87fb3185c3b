"""Import: check an archive completely, then add it to a gallery in one transaction."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import ModelMismatchError, NotFoundError
from faceprint.gallery.archive.manifest import PROGRESS_EVERY, Manifest
from faceprint.gallery.archive.reader import open_archive
from faceprint.gallery.gallery import Gallery
from faceprint.gallery.schema import Pin, now_iso
from faceprint.gallery.transfer import CollectionRow, FaceRow, PersonRow
from faceprint.gallery.validation import check_name
from faceprint.types import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What :func:`import_gallery` changed; ``faces_added + faces_skipped`` = archive faces.

    ``pinned``: the import pinned the gallery's model or dimension. ``settings_applied``:
    the archive's settings were copied (only into a gallery without collections).
    """

    path: str
    collections_added: int
    persons_added: int
    faces_added: int
    faces_skipped: int
    model_id: str | None
    embedding_dim: int | None
    pinned: bool
    settings_applied: bool


def import_gallery(
    gallery: Gallery,
    path: str | os.PathLike[str],
    *,
    collection: str | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    """Add an archive's collections, persons and faces to ``gallery``, all or nothing.

    The manifest, every member's sha256, the matrix and the model pin are checked before
    the first write; the write is one transaction that also checks each JSON line, so a
    fault anywhere leaves the gallery unchanged. A face the gallery already holds (same
    collection, person and ``source_sha256``, or the same embedding bytes when the
    digest is empty) is skipped and counted, so a second import of an archive adds
    nothing. An unpinned gallery is pinned to the archive's model and dimension; the
    archive's settings (e.g. ``require_liveness``) are copied only into a gallery that
    has no collection yet. Other threads using ``gallery`` wait until the import ends.

    Args:
        gallery: the open gallery to import into.
        path: the archive file.
        collection: put everything into this collection instead of the archive's ones
            (persons of the same name from different collections then merge).
        progress: called with ``(faces imported or skipped, total faces)`` every
            :data:`~faceprint.gallery.archive.manifest.PROGRESS_EVERY` faces and at the end.

    Raises:
        NotFoundError: there is no file at ``path``.
        ConfigError: ``collection`` is an empty name.
        GalleryCorruptError: not a gallery archive, or damaged — a member's size or
            sha256 differs (the message names it), a field is malformed (the message
            names the line), or a vector is not a finite unit vector.
        GalleryError: the archive has a newer format version (upgrade faceprint), the
            file cannot be read, or the database refused the write.
        ModelMismatchError: the gallery is pinned to another model or dimension than the
            archive's vectors.
    """
    source = Path(path)
    if collection is not None:
        check_name("collection", collection)
    if not source.is_file():
        raise NotFoundError(f"no archive at {source}; check the path")
    with open_archive(source) as reader:
        manifest = reader.manifest()
        reader.verify(manifest)
        matrix = reader.embeddings(manifest)
        into = _Into(collection)
        with gallery._locked_store() as store:
            _check_pin(store.pin(), manifest, source)
            counts = store.load(
                model_id=manifest.model_id,
                dim=manifest.embedding_dim,
                settings=manifest.settings,
                collections=into.collections(reader.collections(manifest)),
                persons=(into.person(p) for p in reader.persons(manifest)),
                faces=_with_vectors(
                    (into.face(f) for f in reader.faces(manifest)), matrix, manifest, progress
                ),
            )
    if progress is not None:
        progress(manifest.faces, manifest.faces, "faces")
    log.info(
        "imported %s into gallery %s: %d face(s) added, %d already there",
        source,
        gallery.path,
        counts.faces_added,
        counts.faces_skipped,
    )
    return ImportSummary(
        path=str(source),
        collections_added=counts.collections_added,
        persons_added=counts.persons_added,
        faces_added=counts.faces_added,
        faces_skipped=counts.faces_skipped,
        model_id=manifest.model_id,
        embedding_dim=manifest.embedding_dim,
        pinned=counts.pinned,
        settings_applied=counts.settings_applied,
    )


def _with_vectors(
    faces: Iterable[FaceRow],
    matrix: NDArray[np.float32],
    manifest: Manifest,
    progress: Progress | None,
) -> Iterator[tuple[FaceRow, bytes]]:
    """Each face with its row of the matrix as little-endian float32 bytes."""
    for row, face in enumerate(faces):
        if progress is not None and row % PROGRESS_EVERY == 0:
            progress(row, manifest.faces, "faces")
        yield face, matrix[row].tobytes()


def _check_pin(pin: Pin, manifest: Manifest, source: Path) -> None:
    """Refuse an archive of another model or dimension than the gallery's pin.

    The store checks again inside its transaction; this check says it in the
    archive's terms, before anything is written.

    Raises:
        ModelMismatchError: the message names both models (or dimensions).
    """
    theirs, their_dim = manifest.model_id, manifest.embedding_dim
    if theirs is None:
        return
    if pin.model_id is not None and pin.model_id != theirs:
        raise ModelMismatchError(
            f"archive {source} holds embeddings of model {theirs!r} but the gallery is "
            f"pinned to model {pin.model_id!r}; import it into a gallery of model "
            f"{theirs!r} or a new gallery. Nothing was imported"
        )
    if pin.embedding_dim is not None and their_dim is not None and pin.embedding_dim != their_dim:
        raise ModelMismatchError(
            f"archive {source} holds {their_dim}-d embeddings but the gallery holds "
            f"{pin.embedding_dim}-d embeddings of model {pin.model_id!r}; import it into "
            "a new gallery. Nothing was imported"
        )


@dataclass(frozen=True, slots=True)
class _Into:
    """Moves imported rows into one collection (``name`` ``None``: keep the archive's)."""

    name: str | None

    def collections(self, rows: Iterator[CollectionRow]) -> Iterator[CollectionRow]:
        if self.name is None:
            yield from rows
            return
        for _ in rows:  # still read (and check) every line
            pass
        yield CollectionRow(name=self.name, created_at=now_iso())

    def person(self, row: PersonRow) -> PersonRow:
        return row if self.name is None else replace(row, collection=self.name)

    def face(self, row: FaceRow) -> FaceRow:
        return row if self.name is None else replace(row, collection=self.name)
