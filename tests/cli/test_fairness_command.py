"""``faceprint eval fairness``, ``eval fairness-fit`` and ``verify --fairness`` end to end
with the real models on a small LFW tree: counts checked against brute force over the
cached embeddings, held-out mitigations on identity-disjoint folds, a fitted adjuster
used by verify."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.eval.audit.dataset import AuditSet

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    images = LFW / "images"
    if not images.is_dir():
        pytest.skip("the shared LFW images are not available")
    root = tmp_path_factory.mktemp("fair") / "lfw"
    root.mkdir()
    people = sorted(p for p in images.iterdir() if p.is_dir())
    rich = [p for p in people if len(list(p.glob("*.jpg"))) >= 3][:36]
    single = [p for p in people if len(list(p.glob("*.jpg"))) == 1][:24]
    for person in rich + single:
        (root / person.name).symlink_to(person)
    return root, [p.name for p in rich]


def _pairs_file(path: Path, rich: list[str], root: Path) -> Path:
    """Two identity-disjoint folds of 6 mated and 6 non-mated pairs each."""

    def number(person: str, k: int) -> int:
        return int(sorted((root / person).glob("*.jpg"))[k].stem.rsplit("_", 1)[1])

    lines = ["2 6"]
    for fold in range(2):
        people = rich[fold * 18 : (fold + 1) * 18]
        lines += [f"{p} {number(p, 0)} {number(p, 1)}" for p in people[:6]]
        lines += [
            f"{people[i]} {number(people[i], 0)} {people[i + 6]} {number(people[i + 6], 0)}"
            for i in range(6)
        ]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_audit_counts_every_within_group_pair(model_run, tree, tmp_path: Path) -> None:
    root, _rich = tree
    people = sorted(p.name for p in root.iterdir())
    groups = tmp_path / "groups.csv"
    groups.write_text(
        "person,cohort\n" + "".join(f"{p},{'x' if i % 2 else 'y'}\n" for i, p in enumerate(people)),
        "utf-8",
    )
    cache = tmp_path / "cache"
    plot = tmp_path / "fair.png"
    result = model_run(
        "eval", "fairness", "--root", str(root), "--groups", str(groups), "--cache", str(cache),
        "--rounds", "100", "--plot", str(plot), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["predicted_groups"] is False and report["model_id"] == "sface"
    (column,) = report["columns"]
    assert column["column"] == "cohort"
    faces = AuditSet.load(next(cache.glob("faces-*.npz")))
    label = {p: ("x" if i % 2 else "y") for i, p in enumerate(people)}
    for op in column["operating_points"]:
        t = op["threshold"]
        assert 0.3 < t < 0.5  # the calibrated SFace thresholds at FMR 1e-3 / 1e-4
        for g in op["groups"]:
            rows = [i for i, p in enumerate(faces.persons) if label[p] == g["group"]]
            s = faces.vectors[rows] @ faces.vectors[rows].T
            who = np.asarray(faces.persons)[rows]
            iu = np.triu_indices(len(rows), 1)
            mated = who[iu[0]] == who[iu[1]]
            assert g["false_matches"] == int((s[iu][~mated] >= t).sum())
            assert g["false_non_matches"] == int((s[iu][mated] < t).sum())
            assert g["fnmr"] < 0.15  # real faces of the same person mostly match
    assert plot.stat().st_size > 10_000

    predicted = model_run(
        "eval", "fairness", "--root", str(root), "--cache", str(cache), "--rounds", "0",
        "--fairness", "sface-gender-thresholds", "--json",
    )  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    body = json.loads(predicted.stdout)
    assert body["predicted_groups"] is True and body["score_adjuster"] == "group-thresholds"
    assert [c["column"] for c in body["columns"]] == ["predicted_gender", "predicted_age"]


def test_held_out_mitigations_and_a_fitted_adjuster_in_verify(
    model_run, tree, tmp_path: Path
) -> None:
    root, rich = tree
    cache = tmp_path / "cache"
    pairs = _pairs_file(tmp_path / "pairs.txt", rich, root)
    result = model_run(
        "eval", "fairness", "--root", str(root), "--cache", str(cache), "--rounds", "0",
        "--pairs", str(pairs), "--mitigate", "none,group-thresholds,centroid-1", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = {r["method"]: r for r in json.loads(result.stdout)["mitigation"]["rows"]}
    assert set(rows) == {"none", "group-thresholds", "centroid-1"}
    assert rows["none"]["accuracy"] >= 0.9  # 24 LFW pairs, real faces

    fitted = tmp_path / "mine.json"
    fit = model_run(
        "eval", "fairness-fit", "--root", str(root), "--cache", str(cache),
        "--method", "group-thresholds", "--out", str(fitted),
    )  # fmt: skip
    assert fit.exit_code == 0, fit.output
    assert json.loads(fitted.read_text())["model_id"] == "sface"
    person = root / rich[0]
    a, b = sorted(person.glob("*.jpg"))[:2]
    other = sorted((root / rich[1]).glob("*.jpg"))[0]
    same = model_run("verify", str(a), str(b), "--fairness", str(fitted), "--json")
    assert same.exit_code == 0, same.output
    decided = json.loads(same.stdout)
    assert decided["is_match"] is True and decided["fairness"] == "group-thresholds"
    differ = model_run("verify", str(a), str(other), "--json", FACEPRINT_FAIRNESS=str(fitted))
    assert differ.exit_code == 0, differ.output
    assert json.loads(differ.stdout)["is_match"] is False
    assert json.loads(differ.stdout)["fairness"] == "group-thresholds"
    wrong = model_run("verify", str(a), str(b), "--fairness", "sface-nothing")
    assert wrong.exit_code != 0 and "the catalog has" in wrong.output
