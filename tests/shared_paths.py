"""Where the shared model mirror and face data are (``FACEPRINT_SHARED`` or ../shared)."""

from __future__ import annotations

import os
from pathlib import Path


def _shared() -> Path:
    env = os.environ.get("FACEPRINT_SHARED")
    return Path(env) if env else (Path(__file__).resolve().parents[1] / ".." / "shared").resolve()


SHARED = _shared()
MODELS = SHARED / "models"
DATASETS = SHARED / "datasets"
SAMPLES = DATASETS / "samples"
LFW = DATASETS / "lfw"
