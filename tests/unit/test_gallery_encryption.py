"""Gallery templates encrypted at rest: no clear template on disk, wrong and missing keys,
swapped rows, search unchanged, enrol, rekey killed mid-transaction, indexes, Milvus."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import (
    ConfigError,
    GalleryCorruptError,
    GalleryError,
    KeyUnavailableError,
    WrongKeyError,
)
from faceprint.gallery import FaceRecord, Gallery
from faceprint.gallery.archive import export_gallery
from faceprint.gallery.encryption import decrypt_gallery, encrypt_gallery, rekey_gallery
from faceprint.gallery.sealing import ENCRYPTED_SCHEMA_VERSION, ROW_MAGIC
from faceprint.keysource import SecretKey
from faceprint.types import Embedding

MODEL = "sface"


def _key(seed: int) -> SecretKey:
    return SecretKey(bytes(np.random.default_rng(seed).integers(0, 256, 32, dtype=np.uint8)))


def _vectors(n: int, seed: int = 0, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _fill(path: Path | str, vectors: np.ndarray, *, key: SecretKey | None = None) -> None:
    with Gallery.open(path, key=key) as g:
        for i, v in enumerate(vectors):
            g.add_faces(f"p{i % 7}", [FaceRecord(Embedding(v, MODEL), f"img{i}.jpg")])


def _probe(v: np.ndarray) -> Embedding:
    return Embedding(v.astype(np.float32), MODEL)


def _disk_bytes(path: Path) -> bytes:
    """The gallery file, its -wal/-shm and every file of its index folder."""
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    folder = Path(f"{path}.index")
    if folder.is_dir():
        files += sorted(folder.iterdir())
    return b"".join(f.read_bytes() for f in files if f.is_file())


def _clear_windows(data: bytes, vectors: np.ndarray) -> int:
    """How many vectors have their float32 bytes (whole, or any 16-byte window) in ``data``."""
    found = 0
    for v in vectors:
        raw = v.astype("<f4").tobytes()
        windows = {raw[i : i + 16] for i in range(0, len(raw) - 15, 4)}
        if raw in data or any(w in data for w in windows):
            found += 1
    return found


def _results(path: Path, probes: np.ndarray, key: SecretKey | None) -> list[list[tuple]]:
    with Gallery.open(path, create=False, key=key) as g:
        return [
            [(m.person, m.face_id, round(m.similarity, 6)) for m in g.search(_probe(p), k=3)]
            for p in probes
        ]


@pytest.fixture()
def plain(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = tmp_path / "g.db"
    vectors = _vectors(40)
    _fill(path, vectors)
    return path, vectors


def test_file_holds_no_clear_template_after_encrypt(plain) -> None:
    path, vectors = plain
    assert _clear_windows(_disk_bytes(path), vectors) == len(vectors)  # control
    summary = encrypt_gallery(path, _key(1))
    assert summary.changed and summary.faces == len(vectors)
    assert _clear_windows(_disk_bytes(path), vectors) == 0
    conn = sqlite3.connect(path)
    (version,) = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    blobs = [b for (b,) in conn.execute("SELECT embedding FROM faces")]
    conn.close()
    assert int(version) == ENCRYPTED_SCHEMA_VERSION
    assert all(b.startswith(ROW_MAGIC) and len(b) == 4 + 12 + 512 + 16 for b in blobs)


def test_wrong_key_and_no_key_fail_cleanly(plain) -> None:
    path, _ = plain
    right, wrong = _key(1), _key(2)
    encrypt_gallery(path, right)
    with pytest.raises(WrongKeyError, match=f"key id {right.key_id}.*{wrong.key_id}"):
        Gallery.open(path, create=False, key=wrong)
    with pytest.raises(
        KeyUnavailableError, match="--gallery-key SPEC or set FACEPRINT_GALLERY_KEY"
    ):
        Gallery.open(path, create=False)
    with pytest.raises(WrongKeyError):
        decrypt_gallery(path, wrong)
    with pytest.raises(WrongKeyError):
        rekey_gallery(path, wrong, _key(3))
    assert _results(path, _vectors(1), right)  # still readable


def test_key_for_a_plaintext_gallery_with_faces_is_refused(plain) -> None:
    path, _ = plain
    with pytest.raises(ConfigError, match=r"not encrypted.*gallery encrypt"):
        Gallery.open(path, key=_key(1))


def test_swapped_rows_fail_authentication(plain) -> None:
    path, vectors = plain
    key = _key(1)
    encrypt_gallery(path, key)
    conn = sqlite3.connect(path)
    (a,), (b,) = conn.execute("SELECT embedding FROM faces WHERE id IN (1, 2) ORDER BY id")
    conn.execute("UPDATE faces SET embedding = ? WHERE id = 1", (b,))
    conn.execute("UPDATE faces SET embedding = ? WHERE id = 2", (a,))
    conn.commit()
    conn.close()
    with (
        Gallery.open(path, create=False, key=key) as g,
        pytest.raises(GalleryCorruptError, match="does not authenticate"),
    ):
        g.search(_probe(vectors[0]), k=1)


def test_a_row_from_another_gallery_fails_authentication(tmp_path: Path) -> None:
    key, vectors = _key(1), _vectors(3)
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    _fill(first, vectors, key=key)
    _fill(second, vectors, key=key)  # same key, its own data key
    conn = sqlite3.connect(first)
    (row,) = conn.execute("SELECT embedding FROM faces WHERE id = 1").fetchone()
    conn.close()
    conn = sqlite3.connect(second)
    conn.execute("UPDATE faces SET embedding = ? WHERE id = 1", (row,))
    conn.commit()
    conn.close()
    with Gallery.open(second, key=key) as g, pytest.raises(GalleryCorruptError):
        g.search(_probe(vectors[0]), k=1)


def test_search_identical_through_encrypt_rekey_decrypt(plain) -> None:
    path, vectors = plain
    probes = np.concatenate([vectors[:5], _vectors(5, seed=9)])
    before = _results(path, probes, None)
    old, new = _key(1), _key(2)
    encrypt_gallery(path, old)
    assert _results(path, probes, old) == before
    summary = rekey_gallery(path, old, new)
    assert summary.changed and summary.key_id == new.key_id
    with pytest.raises(WrongKeyError):
        Gallery.open(path, create=False, key=old)
    assert _results(path, probes, new) == before
    assert decrypt_gallery(path, new).changed
    assert _results(path, probes, None) == before
    assert _clear_windows(_disk_bytes(path), vectors) == len(vectors)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert conn.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'encryption%'").fetchone() == (0,)
    conn.close()


def test_reruns_change_nothing(plain) -> None:
    path, _ = plain
    key, other = _key(1), _key(2)
    assert not decrypt_gallery(path, key).changed  # plaintext: nothing to decrypt
    assert encrypt_gallery(path, key).changed
    assert not encrypt_gallery(path, key).changed
    with pytest.raises(ConfigError, match=r"already encrypted.*rekey"):
        encrypt_gallery(path, other)
    assert rekey_gallery(path, key, other).changed
    again = rekey_gallery(path, key, other)  # the same job again, after it committed
    assert not again.changed and again.key_id == other.key_id
    with Gallery.open(path, create=False, key=other) as g:
        assert g.size() == 40


def test_enroll_into_encrypted_gallery_then_search(tmp_path: Path) -> None:
    path, key, vectors = tmp_path / "new.db", _key(1), _vectors(12)
    _fill(path, vectors, key=key)  # a new gallery opened with a key is created encrypted
    assert _clear_windows(_disk_bytes(path), vectors) == 0
    with Gallery.open(path, create=False, key=key) as g:
        assert g.encrypted and g.size() == 12
        best = g.search(_probe(vectors[5]), k=1)[0]
        assert best.person == "p5" and best.similarity == pytest.approx(1.0, abs=1e-5)
        extra = _vectors(1, seed=5)[0]
        (face_id,) = g.add_faces("late", [FaceRecord(Embedding(extra, MODEL))])
        assert g.search(_probe(extra), k=1)[0].face_id == face_id


def test_writer_with_a_stale_key_is_refused(plain) -> None:
    path, vectors = plain
    key = _key(1)
    with Gallery.open(path) as stale:
        encrypt_gallery(path, key)  # another process encrypts while this one is open
        with pytest.raises(GalleryError, match="open it again"):
            stale.add_faces("x", [FaceRecord(Embedding(vectors[0], MODEL))])


def test_pq_index_of_an_encrypted_gallery_is_not_saved(tmp_path: Path) -> None:
    path, key, vectors = tmp_path / "pq.db", _key(1), _vectors(1_200)
    _fill(path, vectors)
    with Gallery.open(path) as g:
        g.set_index("pq")
        g.search(_probe(vectors[0]), k=1)
    folder = Path(f"{path}.index")
    assert any(f.suffix == ".npz" for f in folder.iterdir())  # control: a plaintext save
    encrypt_gallery(path, key)
    assert not any(f.suffix in (".npz", ".codes") for f in folder.iterdir())
    with Gallery.open(path, create=False, key=key) as g:
        assert g.search(_probe(vectors[7]), k=1)[0].face_id == 8
        assert g.index_info()["collections"]
    assert not any(f.suffix in (".npz", ".codes", ".json") for f in folder.iterdir())
    assert _clear_windows(_disk_bytes(path), vectors[:50]) == 0


def test_milvus_is_refused_for_an_encrypted_gallery(plain) -> None:
    path, _ = plain
    key = _key(1)
    encrypt_gallery(path, key)
    with (
        Gallery.open(path, create=False, key=key) as g,
        pytest.raises(ConfigError, match=r"Milvus.*in clear"),
    ):
        g.set_index("milvus-lite:/tmp/never.db")


def test_export_of_an_encrypted_gallery_needs_consent(plain, tmp_path: Path) -> None:
    path, _ = plain
    key = _key(1)
    encrypt_gallery(path, key)
    with Gallery.open(path, create=False, key=key) as g:
        with pytest.raises(ConfigError, match="clear_templates"):
            export_gallery(g, tmp_path / "a.zip")
        assert export_gallery(g, tmp_path / "a.zip", clear_templates=True).faces == 40


def test_import_into_an_encrypted_gallery_skips_what_it_holds(plain, tmp_path: Path) -> None:
    from faceprint.gallery.archive import import_gallery

    path, vectors = plain
    archive = tmp_path / "a.zip"
    conn = sqlite3.connect(path)
    conn.execute("UPDATE faces SET source_sha256 = ''")  # dedupe by template
    conn.commit()
    conn.close()
    with Gallery.open(path) as g:
        export_gallery(g, archive)
    key = _key(1)
    copy = tmp_path / "copy.db"
    with Gallery.open(copy, key=key) as g:
        assert import_gallery(g, archive).faces_added == 40
        assert import_gallery(g, archive).faces_skipped == 40
        assert g.search(_probe(vectors[3]), k=1)[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert _clear_windows(_disk_bytes(copy), vectors) == 0


_REKEY = """
import sys, time
from faceprint.gallery.encryption import rekey_gallery
from faceprint.keysource import SecretKey
old, new = SecretKey(bytes.fromhex(sys.argv[2])), SecretKey(bytes.fromhex(sys.argv[3]))
stall = sys.argv[4] == "stall"
def progress(done, total, _):
    print(f"progress {done}/{total}", flush=True)
    if stall and done:
        time.sleep(60)  # inside the transaction, after rows were rewritten
rekey_gallery(sys.argv[1], old, new, progress=progress)
print("done", flush=True)
"""


def _hex(*keys: SecretKey) -> list[str]:
    return [k.material.hex() for k in keys]


def _big_encrypted(path: Path, key: SecretKey, n: int) -> np.ndarray:
    """A gallery of ``n`` faces written directly (fast), then encrypted."""
    vectors = _vectors(n, seed=3)
    Gallery.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO meta VALUES ('model_id', ?), ('embedding_dim', '128')", (MODEL,))
    conn.execute("INSERT INTO collections VALUES (1, 'default', 't')")
    conn.execute("INSERT INTO persons VALUES (1, 1, 'someone', 't')")
    conn.executemany(
        "INSERT INTO faces(person_id, embedding, enrolled_at) VALUES (1, ?, 't')",
        ((v.astype("<f4").tobytes(),) for v in vectors),
    )
    conn.commit()
    conn.close()
    encrypt_gallery(path, key)
    return vectors


@pytest.mark.parametrize("mode", ["stall", "race"])
def test_rekey_killed_mid_transaction_leaves_the_gallery_readable(tmp_path, mode) -> None:
    path, old, new = tmp_path / "big.db", _key(1), _key(2)
    vectors = _big_encrypted(path, old, 20_000)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_REKEY), str(path), *_hex(old, new), mode],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    wanted = 2 if mode == "stall" else 1  # stall: after the first rows were rewritten
    for _ in range(wanted):
        assert child.stdout.readline().startswith("progress")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    opened = None
    for key in (old, new):
        try:
            opened = Gallery.open(path, create=False, key=key)
        except WrongKeyError:
            continue
        break
    assert opened is not None, "readable with neither key"
    with opened as g:
        if mode == "stall":
            assert g.encrypted and g._store._cipher.key_id == old.key_id  # rolled back
        assert g.size() == len(vectors)
        matrix = g._store.load_embeddings(None).matrix
    np.testing.assert_array_equal(matrix, vectors)


def test_service_settings_read_the_gallery_key(tmp_path: Path) -> None:
    from faceprint.environment import Environment
    from faceprint.service.settings import ServiceSettings

    key = _key(4)
    env = Environment.read(
        {
            "FACEPRINT_HOME": str(tmp_path),
            "FACEPRINT_GALLERY_KEY": "env:FP_TEST_KEY",
            "FP_TEST_KEY": key.material.hex(),
        }
    )
    settings = ServiceSettings.from_env(env)
    assert settings.gallery_key is not None and settings.gallery_key.key_id == key.key_id
    assert key.material.hex() not in repr(settings)
    with pytest.raises(KeyUnavailableError, match="FP_MISSING"):
        ServiceSettings.from_env(Environment.read({"FACEPRINT_GALLERY_KEY": "env:FP_MISSING"}))
