"""The gallery file's schema: tables, indexes, marker, version, times and the model pin.

Schema (version :data:`SCHEMA_VERSION`)::

    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)
        format = "faceprint.gallery", schema_version, created_at,
        model_id and embedding_dim (the pin; absent until pinned),
        setting.<name> (gallery settings, e.g. setting.require_liveness = "1"),
        templates.epoch (set when cancelable templates were re-issued; part of the
        vector indexes' identity, so no index of the old templates is searched)
    collections(id INTEGER PRIMARY KEY, name TEXT UNIQUE, created_at TEXT)
    persons(id INTEGER PRIMARY KEY, collection_id → collections ON DELETE CASCADE,
            name TEXT, created_at TEXT, UNIQUE(collection_id, name))
    faces(id INTEGER PRIMARY KEY AUTOINCREMENT (never reused), person_id → persons ON DELETE CASCADE,
          embedding BLOB (float32 little-endian, embedding_dim × 4 bytes),
          source TEXT, source_sha256 TEXT, bbox_x1, bbox_y1, bbox_x2, bbox_y2 REAL,
          det_score REAL, enrolled_at TEXT)
    indexes: faces_person ON faces(person_id), faces_source_sha256 ON faces(source_sha256)
    face_changes(seq INTEGER PRIMARY KEY AUTOINCREMENT, face_id INTEGER, added INTEGER)
        one row per face inserted (added = 1) or deleted (added = 0), written by the
        triggers faces_logged_insert and faces_logged_delete; pruned up to
        meta.index.log_floor once a saved vector index covers those changes

Times are ISO-8601 UTC.

Migrations that older faceprint versions can still read (an added index) do not bump
:data:`SCHEMA_VERSION`: :class:`~faceprint.gallery.database.GalleryDatabase` applies
them when it opens a file it may write (:data:`ADDED_INDEXES`; schema 1 files written
before ``faces_source_sha256`` existed get it then). A change an older version could not
read would bump the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from faceprint.core.cancelable import base_model_id, key_id_of
from faceprint.errors import ModelMismatchError
from faceprint.types import BBox

SCHEMA_VERSION = 1
"""The schema this code writes; files with a higher version are refused."""

FORMAT = "faceprint.gallery"
"""Value of ``meta.format`` that marks an SQLite file as a faceprint gallery."""

SETTING_PREFIX = "setting."
"""``meta`` keys of gallery settings start with this."""

TABLES = ("meta", "collections", "persons", "faces")

ADDED_INDEXES = {
    "faces_source_sha256": "CREATE INDEX IF NOT EXISTS faces_source_sha256 ON faces(source_sha256)",
}
"""Indexes added after schema 1 shipped: created on open of a writable file that lacks them."""

TEMPLATES_EPOCH = "templates.epoch"
"""``meta`` key: a random token written by each re-issue of the templates
(:mod:`faceprint.gallery.reissue`)."""

CHANGE_LOG = "face_changes"
"""The table that records every face added or removed, in commit order."""

ADDED_CHANGE_LOG = {
    ("table", CHANGE_LOG): (
        f"CREATE TABLE IF NOT EXISTS {CHANGE_LOG} ("
        "seq INTEGER PRIMARY KEY AUTOINCREMENT, face_id INTEGER NOT NULL, "
        "added INTEGER NOT NULL)"
    ),
    ("trigger", "faces_logged_insert"): (
        "CREATE TRIGGER IF NOT EXISTS faces_logged_insert AFTER INSERT ON faces BEGIN "
        "INSERT INTO face_changes(face_id, added) VALUES (new.id, 1); END"
    ),
    ("trigger", "faces_logged_delete"): (
        "CREATE TRIGGER IF NOT EXISTS faces_logged_delete AFTER DELETE ON faces BEGIN "
        "INSERT INTO face_changes(face_id, added) VALUES (old.id, 0); END"
    ),
}
"""The change log (added after schema 1 shipped, readable by older versions): a table and
two triggers, so every writer (older faceprint versions, cascades from a removed person
or collection, archive imports) records its changes. Vector indexes replay it instead of
reloading the gallery after a write (:mod:`faceprint.gallery.live`)."""

SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (collection_id, name)
    )""",
    """CREATE TABLE faces (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        embedding BLOB NOT NULL,
        source TEXT NOT NULL DEFAULT '',
        source_sha256 TEXT NOT NULL DEFAULT '',
        bbox_x1 REAL, bbox_y1 REAL, bbox_x2 REAL, bbox_y2 REAL,
        det_score REAL,
        enrolled_at TEXT NOT NULL
    )""",
    "CREATE INDEX faces_person ON faces(person_id)",
    *ADDED_INDEXES.values(),
    *ADDED_CHANGE_LOG.values(),
)

INSERT_FACE = (
    "INSERT INTO faces(person_id, embedding, source, source_sha256, "
    "bbox_x1, bbox_y1, bbox_x2, bbox_y2, det_score, enrolled_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
"""Insert one face row: person id, then the columns in table order."""


def bbox_from_columns(
    x1: float | None, y1: float | None, x2: float | None, y2: float | None
) -> BBox | None:
    """``bbox_xyxy`` from the four ``bbox_*`` columns; ``None`` when any is NULL."""
    if x1 is None or y1 is None or x2 is None or y2 is None:
        return None
    return (float(x1), float(y1), float(x2), float(y2))


def now_iso() -> str:
    """The current UTC time as ISO-8601 with seconds, e.g. ``2024-05-01T12:00:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class Pin:
    """The embedding model and dimension a gallery is pinned to (``None`` = not yet)."""

    model_id: str | None
    embedding_dim: int | None

    def check(self, model_id: str, dim: int, *, gallery: str) -> None:
        """Refuse an embedding of another model or dimension.

        Raises:
            ModelMismatchError: ``model_id`` or ``dim`` differs from the pin; the
                message names both models.
        """
        if self.model_id is not None and model_id != self.model_id:
            raise template_mismatch(self.model_id, model_id, gallery) or ModelMismatchError(
                f"gallery {gallery} holds embeddings of model {self.model_id!r}, "
                f"got one of model {model_id!r}; use the {self.model_id!r} embedder "
                "or another gallery"
            )
        if self.embedding_dim is not None and dim != self.embedding_dim:
            raise ModelMismatchError(
                f"gallery {gallery} holds {self.embedding_dim}-d embeddings of model "
                f"{self.model_id!r}, got a {dim}-d embedding of model {model_id!r}; "
                "use the embedder the gallery was filled with or another gallery"
            )

    def check_model(self, model_id: str, *, gallery: str) -> None:
        """Refuse another model than the pinned one (the dimension is not checked).

        Raises:
            ModelMismatchError: the gallery is pinned to another model.
        """
        if self.model_id is not None and model_id != self.model_id:
            raise template_mismatch(self.model_id, model_id, gallery) or ModelMismatchError(
                f"gallery {gallery} is pinned to model {self.model_id!r}, not {model_id!r}; "
                f"use the {self.model_id!r} embedder or another gallery"
            )


def template_mismatch(pinned: str, given: str, gallery: str) -> ModelMismatchError | None:
    """The error for embeddings of the gallery's model under another template key
    (:mod:`faceprint.core.cancelable`), or plain where the gallery holds cancelable
    templates (or the reverse); ``None`` when the models themselves differ."""
    if base_model_id(pinned) != base_model_id(given):
        return None
    held, got = key_id_of(pinned), key_id_of(given)
    has = f"cancelable templates under template key {held}" if held else "plain templates"
    came = f"a template under key {got}" if got else "a plain embedding (no template key)"
    fix = (
        "pass the template key (and --tenant) its templates are under"
        if held
        else "drop --template-key (and FACEPRINT_TEMPLATE_KEY), or protect the gallery "
        "with `faceprint gallery reissue --new-template-key SPEC`"
    )
    return ModelMismatchError(
        f"gallery {gallery} holds {has} of model {base_model_id(pinned)!r}, got {came}; "
        f"{fix} (a key is per tenant: another tenant's or an old key does not match)"
    )
