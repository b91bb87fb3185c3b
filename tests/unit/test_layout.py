"""Enrollment layouts are checked before anything is decoded (no weights)."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceprint.errors import ImageNotFoundError, LayoutError
from faceprint.recognition import plan_enrollment


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"not decoded by the planner")


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    _touch(root, "ada/1.jpg", "ada/2.png", "bob/1.jpg", "bob/.hidden.jpg", "bob/notes.txt")
    return root


def test_a_tree_is_one_person_per_folder(tree: Path) -> None:
    plan = plan_enrollment([tree], person=None)
    assert plan.persons == ["ada", "bob"]
    assert [(p, i.name) for p, i in plan.items] == [
        ("ada", "1.jpg"),
        ("ada", "2.png"),
        ("bob", "1.jpg"),
    ]


def test_person_mode_takes_files_and_flat_folders(tree: Path) -> None:
    plan = plan_enrollment([tree / "ada", tree / "bob" / "1.jpg", tree / "ada"], person="x")
    assert len(plan) == 3 and plan.persons == ["x"]  # the repeated folder is listed once


@pytest.mark.parametrize(
    ("layout", "person", "message"),
    [
        (["known/ada/1.jpg", "known/bob/1.jpg"], "x", "drop --person"),
        (["top.jpg", "ada/1.jpg"], None, "top level"),
        (["known/ada/1.jpg", "groups/g.jpg"], None, "nested deeper"),
        (["ada/notes.txt"], None, "no images"),
        (["ada/notes.txt"], "x", "no images"),
    ],
)
def test_wrong_layouts_explain_the_expected_one(tmp_path, layout, person, message) -> None:
    _touch(tmp_path / "root", *layout)
    with pytest.raises(LayoutError, match=message):
        plan_enrollment([tmp_path / "root"], person=person)


def test_a_file_or_several_paths_without_person(tree: Path) -> None:
    with pytest.raises(LayoutError, match="without --person"):
        plan_enrollment([tree / "ada" / "1.jpg"], person=None)
    with pytest.raises(LayoutError, match="one folder"):
        plan_enrollment([tree / "ada", tree / "bob"], person=None)
    with pytest.raises(LayoutError, match="non-empty"):
        plan_enrollment([tree / "ada"], person="  ")


def test_missing_paths_are_named(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="nosuch"):
        plan_enrollment([tmp_path / "nosuch"], person=None)
