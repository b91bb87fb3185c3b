"""The fairness audit, fits and held-out protocol on synthetic faces with known structure
(no weights): group "a" is crowded (its people look alike, so its impostors score
higher), group "b" is spread out."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import DatasetError, UsageError
from faceprint.eval.audit.dataset import AuditSet
from faceprint.eval.datasets import Pair
from faceprint.eval.fairness.audit import audit_fairness
from faceprint.eval.fairness.fit import (
    fit_centroid_shift,
    fit_faircal,
    fit_group_thresholds,
    impostor_histograms,
)
from faceprint.eval.fairness.groups import GroupLabels, age_band, predicted_groups, read_groups_csv
from faceprint.eval.fairness.heldout import fitter, held_out_mitigations


def _faces(people: int = 240, per: int = 3, seed: int = 0) -> tuple[AuditSet, list[str]]:
    rng = np.random.default_rng(seed)
    dim = 16
    mean_a = rng.normal(size=dim)
    mean_a /= np.linalg.norm(mean_a)
    paths, persons, vectors, groups = [], [], [], []
    for p in range(people):
        group = "a" if p % 2 == 0 else "b"
        centre = rng.normal(size=dim) + (2.2 * mean_a if group == "a" else 0.0)
        centre /= np.linalg.norm(centre)
        count = per if p % 5 else 1  # every fifth person has one image (1:N non-mated)
        for i in range(count):
            v = centre + rng.normal(scale=0.12, size=dim)
            vectors.append(v / np.linalg.norm(v))
            persons.append(f"P{p:03d}")
            paths.append(f"P{p:03d}/P{p:03d}_{i + 1:04d}.jpg")
            groups.append(group)
    n = len(paths)
    faces = AuditSet(
        model_id="m",
        paths=tuple(paths),
        persons=tuple(persons),
        vectors=np.asarray(vectors, np.float32),
        gender=tuple("female" if g == "a" else "male" for g in groups),
        age=np.where(np.array(groups) == "a", 30.0, 60.0).astype(np.float32),
    )
    assert len(faces) == n
    return faces, groups


def _brute(faces: AuditSet, groups: list[str], group: str, threshold: float) -> tuple[int, int]:
    idx = [i for i, g in enumerate(groups) if g == group]
    x = faces.vectors[idx]
    s = x @ x.T
    p = np.asarray(faces.persons)[idx]
    iu = np.triu_indices(len(idx), 1)
    non_mated = p[iu[0]] != p[iu[1]]
    return int((s[iu][non_mated] >= threshold).sum()), int(non_mated.sum())


def test_impostor_histograms_count_every_cross_identity_pair_once() -> None:
    faces, groups = _faces(people=40)
    parts = np.array([0 if g == "a" else 1 for g in groups])
    glob, per_part = impostor_histograms(
        faces.vectors, faces.persons, parts, n_parts=2, pairing="same"
    )
    n = len(faces)
    p = np.asarray(faces.persons)
    total = sum(p[i] != p[j] for i in range(n) for j in range(i + 1, n))
    assert glob.sum() == total
    assert per_part[0].sum() == _brute(faces, groups, "a", -2.0)[1]
    _, any_part = impostor_histograms(faces.vectors, faces.persons, parts, n_parts=2, pairing="any")
    assert any_part.sum() == 2 * total  # each pair counted in both faces' parts


def test_audit_counts_match_brute_force_and_show_the_crowded_group() -> None:
    faces, groups = _faces()
    labels = GroupLabels(columns={"g": tuple(groups)}, predicted=False, source="test")
    report = audit_fairness(faces, labels, thresholds={1e-2: 0.6, 1e-3: 0.7}, rounds=50, fpir=0.05)
    (col,) = report.columns
    op = col.operating_points[0]
    assert op.fmr_target == 1e-2 and op.threshold == 0.6
    for point in op.groups:
        fm, nm = _brute(faces, groups, point.group, 0.6)
        assert point.false_matches == fm
        assert point.fmr == pytest.approx(fm / nm)
        low, high = point.fmr_interval
        assert low <= point.fmr <= high
    rates = {g.group: g.fmr for g in op.groups}
    assert rates["a"] > 3 * rates["b"]  # the crowded group's impostors match more often
    expected = rates["a"] / math.sqrt(rates["a"] * rates["b"])
    assert op.fmr_max_geomean == pytest.approx(expected)
    assert op.fmr_max_min == pytest.approx(rates["a"] / rates["b"])
    assert col.identification is not None and col.identification.gallery > 0
    assert "FMR max/geomean" in report.summary()


def test_groups_too_small_to_resolve_a_rate_are_listed_but_not_in_the_ratios() -> None:
    faces, groups = _faces(people=60)
    labels = GroupLabels(columns={"g": tuple(groups)}, predicted=False, source="test")
    report = audit_fairness(faces, labels, thresholds={1e-5: 0.9}, rounds=0)
    op = report.columns[0].operating_points[0]
    assert not any(g.resolved for g in op.groups) and op.fmr_max_geomean is None


def test_plot_writes_a_png(tmp_path: Path) -> None:
    faces, groups = _faces(people=60)
    labels = GroupLabels(columns={"g": tuple(groups)}, predicted=True, source="predicted")
    report = audit_fairness(faces, labels, rounds=0)
    report.plot(tmp_path / "f.png")
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _pairs(faces: AuditSet, folds: int = 4) -> list[Pair]:
    people = sorted(set(faces.persons))
    root = Path("/r")
    out = []
    for k, person in enumerate(people):
        rows = [p for p, q in zip(faces.paths, faces.persons, strict=True) if q == person]
        fold = k % folds
        if len(rows) >= 2:
            out.append(Pair(root / rows[0], root / rows[1], True, fold))
        other = people[(k + folds) % len(people)]
        first = next(p for p, q in zip(faces.paths, faces.persons, strict=True) if q == other)
        out.append(Pair(root / rows[0], root / first, False, fold))
    return out


def test_group_calibration_fitted_on_other_identities_narrows_the_gap() -> None:
    faces, groups = _faces(people=400)
    pairs = _pairs(faces)
    report = held_out_mitigations(
        faces, groups, pairs, Path("/r"), ["none", "group-thresholds", "faircal-4"],
        fmr_points=(1e-2,),
    )  # fmt: skip
    by = {r.method: r for r in report.rows}
    before = by["none"].points[0].fmr_max_geomean
    after = by["group-thresholds"].points[0].fmr_max_geomean
    assert before > 1.5 and after < before / 1.3
    assert 0.5 < by["none"].accuracy <= 1.0
    assert "group-thresholds" in report.summary()


def test_folds_sharing_people_are_refused() -> None:
    faces, groups = _faces(people=20)
    pairs = _pairs(faces)
    pairs.append(Pair(Path("/r") / faces.paths[0], Path("/r") / faces.paths[1], True, 3))
    with pytest.raises(DatasetError, match="not identity-disjoint"):
        held_out_mitigations(faces, groups, pairs, Path("/r"), ["none"])
    with pytest.raises(UsageError, match="unknown mitigation"):
        fitter("magic")


def test_fits_produce_adjusters_on_the_global_scale() -> None:
    faces, groups = _faces(people=200)
    for adjuster in (
        fit_faircal(faces.vectors, faces.persons, model_id="m", clusters=4),
        fit_group_thresholds(faces.vectors, faces.persons, groups, model_id="m"),
        fit_centroid_shift(faces.vectors, faces.persons, groups, model_id="m", beta=0.5),
    ):
        x = faces.vectors[:50]
        raw = x @ x.T
        adjusted = adjuster.scores(x, x)
        assert adjusted.shape == raw.shape and np.all(np.isfinite(adjusted))
        assert np.all(np.diff(adjuster.global_similarity) >= 0)
    with pytest.raises(DatasetError, match="two labelled groups"):
        fit_group_thresholds(faces.vectors, faces.persons, ["a"] * len(faces), model_id="m")


def test_groups_csv_by_person_or_image_and_its_errors(tmp_path: Path) -> None:
    faces, _ = _faces(people=10)
    by_person = tmp_path / "p.csv"
    by_person.write_text("person,sex,band\nP000,f,young\nP001,m,\n", "utf-8")
    labels = read_groups_csv(by_person, faces)
    assert set(labels.columns) == {"sex", "band"} and not labels.predicted
    sex = dict(zip(faces.persons, labels.columns["sex"], strict=True))
    assert sex["P000"] == "f" and sex["P001"] == "m" and sex["P002"] == ""
    by_image = tmp_path / "i.csv"
    by_image.write_text(f"image,sex\n{faces.paths[0]},f\n", "utf-8")
    assert read_groups_csv(by_image, faces).columns["sex"][0] == "f"
    for text, message in (
        ("who,sex\nP000,f\n", "first column"),
        ("person,sex\nP000,f\nP000,m\n", "listed twice"),
        ("person,sex\nNobody,f\n", "no person of the audited set"),
        ("person\nP000\n", "group column"),
    ):
        bad = tmp_path / "bad.csv"
        bad.write_text(text, "utf-8")
        with pytest.raises(DatasetError, match=message):
            read_groups_csv(bad, faces)


def test_predicted_groups_are_per_person_and_marked_as_proxies() -> None:
    faces, _groups = _faces(people=10)
    labels = predicted_groups(faces)
    assert labels.predicted and labels.source == "predicted"
    assert set(labels.columns["predicted_gender"]) == {"female", "male"}
    assert set(labels.columns["predicted_age"]) == {"<35", "50+"}
    assert age_band(34.9) == "<35" and age_band(35) == "35-49" and age_band(float("nan")) == ""
