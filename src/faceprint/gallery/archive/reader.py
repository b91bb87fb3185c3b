"""Reading an archive: the manifest, member checksums, the embedding matrix, the JSON lines.

Every problem is a :class:`~faceprint.errors.GalleryCorruptError` naming the member (and
line) at fault, except a newer format version (:class:`~faceprint.errors.GalleryError`,
upgrade faceprint). The matrix is read as raw bytes after its ``.npy`` header has been
checked to be ``<f4`` of the manifest's shape, so nothing can be unpickled.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from faceprint.errors import GalleryError
from faceprint.gallery.archive.manifest import (
    COLLECTIONS,
    EMBEDDINGS,
    FACES,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    MEMBERS,
    PERSONS,
    Fields,
    Manifest,
    corrupt,
)
from faceprint.gallery.transfer import CollectionRow, FaceRow, PersonRow
from faceprint.gallery.validation import first_bad_row

HASH_BLOCK = 1 << 20
"""Bytes read at a time while checking a member's sha256."""


@contextmanager
def _reading(source: Path, member: str | None) -> Iterator[None]:
    """Turn ZIP, compression and decoding errors into GalleryCorruptError naming ``member``.

    ``member`` ``None`` stands for the ZIP file as a whole.
    """
    try:
        yield
    except (zipfile.BadZipFile, zlib.error, EOFError, UnicodeDecodeError) as exc:
        what = "it is not a readable ZIP file" if member is None else f"member {member} is damaged"
        raise corrupt(source, f"{what} ({exc})") from exc


@contextmanager
def open_archive(source: Path) -> Iterator[ArchiveReader]:
    """Open an archive file for reading; it is closed when the block ends.

    Raises:
        GalleryCorruptError: the file is not a ZIP file.
        GalleryError: the file cannot be read.
    """
    try:
        with _reading(source, None):
            archive = zipfile.ZipFile(source)
    except OSError as exc:
        raise GalleryError(f"cannot read archive {source}: {exc}; check the path") from exc
    with archive:
        yield ArchiveReader(archive, source)


class ArchiveReader:
    """One open archive, read and checked member by member (see :func:`open_archive`)."""

    def __init__(self, archive: zipfile.ZipFile, source: Path) -> None:
        self._zip = archive
        self._source = source

    def manifest(self) -> Manifest:
        """The parsed and checked manifest.

        Raises:
            GalleryCorruptError: missing, too large, not JSON, or malformed.
            GalleryError: a newer format version (upgrade faceprint).
        """
        try:
            info = self._zip.getinfo(MANIFEST)
        except KeyError:
            raise corrupt(self._source, f"it has no {MANIFEST}") from None
        if info.file_size > MAX_MANIFEST_BYTES:
            raise corrupt(self._source, f"{MANIFEST} is larger than {MAX_MANIFEST_BYTES} bytes")
        with _reading(self._source, MANIFEST):
            text = self._zip.read(MANIFEST).decode("utf-8")
        return Manifest.from_json(text, source=self._source)

    def verify(self, manifest: Manifest) -> None:
        """Check every listed member's size and sha256 against the manifest (streaming).

        Raises:
            GalleryCorruptError: a member is missing, or its size or sha256 differs (the
                message names it).
        """
        for name in MEMBERS:
            expected = manifest.members[name]
            try:
                info = self._zip.getinfo(name)
            except KeyError:
                raise corrupt(self._source, f"member {name} is missing") from None
            if info.file_size != expected.size:
                raise corrupt(
                    self._source,
                    f"member {name} is {info.file_size} bytes but the manifest says "
                    f"{expected.size} (checksum mismatch)",
                )
            digest = hashlib.sha256()
            with _reading(self._source, name), self._zip.open(name) as member:
                for block in iter(lambda: member.read(HASH_BLOCK), b""):
                    digest.update(block)
            if digest.hexdigest() != expected.sha256:
                raise corrupt(self._source, f"member {name} fails its sha256 checksum")

    def embeddings(self, manifest: Manifest) -> NDArray[np.float32]:
        """The N×D matrix: ``<f4``, C order, the manifest's shape, finite unit rows.

        Raises:
            GalleryCorruptError: another header, shape or length, or a bad row.
        """
        faces, dim = manifest.faces, manifest.embedding_dim or 0
        size = faces * dim * 4
        with _reading(self._source, EMBEDDINGS), self._zip.open(EMBEDDINGS) as member:
            try:
                version = np.lib.format.read_magic(member)
                read_header = (
                    np.lib.format.read_array_header_1_0
                    if version == (1, 0)
                    else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(member)
            except ValueError as exc:
                raise corrupt(self._source, f"{EMBEDDINGS} is not a .npy file ({exc})") from exc
            if dtype.str != "<f4" or fortran or shape != (faces, dim):
                order = "Fortran" if fortran else "C"
                raise corrupt(
                    self._source,
                    f"{EMBEDDINGS} holds {dtype.str} {shape} in {order} order, "
                    f"expected <f4 {(faces, dim)} in C order",
                )
            data = member.read(size)
            if len(data) != size or member.read(1):
                raise corrupt(self._source, f"{EMBEDDINGS} does not hold exactly {size} bytes")
        matrix = np.frombuffer(data, dtype="<f4").reshape(faces, dim)
        bad = first_bad_row(matrix)
        if bad is not None:
            raise corrupt(
                self._source, f"row {bad[0]} of {EMBEDDINGS} {bad[1]}; embeddings are unit-norm"
            )
        return matrix

    def collections(self, manifest: Manifest) -> Iterator[CollectionRow]:
        """The rows of ``collections.jsonl``, checked as they are read."""
        for line in self._lines(COLLECTIONS, manifest.collections):
            yield CollectionRow(name=line.name("name"), created_at=line.text("created_at"))

    def persons(self, manifest: Manifest) -> Iterator[PersonRow]:
        """The rows of ``persons.jsonl``, checked as they are read."""
        for line in self._lines(PERSONS, manifest.persons):
            yield PersonRow(
                collection=line.name("collection"),
                name=line.name("name"),
                created_at=line.text("created_at"),
            )

    def faces(self, manifest: Manifest) -> Iterator[FaceRow]:
        """The rows of ``faces.jsonl`` in row order, checked as they are read."""
        for line in self._lines(FACES, manifest.faces):
            yield FaceRow(
                collection=line.name("collection"),
                person=line.name("person"),
                source=line.text("source"),
                source_sha256=line.text("source_sha256"),
                bbox_xyxy=line.bbox("bbox_xyxy"),
                det_score=line.optional_number("det_score"),
                enrolled_at=line.text("enrolled_at"),
            )

    def _lines(self, name: str, expected: int) -> Iterator[Fields]:
        """Each JSON line of ``name`` (a ``faces.jsonl`` line's ``row`` checked too).

        Raises:
            GalleryCorruptError: a line is not a JSON object, or there are not
                ``expected`` lines.
        """
        count = 0
        with _reading(self._source, name), self._zip.open(name) as member:
            text = io.TextIOWrapper(member, encoding="utf-8", newline="\n")
            for count, raw in enumerate(text, 1):
                line = Fields.parse(raw, self._source, f"line {count} of {name}: ")
                if name == FACES and line.count("row") != count - 1:
                    raise line.bad("row", f"the line's index {count - 1}")
                yield line
        if count != expected:
            raise corrupt(self._source, f"{name} has {count} line(s), the manifest says {expected}")
