"""Evaluation datasets: LFW-style pairs files and per-person folder trees."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from faceprint.errors import DatasetError
from faceprint.media.images import IMAGE_SUFFIXES

"""Image file suffixes recognised in folder trees (compared case-insensitively)."""

_MAX_LISTED = 5


@dataclass(frozen=True, slots=True)
class Pair:
    """Two images and whether they show the same person; ``fold`` counts from 0."""

    path_a: Path
    path_b: Path
    same: bool
    fold: int


def _lfw_path(root: Path, name: str, number: str, where: str) -> Path:
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise DatasetError(f"{where}: {name!r} is not a valid person name")
    try:
        index = int(number)
    except ValueError:
        raise DatasetError(f"{where}: image number {number!r} is not an integer") from None
    if index < 1:
        raise DatasetError(f"{where}: image number {index} must be 1 or more")
    return root / name / f"{name}_{index:04d}.jpg"


def _parse_header(fields: list[str], where: str) -> tuple[int, int]:
    try:
        numbers = [int(v) for v in fields]
    except ValueError:
        numbers = []
    if len(numbers) == 1:  # View 1 files (pairsDevTrain.txt): one fold
        numbers = [1, numbers[0]]
    if len(numbers) != 2 or min(numbers) < 1:
        raise DatasetError(
            f"{where}: expected a header '<folds> <pairs per class>' of positive integers "
            f"(e.g. '10 300'), got {' '.join(fields)!r}"
        )
    return numbers[0], numbers[1]


def read_pairs(pairs_file: str | Path, *, root: str | Path) -> list[Pair]:
    """Parse an LFW View-2 style pairs file.

    The first line is ``<folds> <n>`` (a single ``<n>`` means one fold); then each fold
    has ``n`` matched lines ``Name i j`` followed by ``n`` mismatched lines
    ``NameA i NameB j`` (fields separated by any whitespace; blank lines ignored).
    Image ``i`` of ``Name`` is ``root/Name/Name_<iiii>.jpg`` (``i`` zero-padded to 4).

    Args:
        pairs_file: the pairs file.
        root: folder holding one sub-folder per person.

    Returns:
        ``folds · 2n`` pairs in file order; ``fold`` counts from 0.

    Raises:
        DatasetError: the file cannot be read; a line is malformed (the message gives
            its number); the number of lines disagrees with the header; or images are
            missing (the message gives the count and up to five paths).
    """
    pairs_file, root = Path(pairs_file), Path(root)
    try:
        text = pairs_file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the pairs file {pairs_file}: {exc}") from exc
    rows = [(no, line.split()) for no, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not rows:
        raise DatasetError(f"{pairs_file} is empty; expected an LFW pairs file")
    header_no, header = rows[0]
    folds, per_class = _parse_header(header, f"{pairs_file} line {header_no}")
    expected = folds * per_class * 2
    body = rows[1:]
    if len(body) > expected:
        raise DatasetError(
            f"{pairs_file} line {body[expected][0]}: unexpected extra line; the header "
            f"promises {folds} fold(s) × {2 * per_class} = {expected} pairs"
        )
    pairs: list[Pair] = []
    for k, (line_no, fields) in enumerate(body):
        fold, within = divmod(k, 2 * per_class)
        where = f"{pairs_file} line {line_no}"
        if within < per_class:
            if len(fields) != 3:
                raise DatasetError(
                    f"{where}: expected a matched pair 'Name i j' (fold {fold + 1}, "
                    f"matched pair {within + 1} of {per_class}), got {len(fields)} fields"
                )
            name, i, j = fields
            path_a = _lfw_path(root, name, i, where)
            path_b = _lfw_path(root, name, j, where)
            pairs.append(Pair(path_a, path_b, True, fold))
        else:
            if len(fields) != 4:
                raise DatasetError(
                    f"{where}: expected a mismatched pair 'NameA i NameB j' (fold {fold + 1}, "
                    f"mismatched pair {within - per_class + 1} of {per_class}), "
                    f"got {len(fields)} fields"
                )
            name_a, i, name_b, j = fields
            path_a = _lfw_path(root, name_a, i, where)
            path_b = _lfw_path(root, name_b, j, where)
            pairs.append(Pair(path_a, path_b, False, fold))
    if len(pairs) < expected:
        last = body[-1][0] if body else header_no
        raise DatasetError(
            f"{pairs_file} ends at line {last} after {len(pairs)} pairs; the header "
            f"promises {folds} fold(s) × {2 * per_class} = {expected} pairs"
        )
    missing = [p for p in pair_images(pairs) if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:_MAX_LISTED])
        more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        raise DatasetError(
            f"{len(missing)} image(s) named in {pairs_file} are missing under {root}: "
            f"{shown}{more}; check --root or the dataset download"
        )
    return pairs


def pair_images(pairs: Iterable[Pair]) -> list[Path]:
    """The distinct image paths of ``pairs``, sorted."""
    return sorted({p for pair in pairs for p in (pair.path_a, pair.path_b)})


def identity_of(path: str | Path) -> str:
    """The person an image belongs to: the name of its parent folder."""
    return Path(path).parent.name


@dataclass(frozen=True, slots=True)
class IdentifySplit:
    """An open-set identification split of a folder tree.

    ``gallery``: one ``(person, image)`` per enrolled person; ``mated``: ``(person,
    image)`` probes of enrolled persons; ``nonmated``: probe images of persons who are
    not enrolled.
    """

    gallery: list[tuple[str, Path]]
    mated: list[tuple[str, Path]]
    nonmated: list[Path]


def _is_image(path: Path) -> bool:
    return (
        path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES
    )


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_image(p))


def _persons(root: Path) -> Sequence[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_identification(
    root: str | Path, *, nonmated_root: str | Path | None = None, min_images: int = 2
) -> IdentifySplit:
    """Split a ``root/<person>/<images>`` tree for open-set identification.

    Images are files with a suffix in :data:`IMAGE_SUFFIXES` (case-insensitive; hidden
    files skipped), sorted by name. Each person with at least ``min_images`` images is
    enrolled with their first image (the gallery); their other images are mated probes.
    When ``nonmated_root`` is ``None``, the images of persons with fewer than
    ``min_images`` images (with the default, persons with a single image) are the
    non-mated probes, and those persons are not enrolled. Otherwise every image under
    ``nonmated_root`` (recursively) is a non-mated probe and such persons are ignored.

    Args:
        root: the tree of enrolled (and, by default, non-mated) persons.
        nonmated_root: optional tree or folder of images of persons not in ``root``.
        min_images: images a person needs to be enrolled, at least 1.

    Raises:
        DatasetError: a folder is missing; the tree holds no images; it yields no
            gallery, no mated probe or no non-mated probe; or a non-mated image sits in
            a folder named like an enrolled person.
    """
    if min_images < 1:
        raise DatasetError(f"min_images must be at least 1, got {min_images}")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; expected <root>/<person>/<images>")
    gallery: list[tuple[str, Path]] = []
    mated: list[tuple[str, Path]] = []
    few: list[Path] = []
    for person_dir in _persons(root):
        images = _images(person_dir)
        if len(images) >= min_images:
            gallery.append((person_dir.name, images[0]))
            mated.extend((person_dir.name, p) for p in images[1:])
        else:
            few.extend(images)
    if not gallery and not few:
        raise DatasetError(f"{root} holds no images in <person>/ sub-folders")
    if nonmated_root is None:
        nonmated = few
    else:
        nm_root = Path(nonmated_root)
        if not nm_root.is_dir():
            raise DatasetError(f"{nm_root} (non-mated probes) is not a folder")
        nonmated = sorted(p for p in nm_root.rglob("*") if _is_image(p))
        enrolled = {name for name, _ in gallery}
        clash = sorted(p for p in nonmated if p.parent != nm_root and p.parent.name in enrolled)
        if clash:
            raise DatasetError(
                f"{len(clash)} non-mated image(s) are in folders named like enrolled persons "
                f"(e.g. {clash[0]}); non-mated probes must show people not in {root}"
            )
    if not gallery:
        raise DatasetError(f"{root}: no person has at least {min_images} images to enrol")
    if not mated:
        raise DatasetError(
            f"{root}: no mated probes; enrolled persons need a second image (min_images=2)"
        )
    if not nonmated:
        raise DatasetError(
            f"{root}: no non-mated probes; add persons with fewer than {min_images} images "
            "or pass a nonmated_root folder"
        )
    return IdentifySplit(gallery=gallery, mated=mated, nonmated=nonmated)
