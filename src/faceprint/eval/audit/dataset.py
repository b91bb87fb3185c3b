"""The embedded face set an audit attacks: one pass over a folder tree of faces.

:func:`build_audit_set` runs :func:`faceprint.batch.analyze_images` once over the images
(the primary face of each, with its attributes) and keeps, per image where a face was
found, its unit embedding, its identity (the parent folder name, LFW layout
``root/<Person_Name>/<Person_Name>_0001.jpg``) and its predicted gender and age. An
:class:`AuditSet` is saved as a plain ``.npz`` (no pickle) tied to the model that made
the vectors, so the expensive pass runs once and every attack reuses it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faceprint.batch import analyze_images
from faceprint.errors import DatasetError
from faceprint.eval.datasets import identity_of
from faceprint.pipeline import FacePipeline
from faceprint.types import Progress

__all__ = ["FORMAT", "AuditSet", "build_audit_set", "lfw_images"]

FORMAT = "faceprint-audit-set/1"
"""Marker stored in every saved audit set (and checked on load)."""

_KEYS = ("format", "model_id", "paths", "persons", "vectors", "gender", "age", "skipped")


@dataclass(frozen=True, slots=True, eq=False)
class AuditSet:
    """Embedded faces of known identities, as an attacked gallery sees them.

    Attributes:
        model_id: the embedding model (or fused template) that made ``vectors``.
        paths: per row, the image path relative to the image root (POSIX form).
        persons: per row, the identity (parent folder name).
        vectors: N×D float32 unit embeddings (rows: images where a face was found).
        gender: per row, the predicted gender (``"female"``/``"male"``, ``"unknown"``
            when the attribute model gave none).
        age: per row, the predicted age in years (NaN when unknown).
        skipped: paths with no face or that could not be read.
    """

    model_id: str
    paths: tuple[str, ...]
    persons: tuple[str, ...]
    vectors: NDArray[np.float32]
    gender: tuple[str, ...]
    age: NDArray[np.float32]
    skipped: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.paths)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != n:
            raise DatasetError(
                f"an audit set needs one vector per path: {self.vectors.shape} for {n} paths"
            )
        if not (len(self.persons) == len(self.gender) == n and self.age.shape == (n,)):
            raise DatasetError("an audit set needs one person, gender and age per path")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def dimension(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def identities(self) -> tuple[str, ...]:
        """The distinct identities, sorted."""
        return tuple(sorted(set(self.persons)))

    def identity_index(self) -> tuple[tuple[str, ...], NDArray[np.int64]]:
        """The sorted identities and, per row, the index of its identity among them."""
        names, codes = np.unique(np.asarray(self.persons, dtype=str), return_inverse=True)
        return tuple(str(s) for s in names), codes.astype(np.int64).reshape(-1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (not the vectors)."""
        return {
            "model_id": self.model_id,
            "images": len(self.paths),
            "identities": len(set(self.persons)),
            "dimension": self.dimension,
            "female": sum(g == "female" for g in self.gender),
            "male": sum(g == "male" for g in self.gender),
            "skipped": len(self.skipped),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the set as an ``.npz`` (no pickled objects); returns the path written."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as handle:
            np.savez(
                handle,
                format=np.array(FORMAT),
                model_id=np.array(self.model_id),
                paths=np.array(self.paths, dtype=str).reshape(-1),
                persons=np.array(self.persons, dtype=str).reshape(-1),
                vectors=self.vectors.astype(np.float32),
                gender=np.array(self.gender, dtype=str).reshape(-1),
                age=self.age.astype(np.float32),
                skipped=np.array(self.skipped, dtype=str).reshape(-1),
            )
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, model_id: str | None = None) -> AuditSet:
        """Read a set written by :meth:`save`.

        Raises:
            DatasetError: the file is missing, not an audit set, or (with ``model_id``)
                was made by another model — rebuild it with that model.
        """
        source = Path(path)
        if not source.is_file():
            raise DatasetError(f"no audit set at {source}; build one with build_audit_set")
        try:
            with np.load(source, allow_pickle=False) as data:
                arrays = {key: data[key] for key in _KEYS if key in data.files}
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{source} is not a readable audit set: {exc}") from exc
        if str(arrays.get("format", "")) != FORMAT or len(arrays) != len(_KEYS):
            raise DatasetError(f"{source} is not a faceprint audit set (format {FORMAT!r})")
        stored = str(arrays["model_id"])
        if model_id is not None and stored != model_id:
            raise DatasetError(
                f"{source} holds embeddings of {stored!r}, not {model_id!r}; "
                "rebuild the audit set with this model"
            )
        return cls(
            model_id=stored,
            paths=tuple(str(s) for s in arrays["paths"]),
            persons=tuple(str(s) for s in arrays["persons"]),
            vectors=np.ascontiguousarray(arrays["vectors"], dtype=np.float32),
            gender=tuple(str(s) for s in arrays["gender"]),
            age=np.asarray(arrays["age"], dtype=np.float32),
            skipped=tuple(str(s) for s in arrays["skipped"]),
        )


def lfw_images(root: str | os.PathLike[str]) -> list[Path]:
    """Every ``root/<person>/*.jpg``, sorted.

    Raises:
        DatasetError: ``root`` is not a folder or holds no such image.
    """
    base = Path(root)
    if not base.is_dir():
        raise DatasetError(f"{base} is not a folder of <person>/<image>.jpg")
    found = sorted(p for p in base.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not found:
        raise DatasetError(f"no images under {base}/<person>/; expected <person>/<image>.jpg")
    return found


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def build_audit_set(
    pipeline: FacePipeline,
    root: str | os.PathLike[str],
    paths: Sequence[str | os.PathLike[str]],
    *,
    progress: Progress | None = None,
) -> AuditSet:
    """Embed the primary face of every image (with age and gender) in one batched pass.

    ``paths`` are absolute or relative to ``root``; each image's identity is its parent
    folder's name. Images without a face, or unreadable, are listed in ``skipped``.

    Raises:
        DatasetError: no path given, or no face found in any image.
    """
    base = Path(root)
    full = [p if p.is_absolute() else base / p for p in (Path(x) for x in paths)]
    if not full:
        raise DatasetError("an audit set needs at least one image")
    rows: list[str] = []
    vectors: list[NDArray[np.float32]] = []
    genders: list[str] = []
    ages: list[float] = []
    skipped: list[str] = []
    results = analyze_images(pipeline, full, embed="primary", attributes=True)
    for result in results:
        path = full[result.index]
        face = result.primary_face
        if face is None:
            skipped.append(_relative(path, base))
        else:
            rows.append(_relative(path, base))
            vectors.append(np.asarray(face.embedding.vector, dtype=np.float32))
            attrs = face.attributes
            genders.append(attrs.gender if attrs is not None else "unknown")
            ages.append(attrs.age if attrs is not None else float("nan"))
        if progress is not None:
            progress(result.index + 1, len(full), result.source)
    if not rows:
        raise DatasetError(f"no face found in any of the {len(full)} images")
    return AuditSet(
        model_id=pipeline.model_id,
        paths=tuple(rows),
        persons=tuple(identity_of(r) for r in rows),
        vectors=np.stack(vectors).astype(np.float32),
        gender=tuple(genders),
        age=np.asarray(ages, dtype=np.float32),
        skipped=tuple(skipped),
    )
