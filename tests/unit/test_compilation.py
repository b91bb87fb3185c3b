"""OpenVINO sessions with the compiled-model cache and the remembered batch verdict.

The models are built here with OpenVINO's graph API (no weights from anywhere)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from faceprint.config import StoreConfig
from faceprint.models import compilation, runtime
from faceprint.models.card import parse_catalog
from faceprint.models.runtime import OpenVINOSession
from faceprint.models.store import ModelStore

ov = pytest.importorskip("openvino")
ops = ov.opset13

SHAPE = (1, 3, 4, 4)
KEY_SUFFIX = " f32"


def _save(model: object, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def scaled(path: Path, factor: float, *, batch: int = 1) -> Path:
    """x · factor: any batch works."""
    x = ops.parameter([batch, *SHAPE[1:]], np.float32, name="x")
    y = ops.multiply(x, ops.constant(np.full((1, 3, 1, 1), factor, np.float32)))
    return _save(ov.Model([y], [x], "scaled"), path)


def hard_coded_batch(path: Path) -> Path:
    """Reshape to (-1, 16): with batch 2 its output has 6 rows, not 2 × 3."""
    x = ops.parameter(list(SHAPE), np.float32, name="x")
    y = ops.reshape(x, ops.constant(np.array([-1, 16], np.int64)), special_zero=False)
    return _save(ov.Model([y], [x], "hard"), path)


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """Each compile: what was compiled (a path or a model) and whether the cache was on."""
    calls: list[tuple[str, bool]] = []
    real = compilation.Compiler.compile

    def spy(self: compilation.Compiler, model: object) -> object:
        calls.append(("path" if isinstance(model, str) else "model", self._entry is not None))
        return real(self, model)

    monkeypatch.setattr(compilation.Compiler, "compile", spy)
    return calls


def _batch(n: int = 3) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (n, *SHAPE[1:])).astype(np.float32)


def _verdicts(cache: Path) -> list[dict[str, str]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(cache.glob("*/batch.json"))]


def test_the_verdict_is_remembered_and_later_loads_compile_once(tmp_path, compiles):
    model = scaled(tmp_path / "m" / "scaled.xml", 2.0)
    cache = tmp_path / "cache"
    first = OpenVINOSession(model, threads=1, cache_dir=cache)
    assert compiles == [("path", True), ("model", True)]  # static + dynamic, then the probe
    [verdict] = _verdicts(cache)
    assert list(verdict.values()) == ["reshape"]
    assert next(iter(verdict)).endswith(KEY_SUFFIX)
    assert list(cache.glob("*/*.blob"))  # OpenVINO's compiled models are kept
    compiles.clear()
    again = OpenVINOSession(model, threads=1, cache_dir=cache)
    assert compiles == [("model", True)]  # the dynamic variant only, no probe
    batch = _batch()
    want = OpenVINOSession(model, threads=1).run(batch)[0]
    np.testing.assert_allclose(first.run(batch)[0], batch * 2.0, rtol=1e-6)
    np.testing.assert_array_equal(again.run(batch)[0], want)


def test_a_model_whose_batch_cannot_change_runs_item_by_item_from_the_cache(tmp_path, compiles):
    model = hard_coded_batch(tmp_path / "m" / "hard.xml")
    cache = tmp_path / "cache"
    OpenVINOSession(model, threads=1, cache_dir=cache)
    assert [list(v.values()) for v in _verdicts(cache)] == [["as_is"]]
    compiles.clear()
    again = OpenVINOSession(model, threads=1, cache_dir=cache)
    assert compiles == [("path", True)]  # compiled by path: OpenVINO imports its blob
    batch = _batch()
    assert again.run(batch)[0].shape == (9, 16)  # three items of (3, 16)
    np.testing.assert_array_equal(again.run(batch)[0], batch.reshape(9, 16))


def test_a_dynamic_model_is_compiled_by_path_once_it_is_known(tmp_path, compiles):
    x = ops.parameter([-1, *SHAPE[1:]], np.float32, name="x")
    model = _save(ov.Model([ops.relu(x)], [x], "dyn"), tmp_path / "m" / "dyn.xml")
    cache = tmp_path / "cache"
    OpenVINOSession(model, threads=1, cache_dir=cache)
    compiles.clear()
    session = OpenVINOSession(model, threads=1, cache_dir=cache)
    assert compiles == [("path", True)]
    assert session.run(_batch(5))[0].shape == (5, *SHAPE[1:])


@pytest.mark.parametrize("garbage", ["{broken", "[1, 2]", '{"x": ["reshape"]}', ""])
def test_a_corrupt_verdict_is_ignored_and_rewritten(tmp_path, compiles, garbage):
    model = scaled(tmp_path / "m" / "scaled.xml", 2.0)
    cache = tmp_path / "cache"
    OpenVINOSession(model, threads=1, cache_dir=cache)
    [record] = cache.glob("*/batch.json")
    record.write_text(garbage, "utf-8")
    compiles.clear()
    session = OpenVINOSession(model, threads=1, cache_dir=cache)
    assert compiles == [("path", True), ("model", True)]  # probed again
    assert "reshape" in json.loads(record.read_text("utf-8")).values()
    np.testing.assert_allclose(session.run(_batch())[0], _batch() * 2.0, rtol=1e-6)
    assert not list(cache.glob("*/*.incomplete"))


def test_a_changed_model_file_is_never_served_from_the_old_cache(tmp_path):
    """OpenVINO keys a model compiled by path by the path: the entry's name must change."""
    cache = tmp_path / "cache"
    path = tmp_path / "m" / "scaled.xml"
    scaled(path, 2.0)
    batch = _batch()
    np.testing.assert_allclose(OpenVINOSession(path, cache_dir=cache).run(batch)[0], batch * 2)
    OpenVINOSession(path, cache_dir=cache)  # now loaded from the cache
    [old_entry] = cache.iterdir()
    st = path.with_suffix(".bin").stat()
    time.sleep(0.05)
    scaled(path, 3.0)  # same sizes; put the old mtimes back
    os.utime(path.with_suffix(".bin"), ns=(st.st_atime_ns, st.st_mtime_ns))
    np.testing.assert_allclose(OpenVINOSession(path, cache_dir=cache).run(batch)[0], batch * 3)
    [new_entry] = cache.iterdir()  # the outdated entry was deleted
    assert new_entry != old_entry


def test_a_cache_dir_that_cannot_be_created_means_no_cache(tmp_path, compiles, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    model = scaled(tmp_path / "m" / "scaled.xml", 2.0)
    with caplog.at_level("DEBUG", logger="faceprint.models.compilation"):
        session = OpenVINOSession(model, threads=1, cache_dir=blocker / "cache")
    assert compiles == [("model", False), ("model", False)]
    assert any("no compiled-model cache" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(session.run(_batch())[0], _batch() * 2.0, rtol=1e-6)


def test_a_cache_that_fails_while_compiling_is_dropped(tmp_path, compiles, monkeypatch):
    model = scaled(tmp_path / "m" / "scaled.xml", 2.0)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    broken = compilation.ModelCacheEntry(blocker / "entry")  # OpenVINO cannot create it
    monkeypatch.setattr(runtime, "cache_entry", lambda cache_dir, path: broken)
    session = OpenVINOSession(model, threads=1, cache_dir=tmp_path / "cache")
    assert compiles[0] == ("path", True)
    assert all(not cached for _, cached in compiles[1:])
    np.testing.assert_allclose(session.run(_batch())[0], _batch() * 2.0, rtol=1e-6)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_a_read_only_cache_is_still_used(tmp_path, compiles):
    model = scaled(tmp_path / "m" / "scaled.xml", 2.0)
    cache = tmp_path / "cache"
    OpenVINOSession(model, threads=1, cache_dir=cache)
    [entry] = cache.iterdir()
    for d in (entry, cache):
        d.chmod(0o555)
    try:
        compiles.clear()
        session = OpenVINOSession(model, threads=1, cache_dir=cache)
        assert compiles == [("model", True)]
        np.testing.assert_allclose(session.run(_batch())[0], _batch() * 2.0, rtol=1e-6)
    finally:
        for d in (cache, entry):
            d.chmod(0o755)


def test_the_store_keeps_the_cache_under_its_models_directory(tmp_path):
    store = ModelStore(StoreConfig(home=tmp_path / "home"), catalog=parse_catalog(""))
    assert store.session_cache_dir == (tmp_path / "home").resolve() / "models" / ".ov-cache"


def test_openvino_loads_without_its_model_converter():
    code = (
        "import sys\n"
        "from faceprint.models.runtime import _openvino_core\n"
        "_openvino_core()\n"
        "import openvino\n"
        "print('openvino.tools.ovc' in sys.modules, callable(openvino.convert_model))\n"
        "from openvino.tools.ovc import convert_model\n"
        "print(callable(convert_model))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]
