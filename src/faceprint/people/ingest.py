"""Bring new photos into a clustering folder: hash, detect, embed, thumbnail, store.

Each file is hashed first (SHA-256 of its bytes); an image whose digest is already in
the store is only recorded under its path, so a re-run after adding photos runs the
models on the new ones only, and a file seen under two names is embedded once.
New images go through :func:`faceprint.batch.analyze_images` (every face, with the
quality measures) in batches; each batch is committed in one transaction.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from faceprint.batch import BATCH_SIZE, ImageResult, analyze_images
from faceprint.core.quality import QualityPolicy
from faceprint.media.sources import ImageInput, expand_paths
from faceprint.people.store import NewFace, PeopleStore
from faceprint.pipeline import FacePipeline
from faceprint.types import ImageArray

THUMB_SIDE = 112
"""Side of the square face thumbnails kept for contact sheets and the People page."""

Progress = Callable[[int, int], None]
"""Called with (images done, images to embed) after each batch."""


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one ingest did.

    Attributes:
        paths: image files found under the inputs.
        new_images: images embedded in this run (distinct by content).
        known_images: files whose content was already stored (not embedded again).
        unreadable: new files that could not be read (stored with their reason).
        new_faces: faces stored in this run.
    """

    paths: int
    new_images: int
    known_images: int
    unreadable: int
    new_faces: int


def _digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def thumbnail(pixels: ImageArray, box: tuple[float, float, float, float]) -> bytes:
    """A square JPEG crop around ``box`` (25 % margin), :data:`THUMB_SIDE` pixels."""
    height, width = pixels.shape[:2]
    x1, y1, x2, y2 = box
    side = max(x2 - x1, y2 - y1) * 1.25
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    left = int(max(0, round(cx - side / 2)))
    top = int(max(0, round(cy - side / 2)))
    right = int(min(width, round(cx + side / 2)))
    bottom = int(min(height, round(cy + side / 2)))
    crop = Image.fromarray(np.ascontiguousarray(pixels[top:bottom, left:right]))
    crop.thumbnail((THUMB_SIDE, THUMB_SIDE))
    canvas = Image.new("RGB", (THUMB_SIDE, THUMB_SIDE), (32, 32, 32))
    canvas.paste(crop, ((THUMB_SIDE - crop.width) // 2, (THUMB_SIDE - crop.height) // 2))
    out = io.BytesIO()
    canvas.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _faces(result: ImageResult) -> list[NewFace]:
    pixels = result.image.pixels if result.image is not None else None
    out = []
    for index, face in enumerate(result.faces):
        quality = face.quality
        box = tuple(float(v) for v in face.detection.bbox_xyxy)
        out.append(
            NewFace(
                face_index=index,
                box=(box[0], box[1], box[2], box[3]),
                score=float(face.detection.score),
                quality=None if quality is None else float(quality.score),
                reasons=() if quality is None else tuple(quality.reasons),
                embedding=np.asarray(face.embedding.vector, dtype=np.float32),
                primary=index == result.primary,
                thumb=None
                if pixels is None
                else thumbnail(pixels, (box[0], box[1], box[2], box[3])),
            )
        )
    return out


def ingest(
    pipeline: FacePipeline,
    store: PeopleStore,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    quality: QualityPolicy | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> Ingested:
    """Embed the photos under ``inputs`` that the store has not seen.

    Raises:
        faceprint.errors.ImageNotFoundError: an input does not exist.
        faceprint.errors.ModelError: a model failed to run (batches before it are kept).
    """
    paths = expand_paths(inputs)
    known = store.known_images()
    fresh: dict[str, Path] = {}
    seen_known = 0
    seen: list[tuple[str, str]] = []  # (path, sha256) of contents stored or queued already
    for path in paths:  # hashing holds no lock: the database stays free for reviews
        try:
            sha = _digest(path)
        except OSError:
            sha = "unreadable:" + hashlib.sha256(str(path).encode()).hexdigest()
        if sha in known:
            seen.append((str(path), sha))
            seen_known += 1
        elif sha not in fresh:
            fresh[sha] = path
        else:
            seen.append((str(path), sha))
    with store.transaction():
        for path_text, sha in seen:
            store.add_path(path_text, sha)

    todo = list(fresh.values())
    digests = list(fresh)

    def sources() -> Iterator[ImageInput | Path]:
        for path in todo:
            try:
                yield ImageInput(str(path), path.read_bytes())
            except OSError:
                yield path  # decoding reports why it cannot be read

    done = unreadable = new_faces = 0
    pending: list[ImageResult] = []

    def commit() -> None:
        nonlocal unreadable, new_faces
        with store.transaction():
            for result in pending:
                sha = digests[result.index]
                if result.error is not None:
                    unreadable += 1
                    store.add_image(
                        sha, result.source, width=0, height=0, faces=[], error=str(result.error)
                    )
                    continue
                faces = _faces(result)
                new_faces += len(faces)
                store.add_image(
                    sha, result.source, width=result.width, height=result.height, faces=faces
                )
        pending.clear()

    policy = quality if quality is not None else QualityPolicy()
    for result in analyze_images(
        pipeline,
        sources(),
        embed="all",
        quality=policy,
        batch_size=batch_size,
        keep_images=True,
    ):
        pending.append(result)
        done += 1
        if len(pending) >= batch_size:
            commit()
            if progress is not None:
                progress(done, len(todo))
    commit()
    if progress is not None:
        progress(done, len(todo))
    return Ingested(
        paths=len(paths),
        new_images=len(todo) - unreadable,
        known_images=seen_known,
        unreadable=unreadable,
        new_faces=new_faces,
    )
