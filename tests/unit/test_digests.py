"""The store's cross-process digest record (models/.verified.json): a warm start hashes
nothing, a changed file is hashed again, a bad or unwritable record is only a cache miss."""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from pathlib import Path

import pytest

from faceprint.config import StoreConfig
from faceprint.errors import ChecksumMismatchError
from faceprint.models import digests as digests_module
from faceprint.models.card import parse_catalog
from faceprint.models.digests import RECORD_NAME, DigestCache
from faceprint.models.store import ModelStore

DATA = random.Random(7).randbytes(30_000)
PATH = "pack/model.onnx"
CATALOG = parse_catalog(
    f"""
[models.m]
task = "detection"
licence = "MIT"
commercial = true
[[models.m.files]]
path = "{PATH}"
sha256 = "{hashlib.sha256(DATA).hexdigest()}"
size = {len(DATA)}
"""
)


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    mirror = tmp_path / "mirror"
    (mirror / "pack").mkdir(parents=True)
    (mirror / PATH).write_bytes(DATA)
    return ModelStore(
        StoreConfig(home=tmp_path / "home", mirror=str(mirror), offline=True), catalog=CATALOG
    )


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the files hashed; the per-process memory starts empty (a new process)."""
    monkeypatch.setattr(digests_module, "_SEEN", {})
    calls: list[int] = []
    real = digests_module.sha256_stream

    def spy(fh: object) -> str:
        calls.append(1)
        return real(fh)  # type: ignore[arg-type]

    monkeypatch.setattr(digests_module, "sha256_stream", spy)
    return calls


def _new_process(store: ModelStore) -> ModelStore:
    digests_module._SEEN.clear()
    return ModelStore(store.config, catalog=CATALOG)


def _record(store: ModelStore) -> dict[str, object]:
    record = json.loads((store.root / "models" / RECORD_NAME).read_text("utf-8"))
    assert isinstance(record, dict)
    return record


def test_a_warm_start_hashes_nothing(store, hashed):
    path = store.ensure("m")  # copied and hashed on the way, not re-read
    assert hashed == []
    entry = _record(store)["files"][PATH]  # type: ignore[index]
    st = path.stat()
    assert entry == {
        "sha256": hashlib.sha256(DATA).hexdigest(),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
    }
    for _ in range(3):
        assert _new_process(store).ensure("m") == path
        assert _new_process(store).is_cached("m")
    assert hashed == []
    assert [s.state for s in _new_process(store).verify("m")] == ["ok"]
    assert hashed == [1]  # verify always reads the bytes


def test_a_file_changed_in_place_is_hashed_again_even_with_size_and_mtime_kept(store, hashed):
    path = store.ensure("m")
    st = path.stat()
    time.sleep(0.05)  # past the kernel's timestamp granularity
    changed = bytearray(DATA)
    changed[5000] ^= 0xFF
    path.write_bytes(bytes(changed))  # same size, same inode
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back; ctime moves on
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    with pytest.raises(ChecksumMismatchError, match="--force"):
        _new_process(store).ensure("m")
    assert hashed == [1]
    assert not _new_process(store).is_cached("m")
    assert _new_process(store).ensure("m", force=True).read_bytes() == DATA
    assert _new_process(store).is_cached("m")


def test_a_replaced_file_is_hashed_again(store, hashed):
    path = store.ensure("m")
    other = path.with_name("other")
    other.write_bytes(DATA[::-1])
    st = path.stat()
    os.utime(other, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(other, path)  # same size and mtime, new inode
    with pytest.raises(ChecksumMismatchError):
        _new_process(store).ensure("m")
    assert hashed == [1]


@pytest.mark.parametrize(
    "garbage",
    ["{not json", "[]", '{"version": 1, "files": []}', '{"version": 99, "files": {}}', ""],
)
def test_a_corrupt_record_is_ignored_and_rewritten(store, hashed, garbage):
    store.ensure("m")
    record = store.root / "models" / RECORD_NAME
    record.write_text(garbage, "utf-8")
    path = _new_process(store).ensure("m")
    assert hashed == [1]
    entry = _record(store)["files"][PATH]  # type: ignore[index]
    assert entry["sha256"] == hashlib.sha256(DATA).hexdigest()
    _new_process(store).ensure("m")
    assert hashed == [1]
    assert path.read_bytes() == DATA


def test_a_wrong_entry_in_the_record_is_not_trusted(store, hashed):
    path = store.ensure("m")
    record = _record(store)
    record["files"][PATH]["sha256"] = "0" * 64  # type: ignore[index]
    record["files"][PATH]["size"] += 1  # type: ignore[index]
    (store.root / "models" / RECORD_NAME).write_text(json.dumps(record), "utf-8")
    assert _new_process(store).ensure("m") == path
    assert hashed == [1]


def test_an_unwritable_record_costs_a_hash_per_process_and_nothing_else(store, hashed):
    # a directory in the way: the record can be neither read nor replaced
    (store.root / "models" / RECORD_NAME).mkdir(parents=True)
    path = store.ensure("m")
    assert path.read_bytes() == DATA
    assert _new_process(store).ensure("m") == path
    assert hashed == [1]
    leftovers = [p.name for p in (store.root / "models").iterdir()]
    assert sorted(leftovers) == [RECORD_NAME, "pack"]  # no *.incomplete left behind


def test_clear_forgets_the_files(store):
    store.ensure("m")
    store.clear("m")
    assert _record(store)["files"] == {}
    assert not store.is_cached("m")


def test_files_outside_the_root_are_remembered_per_process_only(tmp_path, hashed):
    cache = DigestCache(tmp_path / "root")
    outside = tmp_path / "elsewhere.bin"
    outside.write_bytes(b"abc")
    assert cache.digest(outside) == hashlib.sha256(b"abc").hexdigest()
    assert cache.digest(outside) == hashlib.sha256(b"abc").hexdigest()
    assert hashed == [1]
    assert not (tmp_path / "root").exists()
    assert cache.digest(tmp_path / "missing") is None
