"""Gallery archives: a portable, versioned, checksummed file to move or back up a gallery.

:func:`export_gallery` writes one; :func:`import_gallery` reads one into any gallery of
the same embedding model. Nothing is pickled: an archive can be read with Python's
``zipfile`` and ``json`` and ``numpy.load(..., allow_pickle=False)`` alone.

Format, version 1
-----------------

A ZIP file (conventionally ``*.zip``) with these members:

``manifest.json``
    A UTF-8 JSON object:

    =====================  ============================================================
    ``format``             ``"faceprint.gallery-archive"`` (marks the file)
    ``format_version``     ``1``; a reader refuses a higher one (upgrade faceprint)
    ``faceprint_version``  the faceprint that wrote it, e.g. ``"0.1.0"``
    ``created_at``         ISO-8601 UTC time of the export
    ``model_id``           the embedding model of every vector (``null``: unpinned)
    ``embedding_dim``      D, the vectors' length (``null``: no face pinned it yet)
    ``collection``         the one collection exported, or ``null`` for the whole gallery
    ``settings``           the gallery's settings as stored, e.g. ``{"require_liveness": "1"}``
    ``counts``             ``{"collections": C, "persons": P, "faces": N}``
    ``members``            ``{name: {"sha256": hex digest, "size": bytes}}`` for each
                           member below
    =====================  ============================================================

``collections.jsonl``
    One JSON object a line, by name: ``{"name", "created_at"}``.
``persons.jsonl``
    One a line, by collection then name, persons without faces included:
    ``{"collection", "name", "created_at"}``.
``faces.jsonl``
    One a line, in enrolment order: ``{"row", "collection", "person", "source",
    "source_sha256", "bbox_xyxy" ([x1, y1, x2, y2] or null), "det_score" (number or
    null), "enrolled_at"}``; ``row`` is the line's index from 0, and the face's row in
    ``embeddings.npy``.
``embeddings.npy``
    NumPy ``.npy`` (format 1.0), dtype ``<f4`` (little-endian float32), C order, shape
    (N, D) — (0, 0) without faces and dimension; every row a unit-norm embedding.

JSON Lines end with ``\\n``; numbers are written so that they read back bit-identically.
Times are ISO-8601 UTC strings, as in the gallery.

Import checks the marker and version, each member's size and sha256 (a mismatch names
the member), that the matrix is N×D ``<f4`` of finite unit vectors, and the model pin,
all before it writes; it then writes in one transaction, checking each JSON line as it
goes, so any fault leaves the gallery as it was. A face the gallery already holds (same
collection, person and ``source_sha256``; the same embedding bytes when the digest is
empty) is skipped, so importing an archive twice adds nothing the second time.
"""

from faceprint.gallery.archive.importer import ImportSummary, import_gallery
from faceprint.gallery.archive.manifest import ARCHIVE_FORMAT, ARCHIVE_VERSION
from faceprint.gallery.archive.writer import ArchiveSummary, export_gallery

__all__ = [
    "ARCHIVE_FORMAT",
    "ARCHIVE_VERSION",
    "ArchiveSummary",
    "ImportSummary",
    "export_gallery",
    "import_gallery",
]
