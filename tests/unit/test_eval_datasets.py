"""Evaluation datasets: LFW pairs files and identification splits of folder trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.shared_paths import LFW

from faceprint.errors import DatasetError
from faceprint.eval.datasets import (
    IdentifySplit,
    Pair,
    identity_of,
    pair_images,
    read_pairs,
    split_identification,
)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff")
    return path


def lfw_image(root: Path, name: str, i: int) -> Path:
    return root / name / f"{name}_{i:04d}.jpg"


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    for name, i in [("Ann", 1), ("Ann", 2), ("Bob", 1), ("Bob", 12), ("Cy", 3), ("Dee_Ray", 1)]:
        touch(lfw_image(root, name, i))
    return root


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text, encoding="utf-8")
    return path


# Two folds of one matched and one mismatched pair, whitespace as in the real file.
GOOD = "2\t1\nAnn\t1\t2\nBob 1 Cy 3\n\nBob  1  12\nDee_Ray\t1\tAnn\t2\n"


# --- LFW pairs ---------------------------------------------------------------------


@pytest.mark.skipif(not (LFW / "images").is_dir(), reason=f"LFW not found at {LFW}")
def test_read_the_real_lfw_view2_pairs():
    pairs = read_pairs(LFW / "pairs.txt", root=LFW / "images")
    assert len(pairs) == 6000
    assert sum(p.same for p in pairs) == 3000
    assert sorted({p.fold for p in pairs}) == list(range(10))
    for fold in range(10):
        in_fold = [p for p in pairs if p.fold == fold]
        assert len(in_fold) == 600
        assert [p.same for p in in_fold] == [True] * 300 + [False] * 300
    first = pairs[0]  # "Abel_Pacheco 1 4"
    assert first == Pair(
        LFW / "images" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg",
        LFW / "images" / "Abel_Pacheco" / "Abel_Pacheco_0004.jpg",
        True,
        0,
    )
    mismatched = pairs[300]  # "Abdel_Madi_Shabneh 1 Dean_Barker 1"
    assert not mismatched.same
    assert identity_of(mismatched.path_a) == "Abdel_Madi_Shabneh"
    assert identity_of(mismatched.path_b) == "Dean_Barker"
    paths = pair_images(pairs)
    assert len(paths) == 7701
    assert len({identity_of(p) for p in paths}) == 4281
    assert all(p.is_file() for p in paths[:50])


def test_read_a_small_pairs_file(tmp_path, images):
    pairs = read_pairs(write(tmp_path, GOOD), root=images)
    assert pairs == [
        Pair(lfw_image(images, "Ann", 1), lfw_image(images, "Ann", 2), True, 0),
        Pair(lfw_image(images, "Bob", 1), lfw_image(images, "Cy", 3), False, 0),
        Pair(lfw_image(images, "Bob", 1), lfw_image(images, "Bob", 12), True, 1),
        Pair(lfw_image(images, "Dee_Ray", 1), lfw_image(images, "Ann", 2), False, 1),
    ]
    assert lfw_image(images, "Bob", 12).name == "Bob_0012.jpg"
    assert pair_images(pairs) == sorted(
        [
            lfw_image(images, "Ann", 1),
            lfw_image(images, "Ann", 2),
            lfw_image(images, "Bob", 1),
            lfw_image(images, "Bob", 12),
            lfw_image(images, "Cy", 3),
            lfw_image(images, "Dee_Ray", 1),
        ]
    )


def test_a_single_number_header_is_one_fold(tmp_path, images):
    pairs = read_pairs(write(tmp_path, "1\nAnn 1 2\nBob 1 Cy 3\n"), root=images)
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("ten 300\n", "line 1: expected a header"),
        ("2 0\n", "line 1: expected a header"),
        ("1 2 3\n", "line 1: expected a header"),
        ("1 1\nAnn 1 2 3\nBob 1 Cy 3\n", "line 2: expected a matched pair"),
        ("1 1\nAnn 1 2\nBob 1 Cy\n", "line 3: expected a mismatched pair"),
        ("1 1\n\nAnn 1 two\nBob 1 Cy 3\n", "line 3: image number 'two'"),
        ("1 1\nAnn 0 2\nBob 1 Cy 3\n", "line 2: image number 0"),
        ("1 1\nAnn 1 2\n../x 1 Cy 3\n", "line 3: '../x' is not a valid person name"),
        ("2 1\nAnn 1 2\nBob 1 Cy 3\n", "ends at line 3 after 2 pairs.*4 pairs"),
        ("1 1\nAnn 1 2\nBob 1 Cy 3\nAnn 1 2\n", "line 4: unexpected extra line"),
    ],
)
def test_malformed_pairs_files_name_the_line(tmp_path, images, text, message):
    with pytest.raises(DatasetError, match=message):
        read_pairs(write(tmp_path, text), root=images)


def test_missing_pairs_file(tmp_path, images):
    with pytest.raises(DatasetError, match="cannot read the pairs file"):
        read_pairs(tmp_path / "nope.txt", root=images)


def test_missing_images_are_counted_and_five_are_listed(tmp_path, images):
    lines = ["1 4"] + [f"Zed {i} {i + 10}" for i in range(1, 5)] + ["Ann 1 Bob 1"] * 4
    with pytest.raises(DatasetError) as info:
        read_pairs(write(tmp_path, "\n".join(lines)), root=images)
    message = str(info.value)
    assert "8 image(s)" in message
    assert message.count("Zed_00") == 5
    assert "and 3 more" in message
    assert str(lfw_image(images, "Zed", 1)) in message


# --- identification split ----------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    for rel in [
        "ann/b.JPG",
        "ann/a.png",
        "ann/c.webp",
        "ann/notes.txt",
        "ann/.hidden.jpg",
        "bob/1.jpeg",
        "bob/2.bmp",
        "cy/only.jpg",
        "dee/x.PNG",
        ".cache/z.jpg",
        "eve/readme.md",
    ]:
        touch(root / rel)
    return root


def test_split_identification_defaults(tree):
    split = split_identification(tree)
    assert isinstance(split, IdentifySplit)
    assert split.gallery == [("ann", tree / "ann" / "a.png"), ("bob", tree / "bob" / "1.jpeg")]
    assert split.mated == [
        ("ann", tree / "ann" / "b.JPG"),
        ("ann", tree / "ann" / "c.webp"),
        ("bob", tree / "bob" / "2.bmp"),
    ]
    assert split.nonmated == [tree / "cy" / "only.jpg", tree / "dee" / "x.PNG"]


def test_split_identification_with_min_images(tree):
    split = split_identification(tree, min_images=3)
    assert split.gallery == [("ann", tree / "ann" / "a.png")]
    assert [p.name for _, p in split.mated] == ["b.JPG", "c.webp"]
    assert [p.name for p in split.nonmated] == ["1.jpeg", "2.bmp", "only.jpg", "x.PNG"]


def test_split_identification_with_a_nonmated_root(tree, tmp_path):
    others = tmp_path / "others"
    touch(others / "zoe" / "1.jpg")
    touch(others / "loose.png")
    split = split_identification(tree, nonmated_root=others)
    assert split.nonmated == [others / "loose.png", others / "zoe" / "1.jpg"]
    assert [name for name, _ in split.gallery] == ["ann", "bob"]  # cy, dee left out


def test_nonmated_images_of_enrolled_people_are_refused(tree, tmp_path):
    others = tmp_path / "others"
    touch(others / "bob" / "3.jpg")
    with pytest.raises(DatasetError, match="named like enrolled persons"):
        split_identification(tree, nonmated_root=others)


def test_split_identification_errors(tmp_path, tree):
    with pytest.raises(DatasetError, match="not a folder"):
        split_identification(tmp_path / "missing")
    (tmp_path / "empty" / "ann").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no images"):
        split_identification(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no non-mated probes"):
        split_identification(tree, nonmated_root=tmp_path / "empty")
    with pytest.raises(DatasetError, match="not a folder"):
        split_identification(tree, nonmated_root=tmp_path / "missing")
    with pytest.raises(DatasetError, match="min_images"):
        split_identification(tree, min_images=0)
    singles = tmp_path / "singles"
    touch(singles / "a" / "1.jpg")
    touch(singles / "b" / "1.jpg")
    with pytest.raises(DatasetError, match="at least 2 images"):
        split_identification(singles)


def test_identity_of_is_the_parent_folder():
    assert identity_of(Path("/data/lfw/Ann_Lee/Ann_Lee_0001.jpg")) == "Ann_Lee"
    assert identity_of("rel/bob/x.png") == "bob"
