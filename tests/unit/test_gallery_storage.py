"""Gallery files: schema, pragmas, marker, corruption and version checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import GalleryCorruptError, GalleryError, NotFoundError
from faceprint.gallery import FaceRecord, Gallery
from faceprint.gallery.storage import FORMAT, SCHEMA_VERSION, GalleryStore
from faceprint.types import Embedding

DIM = 8


def emb(rng: np.random.Generator, model: str = "fake-a") -> Embedding:
    v = rng.standard_normal(DIM)
    return Embedding((v / np.linalg.norm(v)).astype(np.float32), model)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(99)


def columns(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(str(r[1]), str(r[2])) for r in conn.execute(f"PRAGMA table_info({table})")]


def test_schema_and_meta(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.add_faces("ann", [FaceRecord(emb(rng))])
    conn = sqlite3.connect(path)
    try:
        assert columns(conn, "meta") == [("key", "TEXT"), ("value", "TEXT")]
        assert columns(conn, "collections") == [
            ("id", "INTEGER"),
            ("name", "TEXT"),
            ("created_at", "TEXT"),
        ]
        assert columns(conn, "persons") == [
            ("id", "INTEGER"),
            ("collection_id", "INTEGER"),
            ("name", "TEXT"),
            ("created_at", "TEXT"),
        ]
        assert columns(conn, "faces") == [
            ("id", "INTEGER"),
            ("person_id", "INTEGER"),
            ("embedding", "BLOB"),
            ("source", "TEXT"),
            ("source_sha256", "TEXT"),
            ("bbox_x1", "REAL"),
            ("bbox_y1", "REAL"),
            ("bbox_x2", "REAL"),
            ("bbox_y2", "REAL"),
            ("det_score", "REAL"),
            ("enrolled_at", "TEXT"),
        ]
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert meta["format"] == FORMAT
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert meta["model_id"] == "fake-a"
        assert meta["embedding_dim"] == str(DIM)
        assert meta["created_at"].endswith("+00:00")
        fks = {
            (r[2], r[6])
            for t in ("persons", "faces")
            for r in conn.execute(f"PRAGMA foreign_key_list({t})")
        }
        assert fks == {("collections", "CASCADE"), ("persons", "CASCADE")}
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_embeddings_are_little_endian_float32_blobs(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "g.db"
    e = emb(rng)
    with Gallery.open(path) as g:
        (face_id,) = g.add_faces("ann", [FaceRecord(e)])
    conn = sqlite3.connect(path)
    (blob,) = conn.execute("SELECT embedding FROM faces WHERE id = ?", (face_id,)).fetchone()
    conn.close()
    assert isinstance(blob, bytes)
    assert len(blob) == DIM * 4
    np.testing.assert_array_equal(np.frombuffer(blob, dtype="<f4"), e.vector)


def test_connection_pragmas(tmp_path: Path) -> None:
    store = GalleryStore.open(str(tmp_path / "g.db"), create=True)
    try:
        conn = store._db
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        store.close()


def test_text_file_is_not_a_gallery(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes, not a database\n" * 50)
    with pytest.raises(GalleryCorruptError, match="not a faceprint gallery") as info:
        Gallery.open(path)
    assert str(path) in str(info.value)
    assert path.read_text().startswith("these are my notes")  # untouched


def test_foreign_sqlite_database_is_not_a_gallery(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE songs (title TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(GalleryCorruptError, match="SQLite database but not a faceprint gallery"):
        Gallery.open(path)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert tables == {"songs"}  # nothing was added to someone else's database


def test_meta_table_without_marker_is_not_a_gallery(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    conn.commit()
    conn.close()
    with pytest.raises(GalleryCorruptError, match="no faceprint marker"):
        Gallery.open(path)


def test_missing_tables_are_reported_as_damage(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Gallery.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE faces")
    conn.commit()
    conn.close()
    with pytest.raises(GalleryCorruptError, match="faces"):
        Gallery.open(path)


def test_newer_schema_asks_to_upgrade(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Gallery.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    with pytest.raises(GalleryError, match="upgrade faceprint") as info:
        Gallery.open(path)
    assert not isinstance(info.value, GalleryCorruptError)
    assert f"version {SCHEMA_VERSION + 1}" in str(info.value)


def test_damaged_embedding_blob_is_reported(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        (face_id,) = g.add_faces("ann", [FaceRecord(emb(rng))])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE faces SET embedding = ? WHERE id = ?", (b"\x00" * 5, face_id))
    conn.commit()
    conn.close()
    with Gallery.open(path) as g, pytest.raises(GalleryCorruptError, match=f"face {face_id}"):
        g.search(emb(rng))


def test_create_false_on_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.db"
    with pytest.raises(NotFoundError, match="no gallery at") as info:
        Gallery.open(path, create=False)
    assert isinstance(info.value, LookupError)
    assert not path.exists()


def test_create_makes_parent_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "g.db"
    with Gallery.open(path) as g:
        assert g.path == str(path)
    assert path.is_file()
    with Gallery.open(path, create=False) as g:
        assert g.size() == 0


def test_empty_sqlite_file_needs_create(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with pytest.raises(GalleryCorruptError, match="empty SQLite database"):
        Gallery.open(path, create=False)
    with Gallery.open(path) as g:
        assert g.collections() == []
    with Gallery.open(path, create=False) as g:
        assert g.model_id is None


def test_directory_is_not_a_gallery(tmp_path: Path) -> None:
    with pytest.raises(GalleryError, match="not a file"):
        Gallery.open(tmp_path)


def test_memory_gallery_ignores_create_false(rng: np.random.Generator) -> None:
    with Gallery.open(":memory:", create=False) as g:
        g.add_faces("ann", [FaceRecord(emb(rng))])
        assert g.size() == 1
        assert g.path == ":memory:"


def indexes(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {
            str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
    finally:
        conn.close()


def drop_digest_index(path: Path) -> None:
    """Make ``path`` look like a schema-1 file written before the digest index existed."""
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX faces_source_sha256")
    conn.commit()
    conn.close()


def test_new_gallery_has_the_image_digest_index(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Gallery.open(path).close()
    assert {"faces_person", "faces_source_sha256"} <= indexes(path)


def test_schema_1_file_without_the_digest_index_gets_it_on_open(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.add_faces("ann", [FaceRecord(emb(rng), source_sha256="ab" * 32)])
    drop_digest_index(path)
    assert "faces_source_sha256" not in indexes(path)
    with Gallery.open(path, create=False) as g:
        assert g.enrolled_images(["ab" * 32], collection="default") == {"ab" * 32: ("ann",)}
    assert "faces_source_sha256" in indexes(path)
    conn = sqlite3.connect(path)
    meta = dict(conn.execute("SELECT key, value FROM meta"))
    conn.close()
    assert meta["schema_version"] == "1"  # an older faceprint still reads the file


def test_opening_an_up_to_date_file_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Gallery.open(path).close()
    store = GalleryStore.open(str(path), create=False)
    try:
        assert store.version()[1] == 0  # no write transaction through this connection
    finally:
        store.close()


def test_a_file_that_cannot_take_the_index_still_opens(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.add_faces("ann", [FaceRecord(emb(rng), source_sha256="ab" * 32)])
    drop_digest_index(path)
    monkeypatch.setattr("faceprint.gallery.database.BUSY_TIMEOUT_MS", 50)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        with Gallery.open(path, create=False) as g:  # read-only in effect
            assert g.enrolled_images(["ab" * 32], collection="default") == {"ab" * 32: ("ann",)}
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "faces_source_sha256" not in indexes(path)
    Gallery.open(path, create=False).close()
    assert "faces_source_sha256" in indexes(path)


def test_a_transaction_left_open_by_an_interruption_is_rolled_back(tmp_path: Path) -> None:
    """Ctrl-C between BEGIN and COMMIT must not wedge the connection for the next call."""
    from faceprint.gallery import Gallery

    with Gallery.open(tmp_path / "g.db") as gallery:
        gallery.create_collection("team")
        gallery._store._db.execute("BEGIN IMMEDIATE")  # as if interrupted mid-write
        gallery._store._db.execute("DELETE FROM collections")
        assert gallery.size() == 0
        assert [c.name for c in gallery.collections()] == ["team"]
        gallery.create_collection("other")
        assert gallery.has_collection("other")
