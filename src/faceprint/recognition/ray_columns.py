"""What crosses the wire between the Ray driver and its actors: plain columns and dicts.

Candidates go out as plain arrays (strings, numbers, float32 embedding rows) and come
back as :class:`~faceprint.recognition.enroll.Candidate`; settings travel as dicts of
plain values. Nothing here imports Ray; no faceprint object is pickled.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint import errors
from faceprint.config import PipelineConfig, StoreConfig
from faceprint.core.quality import QualityPolicy
from faceprint.recognition.enroll import (
    Candidate,
)
from faceprint.types import Detection, Embedding, FaceIssue, Liveness


def _columns(candidates: Sequence[Candidate], dimension: int) -> dict[str, NDArray[Any]]:
    """Candidates as plain arrays (strings, numbers, float32 embedding rows)."""
    n = len(candidates)
    bbox = np.zeros((n, 4), dtype=np.float64)
    landmarks = np.zeros((n, 10), dtype=np.float64)
    embedding = np.zeros((n, dimension), dtype=np.float32)
    live = np.full((n, 2), np.nan, dtype=np.float64)  # score, threshold
    for row, c in enumerate(candidates):
        if c.detection is not None and c.embedding is not None:
            bbox[row] = c.detection.bbox_xyxy
            landmarks[row] = np.asarray(c.detection.landmarks_5, dtype=np.float64).reshape(10)
            embedding[row] = c.embedding.vector
        if c.liveness is not None:
            live[row] = (c.liveness.score, c.liveness.threshold)
    return {
        "index": np.array([c.index for c in candidates], dtype=np.int64),
        "sha256": np.array([c.sha256 or "" for c in candidates], dtype=object),
        "faces": np.array([c.faces_in_image for c in candidates], dtype=np.int32),
        "face": np.array(
            [c.detection is not None and c.embedding is not None for c in candidates],
            dtype=bool,
        ),
        "bbox": bbox,
        "score": np.array(
            [c.detection.score if c.detection is not None else 0.0 for c in candidates],
            dtype=np.float64,
        ),
        "landmarks": landmarks,
        "issues": np.array(
            [",".join(c.detection.issues) if c.detection is not None else "" for c in candidates],
            dtype=object,
        ),
        "embedding": embedding,
        "live": np.array(
            [c.liveness is not None and c.liveness.is_live for c in candidates], dtype=bool
        ),
        "liveness": live,
        "quality_reasons": np.array(
            [",".join(c.quality_reasons) for c in candidates], dtype=object
        ),
        "error_code": np.array([c.error_code or "" for c in candidates], dtype=object),
        "error_message": np.array([c.error_message for c in candidates], dtype=object),
        "fatal": np.zeros(n, dtype=bool),
    }


def _failure_columns(indices: NDArray[np.int64], code: str, message: str) -> dict[str, Any]:
    """A block whose every row says the actor cannot work (the driver raises it)."""
    failed = [Candidate(int(i), "", None, error_code=code, error_message=message) for i in indices]
    columns = _columns(failed, 0)
    columns["fatal"] = np.ones(len(failed), dtype=bool)
    return columns


def _candidates(
    block: dict[str, NDArray[Any]], names: Sequence[str], model_id: str
) -> list[Candidate]:
    """An actor's output block back into candidates (raises the error it reports for
    an actor that could not work)."""
    fatal = np.flatnonzero(block["fatal"])
    if fatal.size:
        row = int(fatal[0])
        raise _error_class(str(block["error_code"][row]))(str(block["error_message"][row]))
    out = []
    for row, index in enumerate(int(i) for i in block["index"]):
        code = str(block["error_code"][row])
        detection = embedding = liveness = None
        if bool(block["face"][row]):
            x1, y1, x2, y2 = (float(v) for v in block["bbox"][row])
            p = [(float(x), float(y)) for x, y in np.reshape(block["landmarks"][row], (5, 2))]
            detection = Detection(
                bbox_xyxy=(x1, y1, x2, y2),
                score=float(block["score"][row]),
                landmarks_5=(p[0], p[1], p[2], p[3], p[4]),
                issues=tuple(FaceIssue(i) for i in str(block["issues"][row]).split(",") if i),
            )
            vector = np.ascontiguousarray(block["embedding"][row], dtype=np.float32)
            embedding = Embedding(vector=vector, model_id=model_id)
        score, threshold = (float(v) for v in block["liveness"][row])
        if not math.isnan(score):
            liveness = Liveness(score=score, is_live=bool(block["live"][row]), threshold=threshold)
        reasons = str(block["quality_reasons"][row])
        out.append(
            Candidate(
                index=index,
                source=names[index],
                sha256=str(block["sha256"][row]) or None,
                faces_in_image=int(block["faces"][row]),
                detection=detection,
                embedding=embedding,
                liveness=liveness,
                quality_reasons=tuple(r for r in reasons.split(",") if r),
                error_code=code or None,
                error_message=str(block["error_message"][row]),
            )
        )
    return out


def _error_class(code: str) -> type[errors.FaceprintError]:
    """The :mod:`faceprint.errors` class with this ``code`` (the root one if none)."""
    pending: list[type[errors.FaceprintError]] = [errors.FaceprintError]
    while pending:
        cls = pending.pop()
        if cls.code == code and cls.__module__ == errors.__name__:
            return cls
        pending.extend(cls.__subclasses__())
    return errors.FaceprintError


def _plain(settings: Any) -> dict[str, Any]:
    """A settings dataclass as builtins (paths as strings, sets as sorted lists)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, frozenset | set):
            value = sorted(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def _pipeline_config(plain: dict[str, Any]) -> PipelineConfig:
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()}
    return PipelineConfig(**fields)


def _store_config(plain: dict[str, Any]) -> StoreConfig:
    home = plain.get("home")
    return StoreConfig(
        home=Path(home) if home else None,
        mirror=plain.get("mirror"),
        offline=bool(plain.get("offline")),
        accept_licences=frozenset(plain.get("accept_licences") or ()),
    )


def _quality_policy(plain: dict[str, Any]) -> QualityPolicy:
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in plain.items()}
    return QualityPolicy(**fields)


# --- the driver's side ----------------------------------------------------------------
