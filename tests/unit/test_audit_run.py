"""The audit job's pure parts: target and face-space choices, the response modes'
service settings, and the Markdown report (no weights)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import AuditError, DatasetError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.eval.audit.report import markdown
from faceprint.eval.audit.run import MODES, choose_targets, space_images
from faceprint.service.audit import mode_settings
from faceprint.service.settings import ServiceSettings


def _set(counts: dict[str, int]) -> AuditSet:
    paths, persons = [], []
    for person, n in counts.items():
        for i in range(n):
            paths.append(f"{person}/{person}_{i + 1:04d}.jpg")
            persons.append(person)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((len(paths), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return AuditSet(
        model_id="m",
        paths=tuple(paths),
        persons=tuple(persons),
        vectors=vectors,
        gender=("male",) * len(paths),
        age=np.full(len(paths), 40.0, dtype=np.float32),
    )


def test_targets_have_three_photos_and_are_seeded() -> None:
    faces = _set({"a": 1, "b": 3, "c": 5, "d": 2, "e": 4})
    picked = choose_targets(faces, Path("/r"), 2, seed=1)
    assert {t.person for t in picked} <= {"b", "c", "e"}
    assert picked == choose_targets(faces, Path("/r"), 2, seed=1)
    for t in picked:
        assert t.enrolled == Path("/r") / f"{t.person}/{t.person}_0001.jpg"
        assert len(t.references) >= 3 and t.enrolled in t.references
    with pytest.raises(DatasetError, match="three or more"):
        choose_targets(faces, Path("/r"), 4)


def test_the_face_space_never_sees_the_targets_and_spreads_over_people() -> None:
    faces = _set({"a": 1, "b": 3, "c": 5, "d": 2})
    photos = space_images(faces, Path("/r"), ["c"], limit=3, seed=0)
    assert len(photos) == 3 and not any("/c/" in str(p) for p in photos)
    assert {p.parent.name for p in photos} == {"a", "b", "d"}  # one per person first


def test_each_mode_sets_the_service_up_as_named(tmp_path) -> None:
    base = ServiceSettings(gallery_path=tmp_path / "g.db", keys_path=tmp_path / "k.db")
    exact = mode_settings(base, "exact")
    assert exact.score_decimals is None and exact.daily_budget is None and not exact.hill_climb
    assert mode_settings(base, "rounded").score_decimals == 2
    assert mode_settings(base, "decision").responses == "decision"
    detector = mode_settings(base, "detector")
    assert detector.hill_climb and detector.target_budget is None and detector.daily_budget
    assert mode_settings(base, "defaults") == base
    assert set(MODES) == {"exact", "rounded", "decision", "detector", "defaults"}
    with pytest.raises(AuditError, match="unknown response mode"):
        mode_settings(base, "loud")


def test_markdown_renders_the_parts_present() -> None:
    report = {
        "date": "2026-12-02",
        "model_id": "sface",
        "dataset": {"name": "lfw", "faces": 10, "identities": 4},
        "thresholds": {"default (FMR 1e-3)": {"similarity": 0.37, "fmr": 1e-3}},
        "nonface": {
            "inputs": 5,
            "drawn_inputs": 1,
            "false_detections": 2,
            "inputs_with_false_detections": 1,
            "drawn_detections": 0,
            "false_matches": {"default (FMR 1e-3)": 1},
            "drawn_matches": {},
            "thresholds": {"default (FMR 1e-3)": 0.37},
        },
    }
    text = markdown(report)
    assert "# Security audit: sface" in text and "## Non-face" in text
    assert "## Master embeddings" not in text
    assert "| default (FMR 1e-3) | 1 | 0 |" in text
