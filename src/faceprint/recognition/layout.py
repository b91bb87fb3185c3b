"""Which image goes to which person: enrollment layouts, checked before any model loads.

Two layouts are accepted:

* a **tree** ``DIR/<person>/<images>`` — one person per sub-folder, images directly in
  it (no deeper nesting, no images at the top level);
* **one person** — ``--person NAME`` with image files and/or folders that hold that
  person's images directly (a folder with sub-folders of images is a tree, not a person).

Anything else is a :class:`~faceprint.errors.LayoutError` whose message shows the
expected layout, raised before a single image is decoded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import ImageNotFoundError, LayoutError
from faceprint.media.images import find_images

__all__ = ["EnrollPlan", "plan_enrollment"]

TREE = "DIR/<person>/<images>"


@dataclass(frozen=True, slots=True)
class EnrollPlan:
    """The (person, image) pairs an enrollment will process, sorted by person."""

    items: tuple[tuple[str, Path], ...]

    @property
    def persons(self) -> list[str]:
        return sorted({person for person, _ in self.items})

    def __len__(self) -> int:
        return len(self.items)


def plan_enrollment(paths: Sequence[str | os.PathLike[str]], *, person: str | None) -> EnrollPlan:
    """Check the layout of ``paths`` and list what would be enrolled.

    Args:
        paths: with ``person``, image files and folders of that person's images;
            without, exactly one folder laid out as ``DIR/<person>/<images>``.
        person: enroll everything as this person (``None``: a tree).

    Raises:
        ImageNotFoundError: a path does not exist.
        LayoutError: the paths are not laid out as the mode expects (the message says
            what was found and what is expected); nothing was read.
    """
    if not paths:
        raise LayoutError("nothing to enroll: give a folder DIR/<person>/<images>, or images")
    for path in paths:
        if not Path(path).exists():
            raise ImageNotFoundError(f"{os.fspath(path)}: no such file or folder (check the path)")
    if person is not None:
        return _plan_person(paths, person)
    return _plan_tree(paths)


def _plan_person(paths: Sequence[str | os.PathLike[str]], person: str) -> EnrollPlan:
    if not person.strip():
        raise LayoutError("--person needs a non-empty name")
    items: list[tuple[str, Path]] = []
    for given in paths:
        root = Path(given)
        images = find_images(root)
        if root.is_dir():
            nested = [p for p in images if len(p.relative_to(root).parts) > 1]
            if nested:
                example = nested[0].relative_to(root)
                raise LayoutError(
                    f"--person {person!r} enrolls one person, but {root} has sub-folders of "
                    f"images (e.g. {root / example}); drop --person to enroll the tree "
                    f"{TREE}, one person per sub-folder"
                )
        items.extend((person, image) for image in images)
    if not items:
        raise LayoutError(f"no images found in {', '.join(os.fspath(p) for p in paths)}")
    return EnrollPlan(tuple(dict.fromkeys(items)))


def _plan_tree(paths: Sequence[str | os.PathLike[str]]) -> EnrollPlan:
    root = Path(paths[0])
    if len(paths) != 1 or not root.is_dir():
        what = "a file" if len(paths) == 1 else f"{len(paths)} paths"
        raise LayoutError(
            f"without --person, give one folder laid out as {TREE} (got {what}); "
            "to enroll images of one person use --person NAME IMAGE…"
        )
    items: list[tuple[str, Path]] = []
    for image in find_images(root):
        parts = image.relative_to(root).parts
        if len(parts) == 1:
            raise LayoutError(
                f"{root} has images at its top level (e.g. {image}); a tree is {TREE}: "
                f"move them into a folder named after the person, or enroll them with "
                f"--person NAME {root}"
            )
        if len(parts) > 2:
            lower = root / parts[0]
            raise LayoutError(
                f"images are nested deeper than {TREE} (e.g. {image}): the persons' "
                f"folders are one level lower — did you mean {lower}?"
            )
        items.append((parts[0], image))
    if not items:
        raise LayoutError(f"no images found under {root}; expected {TREE}")
    return EnrollPlan(tuple(sorted(items)))
