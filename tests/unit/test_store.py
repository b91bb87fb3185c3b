"""The model store: mirror directory / URL / official URL, sha256, atomic writes, locks,
licences, transforms and fused cards. No real weights; the only network is 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from faceprint.config import StoreConfig
from faceprint.errors import (
    ChecksumMismatchError,
    LicenceNotAcceptedError,
    ModelError,
    ModelNotAvailableError,
    UnknownModelError,
)
from faceprint.models import digests as digests_module
from faceprint.models import fetcher as fetcher_module
from faceprint.models.card import Catalog, parse_catalog
from faceprint.models.store import FileStatus, ModelStore
from faceprint.models.transforms import TRANSFORMS

# --- test data -------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    path: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)


def _blob(path: str, size: int, seed: int) -> Blob:
    return Blob(path, random.Random(seed).randbytes(size))


ALPHA = _blob("pack/alpha.onnx", 25_000, 1)
BETA_XML = _blob("pack/beta/beta.xml", 3_000, 2)
BETA_BIN = _blob("pack/beta/beta.bin", 7_000, 3)
RESEARCH = _blob("research/model.onnx", 4_000, 4)
REV_SRC = _blob("pack/rev_int8.onnx", 5_000, 5)
BLOBS = (ALPHA, BETA_XML, BETA_BIN, RESEARCH, REV_SRC)
NOTICE = "These weights are for non-commercial research only."
RECORD = "models/.verified.json"  # the store's cross-process digest record


def _files(card: str, blobs: tuple[Blob, ...], official: Callable[[Blob], str]) -> str:
    return "".join(
        f'\n[[models."{card}".files]]\npath = "{b.path}"\nsha256 = "{b.sha256}"\n'
        f'size = {b.size}\nurl = "{official(b)}"\n'
        for b in blobs
    )


def make_catalog(official_base: str | None = None) -> Catalog:
    """A tiny catalog over BLOBS; ``official_base`` gives every file an official URL."""

    def official(b: Blob) -> str:
        return f"{official_base}/{Path(b.path).name}" if official_base else ""

    text = f"""
[models.alpha]
task = "detection"
licence = "MIT"
commercial = true
{_files("alpha", (ALPHA,), official)}

[models.beta]
task = "landmarks"
licence = "Apache-2.0"
commercial = true
entry = "{BETA_XML.path}"
{_files("beta", (BETA_XML, BETA_BIN), official)}

[models.research]
task = "detection"
licence = "research only"
commercial = false
notice = "{NOTICE}"
{_files("research", (RESEARCH,), official)}

[models.rev]
task = "embedding"
licence = "MIT"
commercial = true
transform = {{ kind = "reverse", source = "{REV_SRC.path}", output = "derived/rev.bin" }}
{_files("rev", (REV_SRC,), official)}

[models.bad-transform]
task = "embedding"
licence = "MIT"
commercial = true
transform = {{ kind = "no-such-transform", source = "{REV_SRC.path}", output = "derived/x.bin" }}
{_files("bad-transform", (REV_SRC,), official)}

[models.fused]
task = "embedding"
licence = "MIT"
commercial = true
runtime = "none"
components = ["alpha", "beta"]
weights = [0.5, 0.5]
"""
    return parse_catalog(text)


def _write(root: Path, blobs: tuple[Blob, ...] = BLOBS, *, flat: bool = False) -> Path:
    for b in blobs:
        target = root / (Path(b.path).name if flat else b.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b.data)
    return root


def _leftovers(home: Path) -> list[str]:
    return sorted(
        str(p.relative_to(home))
        for p in home.rglob("*")
        if p.name.endswith(".incomplete") or (p.is_file() and not p.name.endswith(".lock"))
    )


def _touch_later(path: Path) -> None:
    """Give a rewritten file a clearly newer mtime (as a later corruption would have)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    return _write(tmp_path / "mirror")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def _store(home: Path, catalog: Catalog | None = None, **config: Any) -> ModelStore:
    return ModelStore(StoreConfig(home=home, **config), catalog=catalog or make_catalog())


# --- a local HTTP server standing in for a mirror URL and the official hosts ------------


@dataclass
class Server:
    base: str
    root: Path
    requests: list[str]

    def hits(self, suffix: str) -> int:
        return sum(r.endswith(suffix) for r in self.requests)


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}", root, requests)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --- mirror directory ------------------------------------------------------------------


def test_copies_from_the_mirror_directory_and_verifies(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    path = store.ensure("alpha")
    assert path == home.resolve() / "models" / "pack" / "alpha.onnx"
    assert path.read_bytes() == ALPHA.data
    assert store.local_path("alpha") == path
    assert store.root == home.resolve()
    assert store.is_cached("alpha")
    assert store.verify("alpha") == [FileStatus(ALPHA.path, ALPHA.sha256, ALPHA.sha256, "ok")]
    assert store.ensure("alpha") == path  # cached: no second copy
    assert _leftovers(home) == [RECORD, "models/pack/alpha.onnx"]


def test_entry_is_the_named_file_and_all_files_are_fetched(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    path = store.ensure("beta")
    assert path == store.root / "models" / BETA_XML.path
    assert (store.root / "models" / BETA_BIN.path).read_bytes() == BETA_BIN.data
    assert [s.state for s in store.verify("beta")] == ["ok", "ok"]


def test_verify_fetches_nothing(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    assert store.verify("beta") == [
        FileStatus(BETA_XML.path, BETA_XML.sha256, None, "missing"),
        FileStatus(BETA_BIN.path, BETA_BIN.sha256, None, "missing"),
    ]
    assert not store.is_cached("beta")
    assert _leftovers(home) == []


def test_offline_without_a_mirror_is_not_available(home):
    store = _store(home, offline=True)
    with pytest.raises(ModelNotAvailableError) as info:
        store.ensure("alpha")
    message = str(info.value)
    assert ALPHA.path in message
    assert "FACEPRINT_MODEL_MIRROR" in message
    assert "FACEPRINT_OFFLINE" in message
    assert isinstance(info.value, FileNotFoundError)
    assert _leftovers(home) == []


def test_mirror_directory_as_a_file_url(home, mirror):
    store = _store(home, mirror=mirror.as_uri(), offline=True)
    assert store.ensure("alpha").read_bytes() == ALPHA.data


def test_mirror_directory_without_the_file_is_not_available(home, tmp_path):
    store = _store(home, mirror=str(tmp_path / "empty"), offline=True)
    with pytest.raises(ModelNotAvailableError, match="mirror directory"):
        store.ensure("alpha")


def test_wrong_bytes_in_the_mirror_raise_and_leave_nothing(home, mirror, server):
    _write(server.root, flat=True)  # the official URL would serve good bytes
    tampered = bytearray(ALPHA.data)
    tampered[100] ^= 0xFF
    (mirror / ALPHA.path).write_bytes(bytes(tampered))
    store = _store(home, make_catalog(server.base), mirror=str(mirror))
    with pytest.raises(ChecksumMismatchError) as info:
        store.ensure("alpha")
    message = str(info.value)
    assert ALPHA.path in message
    assert str(mirror / ALPHA.path) in message
    assert ALPHA.sha256 in message
    assert hashlib.sha256(tampered).hexdigest() in message
    assert server.requests == []  # no silent fallback to the official URL
    assert _leftovers(home) == []
    assert isinstance(info.value, ValueError)


def test_truncated_file_in_the_mirror_is_a_size_mismatch(home, mirror):
    (mirror / ALPHA.path).write_bytes(ALPHA.data[:-10])
    store = _store(home, mirror=str(mirror), offline=True)
    with pytest.raises(ChecksumMismatchError, match="size"):
        store.ensure("alpha")
    assert _leftovers(home) == []


def test_oversized_file_in_the_mirror_is_a_size_mismatch(home, mirror):
    (mirror / ALPHA.path).write_bytes(ALPHA.data + b"extra")
    store = _store(home, mirror=str(mirror), offline=True)
    with pytest.raises(ChecksumMismatchError, match="size"):
        store.ensure("alpha")
    assert _leftovers(home) == []


def test_corrupted_cached_file_is_detected_and_force_refetches(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    path = store.ensure("alpha")
    corrupted = bytes(reversed(ALPHA.data))
    path.write_bytes(corrupted)
    _touch_later(path)
    with pytest.raises(ChecksumMismatchError) as info:
        store.ensure("alpha")
    assert "faceprint models pull alpha --force" in str(info.value)
    assert ALPHA.sha256 in str(info.value)
    # a fresh store (another process) sees it too
    with pytest.raises(ChecksumMismatchError):
        _store(home, mirror=str(mirror), offline=True).ensure("alpha")
    [status] = store.verify("alpha")
    assert status.state == "mismatch"
    assert status.actual_sha256 == hashlib.sha256(corrupted).hexdigest()
    assert not store.is_cached("alpha")

    assert store.ensure("alpha", force=True) == path
    assert path.read_bytes() == ALPHA.data
    assert store.verify("alpha")[0].state == "ok"


def test_force_fetches_again_even_when_cached(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    calls: list[tuple[int, int, str]] = []
    store.ensure("alpha", progress=lambda *a: calls.append(a))
    assert calls
    calls.clear()
    store.ensure("alpha", progress=lambda *a: calls.append(a))
    assert calls == []
    store.ensure("alpha", force=True, progress=lambda *a: calls.append(a))
    assert calls[-1] == (ALPHA.size, ALPHA.size, ALPHA.path)


def test_progress_reports_increasing_bytes_up_to_the_size(home, mirror, monkeypatch):
    monkeypatch.setattr(fetcher_module, "_CHUNK", 4096)
    calls: list[tuple[int, int, str]] = []
    _store(home, mirror=str(mirror), offline=True).ensure(
        "alpha", progress=lambda *a: calls.append(a)
    )
    done = [c[0] for c in calls]
    assert len(calls) == -(-ALPHA.size // 4096)
    assert done == sorted(set(done))
    assert done[-1] == ALPHA.size
    assert {(c[2], c[1]) for c in calls} == {(ALPHA.path, ALPHA.size)}


def test_cached_files_are_hashed_once_per_process(home, mirror, monkeypatch):
    store = _store(home, mirror=str(mirror), offline=True)
    store.ensure("alpha")
    hashed: list[object] = []
    real = digests_module.sha256_stream
    monkeypatch.setattr(digests_module, "sha256_stream", lambda fh: hashed.append(fh) or real(fh))
    for _ in range(5):
        store.ensure("alpha")
        _store(home, mirror=str(mirror), offline=True).ensure("alpha")
    assert hashed == []


# --- URLs ------------------------------------------------------------------------------


def test_fetches_from_a_mirror_url(home, server, monkeypatch):
    _write(server.root / "mirror")
    monkeypatch.setattr(fetcher_module, "_CHUNK", 4096)
    calls: list[tuple[int, int, str]] = []
    store = _store(home, mirror=f"{server.base}/mirror/")
    path = store.ensure("alpha", progress=lambda *a: calls.append(a))
    assert path.read_bytes() == ALPHA.data
    assert server.requests == [f"/mirror/{ALPHA.path}"]
    assert [c[0] for c in calls] == sorted({c[0] for c in calls})
    assert calls[-1] == (ALPHA.size, ALPHA.size, ALPHA.path)
    assert _leftovers(home) == [RECORD, "models/pack/alpha.onnx"]


def test_offline_refuses_a_mirror_url(home, server):
    _write(server.root / "mirror")
    store = _store(home, mirror=f"{server.base}/mirror", offline=True)
    with pytest.raises(ModelNotAvailableError) as info:
        store.ensure("alpha")
    assert "offline" in str(info.value)
    assert "FACEPRINT_OFFLINE" in str(info.value)
    assert server.requests == []


def test_offline_refuses_the_official_url(home, server, tmp_path):
    _write(server.root, flat=True)
    store = _store(home, make_catalog(server.base), mirror=str(tmp_path / "empty"), offline=True)
    with pytest.raises(ModelNotAvailableError, match="official URL"):
        store.ensure("alpha")
    assert server.requests == []


def test_official_url_when_the_mirror_url_lacks_the_file(home, server):
    (server.root / "mirror").mkdir()  # empty mirror: 404
    _write(server.root / "official", flat=True)
    store = _store(home, make_catalog(f"{server.base}/official"), mirror=f"{server.base}/mirror")
    path = store.ensure("alpha")
    assert path.read_bytes() == ALPHA.data
    assert server.requests == [f"/mirror/{ALPHA.path}", "/official/alpha.onnx"]


def test_official_url_when_the_mirror_directory_lacks_the_file(home, server, tmp_path):
    _write(server.root, flat=True)
    store = _store(home, make_catalog(server.base), mirror=str(tmp_path / "empty"))
    assert store.ensure("alpha").read_bytes() == ALPHA.data
    assert server.requests == ["/alpha.onnx"]


def test_official_url_alone(home, server):
    _write(server.root, flat=True)
    store = _store(home, make_catalog(server.base))
    assert store.ensure("beta").read_bytes() == BETA_XML.data
    assert server.hits("beta.xml") == server.hits("beta.bin") == 1


def test_wrong_bytes_from_a_url_name_the_url(home, server):
    (server.root / "mirror" / "pack").mkdir(parents=True)
    (server.root / "mirror" / ALPHA.path).write_bytes(b"x" * ALPHA.size)
    _write(server.root / "official", flat=True)
    store = _store(home, make_catalog(f"{server.base}/official"), mirror=f"{server.base}/mirror")
    with pytest.raises(ChecksumMismatchError) as info:
        store.ensure("alpha")
    assert f"{server.base}/mirror/{ALPHA.path}" in str(info.value)
    assert server.hits("/official/alpha.onnx") == 0
    assert _leftovers(home) == []


def test_nothing_anywhere_lists_what_was_tried(home, server, tmp_path):
    store = _store(home, make_catalog(server.base), mirror=str(tmp_path / "empty"))
    with pytest.raises(ModelNotAvailableError) as info:
        store.ensure("alpha")
    message = str(info.value)
    assert str(tmp_path / "empty") in message
    assert f"{server.base}/alpha.onnx" in message
    assert "404" in message
    assert "FACEPRINT_MODEL_MIRROR" in message


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.parametrize("shared_store", [True, False], ids=["one-store", "store-per-thread"])
def test_concurrent_ensure_fetches_once(home, server, shared_store):
    _write(server.root / "mirror")
    config = StoreConfig(home=home, mirror=f"{server.base}/mirror")
    catalog = make_catalog()
    one = ModelStore(config, catalog=catalog)
    barrier = threading.Barrier(8)
    results: list[Path] = []
    errors: list[BaseException] = []

    def worker() -> None:
        store = one if shared_store else ModelStore(config, catalog=catalog)
        barrier.wait()
        try:
            path = store.ensure("beta")
            assert path.read_bytes() == BETA_XML.data  # never a torn read
            results.append(path)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(results) == 8 and len(set(results)) == 1
    assert server.hits(BETA_XML.path) == 1
    assert server.hits(BETA_BIN.path) == 1
    assert _leftovers(home) == sorted([RECORD, *(f"models/{b.path}" for b in (BETA_XML, BETA_BIN))])


# --- licences --------------------------------------------------------------------------


def test_non_commercial_model_is_refused_without_opt_in(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    with pytest.raises(LicenceNotAcceptedError) as info:
        store.ensure("research")
    assert NOTICE in str(info.value)
    assert "accept" in str(info.value)
    assert isinstance(info.value, PermissionError)
    assert _leftovers(home) == []


def test_non_commercial_model_with_opt_in_logs_the_notice(home, mirror, caplog):
    store = _store(home, mirror=str(mirror), offline=True)
    with caplog.at_level(logging.WARNING, logger="faceprint.models.store"):
        path = store.ensure("research", accept_licence=True)
    assert path.read_bytes() == RESEARCH.data
    assert any(r.levelno == logging.WARNING and NOTICE in r.getMessage() for r in caplog.records)


def test_non_commercial_model_accepted_in_the_config(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True, accept_licences=frozenset({"research"}))
    assert store.ensure("research").read_bytes() == RESEARCH.data


# --- transforms ------------------------------------------------------------------------


@pytest.fixture
def reverse_calls(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []

    def reverse(source: Path, target: Path) -> None:
        calls.append(source)
        target.write_bytes(source.read_bytes()[::-1])

    monkeypatch.setitem(TRANSFORMS, "reverse", reverse)
    return calls


def _sidecar(store: ModelStore) -> Path:
    return store.root / "models" / "derived" / "rev.bin.json"


def test_transform_runs_once_and_writes_a_sidecar(home, mirror, reverse_calls):
    store = _store(home, mirror=str(mirror), offline=True)
    out = store.ensure("rev")
    assert out == store.root / "models" / "derived" / "rev.bin"
    assert out == store.local_path("rev")
    assert out.read_bytes() == REV_SRC.data[::-1]
    assert json.loads(_sidecar(store).read_text("utf-8")) == {
        "sha256": hashlib.sha256(REV_SRC.data[::-1]).hexdigest(),
        "source_sha256": REV_SRC.sha256,
        "transform": "reverse",
    }
    assert store.ensure("rev") == out
    assert _store(home, mirror=str(mirror), offline=True).ensure("rev") == out
    assert len(reverse_calls) == 1
    assert reverse_calls[0] == store.root / "models" / REV_SRC.path
    assert store.verify("rev") == [FileStatus(REV_SRC.path, REV_SRC.sha256, REV_SRC.sha256, "ok")]
    assert _leftovers(home) == [
        RECORD,
        "models/derived/rev.bin",
        "models/derived/rev.bin.json",
        f"models/{REV_SRC.path}",
    ]


def test_transform_output_that_disagrees_with_its_sidecar_is_remade(
    home, mirror, reverse_calls, caplog
):
    store = _store(home, mirror=str(mirror), offline=True)
    out = store.ensure("rev")
    out.write_bytes(b"garbage")
    _touch_later(out)
    with caplog.at_level(logging.WARNING, logger="faceprint.models.store"):
        assert store.ensure("rev") == out
    assert out.read_bytes() == REV_SRC.data[::-1]
    assert len(reverse_calls) == 2
    assert any("running transform reverse again" in r.getMessage() for r in caplog.records)


def test_sidecar_from_another_source_is_remade(home, mirror, reverse_calls):
    store = _store(home, mirror=str(mirror), offline=True)
    store.ensure("rev")
    record = json.loads(_sidecar(store).read_text("utf-8"))
    _sidecar(store).write_text(json.dumps({**record, "source_sha256": "0" * 64}), "utf-8")
    store.ensure("rev")
    assert len(reverse_calls) == 2
    assert json.loads(_sidecar(store).read_text("utf-8")) == record


def test_missing_sidecar_remakes_the_output(home, mirror, reverse_calls):
    store = _store(home, mirror=str(mirror), offline=True)
    store.ensure("rev")
    _sidecar(store).unlink()
    store.ensure("rev")
    assert len(reverse_calls) == 2
    assert _sidecar(store).is_file()


def test_force_reruns_the_transform(home, mirror, reverse_calls):
    store = _store(home, mirror=str(mirror), offline=True)
    store.ensure("rev")
    store.ensure("rev", force=True)
    assert len(reverse_calls) == 2


def test_concurrent_transform_runs_once(home, mirror, reverse_calls):
    config = StoreConfig(home=home, mirror=str(mirror), offline=True)
    catalog = make_catalog()
    barrier = threading.Barrier(8)
    results: list[Path] = []

    def worker() -> None:
        barrier.wait()
        results.append(ModelStore(config, catalog=catalog).ensure("rev"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 8 and len(set(results)) == 1
    assert len(reverse_calls) == 1


def test_unknown_transform_is_a_model_error_before_fetching(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    with pytest.raises(ModelError, match="no-such-transform"):
        store.ensure("bad-transform")
    assert _leftovers(home) == []


def test_failing_transform_leaves_no_output(home, mirror, monkeypatch):
    def broken(source: Path, target: Path) -> None:
        target.write_bytes(b"half")
        raise RuntimeError("boom")

    monkeypatch.setitem(TRANSFORMS, "reverse", broken)
    store = _store(home, mirror=str(mirror), offline=True)
    with pytest.raises(ModelError, match="boom"):
        store.ensure("rev")
    assert _leftovers(home) == [RECORD, f"models/{REV_SRC.path}"]


# --- fused cards, names, paths ---------------------------------------------------------


def test_fused_card_ensures_its_components(home, mirror):
    store = _store(home, mirror=str(mirror), offline=True)
    assert not store.is_cached("fused")
    assert store.ensure("fused") == store.root
    assert store.local_path("fused") == store.root
    assert [s.path for s in store.verify("fused")] == [ALPHA.path, BETA_XML.path, BETA_BIN.path]
    assert all(s.state == "ok" for s in store.verify("fused"))
    assert store.is_cached("fused")


def test_unknown_model(home):
    store = _store(home, offline=True)
    with pytest.raises(UnknownModelError, match="alpha"):
        store.ensure("nope")
    with pytest.raises(UnknownModelError):
        store.verify("nope")


def test_catalog_paths_cannot_escape_the_cache(home, mirror):
    text = """
[models.evil]
task = "detection"
licence = "MIT"
commercial = true
[[models.evil.files]]
path = "../../etc/evil"
sha256 = "00"
size = 1
"""
    store = ModelStore(StoreConfig(home=home, mirror=str(mirror)), catalog=parse_catalog(text))
    with pytest.raises(ModelError, match="inside the cache"):
        store.ensure("evil")


def test_default_root_is_the_user_cache_dir():
    store = ModelStore(StoreConfig(), catalog=make_catalog())
    assert store.root == Path(platformdirs.user_cache_dir("faceprint")).resolve()
    assert store.local_path("alpha") == store.root / "models" / ALPHA.path


def test_packaged_catalog_is_the_default(home):
    store = ModelStore(StoreConfig(home=home, offline=True))
    assert "sface" in store.catalog
    assert store.local_path("sface").name.endswith(".onnx")
    assert store.local_path("sface").parent.name == "derived"


def test_concurrent_processes_fetch_once(home, server, tmp_path):
    _write(server.root / "mirror")
    catalog_file = tmp_path / "catalog.toml"
    catalog_file.write_text(
        f"""
[models.beta]
task = "landmarks"
licence = "Apache-2.0"
commercial = true
entry = "{BETA_XML.path}"
{_files("beta", (BETA_XML, BETA_BIN), lambda b: "")}
""",
        "utf-8",
    )
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from faceprint.config import StoreConfig
        from faceprint.models.card import load_catalog
        from faceprint.models.store import ModelStore
        store = ModelStore(
            StoreConfig(home=Path({str(home)!r}), mirror={server.base + "/mirror"!r}),
            catalog=load_catalog({str(catalog_file)!r}),
        )
        print(store.ensure("beta"))
        """
    )
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outs
    assert {o[0].decode().strip() for o in outs} == {str(home.resolve() / "models" / BETA_XML.path)}
    assert server.hits(BETA_XML.path) == 1
    assert server.hits(BETA_BIN.path) == 1


def test_unwritable_cache_is_a_model_error(tmp_path, mirror):
    home = tmp_path / "not-a-dir"
    home.write_text("a file where the cache should be")
    store = _store(home, mirror=str(mirror), offline=True)
    with pytest.raises(ModelError, match="FACEPRINT_HOME"):
        store.ensure("alpha")
