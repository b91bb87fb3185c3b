"""The real catalog against the shared model mirror: offline, every file fetched from the
mirror directory and verified, and the SFace transform producing a batched float model."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from tests.shared_paths import MODELS

from faceprint.config import StoreConfig
from faceprint.models.card import load_catalog
from faceprint.models.store import ModelStore, sha256_file

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not MODELS.is_dir(), reason=f"shared model mirror not found at {MODELS}"),
]

CATALOG = load_catalog()
WITH_FILES = sorted(name for name, card in CATALOG.items() if card.files)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    home = tmp_path_factory.mktemp("faceprint-home")
    return ModelStore(StoreConfig(home=home, mirror=str(MODELS), offline=True), catalog=CATALOG)


@pytest.fixture(scope="module")
def ensured(store: ModelStore) -> dict[str, Path]:
    return {name: store.ensure(name, accept_licence=True) for name in WITH_FILES}


def test_the_catalog_has_models_with_files():
    assert {"yunet", "sface", "reid-0095", "landmarks-0009", "scrfd-2.5g"} <= set(WITH_FILES)


@pytest.mark.parametrize("name", WITH_FILES)
def test_every_card_is_fetched_from_the_mirror_and_verified(store, ensured, name):
    card = CATALOG[name]
    path = ensured[name]
    assert path == store.local_path(name)
    assert path.is_file()
    for f in card.files:
        cached = store.root / "models" / f.path
        assert cached.stat().st_size == f.size
        assert sha256_file(cached) == f.sha256 == sha256_file(MODELS / f.path)
    assert store.is_cached(name)


def test_verify_reports_everything_ok(store, ensured):
    statuses = [s for name in CATALOG for s in store.verify(name)]
    assert statuses
    assert {s.state for s in statuses} == {"ok"}
    assert all(s.actual_sha256 == s.expected_sha256 for s in statuses)
    assert not list(store.root.rglob("*.incomplete"))


def test_fused_template_is_ensured_through_its_components(store, ensured):
    assert store.ensure("sface+reid-0095") == store.root
    assert store.is_cached("sface+reid-0095")


def test_sface_transform_output_is_a_batched_float_model(store, ensured):
    import onnxruntime as ort

    card = CATALOG["sface"]
    assert card.transform is not None
    out = ensured["sface"]
    assert out == store.root / "models" / card.transform.output
    sidecar = json.loads(out.with_name(out.name + ".json").read_text("utf-8"))
    assert sidecar == {
        "sha256": sha256_file(out),
        "source_sha256": card.files[0].sha256,
        "transform": card.transform.kind,
    }

    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    [inp] = session.get_inputs()
    assert not isinstance(inp.shape[0], int)  # symbolic batch dimension
    assert list(inp.shape[1:]) == [3, 112, 112]
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, size=(3, 3, 112, 112)).astype(np.float32)
    [emb] = session.run(None, {inp.name: batch})
    assert emb.shape == (3, 128)
    assert emb.dtype == np.float32
    # batching does not change the numbers
    single = np.concatenate([session.run(None, {inp.name: batch[i : i + 1]})[0] for i in range(3)])
    np.testing.assert_allclose(emb, single, rtol=1e-4, atol=1e-4)


def test_second_store_reuses_the_transform_output(store, ensured, caplog):
    out = ensured["sface"]
    before = out.stat().st_mtime_ns
    again = ModelStore(store.config, catalog=CATALOG)
    with caplog.at_level(logging.INFO, logger="faceprint.models"):
        assert again.ensure("sface") == out
    assert out.stat().st_mtime_ns == before
    assert not any("transform" in r.getMessage() for r in caplog.records)
