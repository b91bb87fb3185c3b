"""Shared fixtures: where the shared models and faces are, a real model store, pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.shared_paths import DATASETS, MODELS, SHARED


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip integration tests cleanly when the shared models or data are absent."""
    if MODELS.is_dir() and DATASETS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"shared models/datasets not found at {SHARED}")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory):
    from faceprint.config import StoreConfig
    from faceprint.models.store import ModelStore

    home = tmp_path_factory.mktemp("faceprint-home")
    return ModelStore(StoreConfig(home=home, mirror=str(MODELS), offline=True))


@pytest.fixture(scope="session")
def pipeline(store):
    from faceprint.config import PipelineConfig
    from faceprint.pipeline import FacePipeline

    return FacePipeline.from_config(PipelineConfig(), store=store)


@pytest.fixture(scope="session")
def fused_pipeline(store):
    from faceprint.config import PipelineConfig
    from faceprint.pipeline import FacePipeline

    return FacePipeline.from_config(PipelineConfig(embedder="sface+reid-0095"), store=store)
