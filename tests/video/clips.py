"""Video clips built from real LFW photos, with the ground truth of who is where.

A clip is a list of frames on a fixed background (the same spot): each face is an LFW
photo pasted at a known place, drifting a little from frame to frame, so the truth of
every frame is known: which person's face is in which box. Written as H.264 at 10
frames/s through faceprint's own writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.core.boxes import iou_matrix
from faceprint.media.images import load_image
from faceprint.types import BBox, ImageArray
from faceprint.video import TrackResult, VideoWriter

FPS = 10.0
WIDTH, HEIGHT = 640, 360
SIDE = 200  # a 250×250 LFW photo is pasted at this size
_FACE = (75.0, 70.0, 175.0, 190.0)  # the face in a 250×250 LFW photo


def photos(person: str) -> list[Path]:
    """The person's LFW photos in the shared set (sorted); skips when LFW is absent."""
    folder = LFW / "images" / person
    if not folder.is_dir():
        pytest.skip(f"LFW not found at {LFW}")
    return sorted(folder.glob("*.jpg"))


def background(seed: int = 0) -> ImageArray:
    """A smooth, textured backdrop (the same for every shot of a clip)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 200, size=(9, 16, 3)).astype(np.uint8)
    return np.ascontiguousarray(cv2.resize(small, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC))


@dataclass(frozen=True, slots=True)
class Face:
    person: str
    box: BBox


@dataclass(slots=True)
class Clip:
    frames: list[ImageArray]
    truth: list[list[Face]]  # per frame

    def write(self, path: Path) -> Path:
        with VideoWriter(path, fps=FPS, width=WIDTH, height=HEIGHT) as writer:
            for frame in self.frames:
                writer.write(frame)
        return path

    def seconds(self, frame: int) -> float:
        return frame / FPS


def paste(canvas: ImageArray, photo: ImageArray, x: int, y: int) -> BBox:
    """Paste ``photo`` (resized to SIDE) with its top-left at (x, y), clipped to the
    canvas; returns the face's box in the canvas."""
    tile = cv2.resize(photo, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(WIDTH, x + SIDE), min(HEIGHT, y + SIDE)
    if x2 > x1 and y2 > y1:
        canvas[y1:y2, x1:x2] = tile[y1 - y : y2 - y, x1 - x : x2 - x]
    s = SIDE / 250.0
    return (x + _FACE[0] * s, y + _FACE[1] * s, x + _FACE[2] * s, y + _FACE[3] * s)


def shots(
    people: list[tuple[str, Path]], *, frames_each: int, seed: int = 0, new_scenes: bool = False
) -> Clip:
    """Hard cuts between people at the same spot: one shot of ``frames_each`` frames
    per (person, photo), the photo drifting a few pixels as a hand-held camera would.
    With ``new_scenes`` every shot has its own backdrop (a cut between scenes)."""
    clip = Clip([], [])
    for shot, (person, path) in enumerate(people):
        base = background(seed + shot if new_scenes else seed)
        photo = load_image(path)
        for k in range(frames_each):
            canvas = base.copy()
            dx = round(6 * np.sin(k / 3.0))
            dy = round(3 * np.cos(k / 4.0))
            box = paste(canvas, photo, 220 + dx, 80 + dy)
            clip.frames.append(canvas)
            clip.truth.append([Face(person, box)])
    return clip


def crossing(
    a: tuple[str, Path],
    b: tuple[str, Path],
    *,
    frames: int,
    turn_back: bool = False,
    seed: int = 0,
) -> Clip:
    """``a`` walks from left to right and ``b`` from right to left at the same height;
    where they meet, ``b`` passes in front and hides ``a``. With ``turn_back`` they
    meet in the middle and each goes back the way it came (motion alone then
    predicts each to carry on into the other's path)."""
    base = background(seed)
    photo_a, photo_b = load_image(a[1]), load_image(b[1])
    clip = Clip([], [])
    start, end = 10, WIDTH - SIDE - 10
    for k in range(frames):
        t = k / (frames - 1)
        if turn_back:  # out to the middle and back: 0 → ½ → 0
            t = 0.5 - abs(t - 0.5)
        xa, xb = round(start + t * (end - start)), round(end - t * (end - start))
        canvas = base.copy()
        box_a = paste(canvas, photo_a, xa, 90)
        box_b = paste(canvas, photo_b, xb, 70)
        # a face more than half hidden behind b is not in the truth (no one should
        # name it, but finding it is not required either)
        hidden = max(0.0, min(box_a[2], box_b[2]) - max(box_a[0], box_b[0])) / (box_a[2] - box_a[0])
        truth = [Face(b[0], box_b)] + ([Face(a[0], box_a)] if hidden < 0.5 else [])
        clip.frames.append(canvas)
        clip.truth.append(truth)
    return clip


def leave_and_return(person: tuple[str, Path], *, frames_each: int, seed: int = 0) -> Clip:
    """The person is seen, walks out to the right, is away, and walks back in."""
    base = background(seed)
    photo = load_image(person[1])
    clip = Clip([], [])

    def add(x: int, visible: bool) -> None:
        canvas = base.copy()
        truth = []
        if visible:
            box = paste(canvas, photo, x, 80)
            if box[2] <= WIDTH:  # the whole face is in the frame
                truth.append(Face(person[0], box))
        clip.frames.append(canvas)
        clip.truth.append(truth)

    for k in range(frames_each):
        add(220 + 2 * k, True)
    for k in range(frames_each):
        add(250 + 40 * k, True)  # leaving to the right
    for _ in range(frames_each):
        add(0, False)
    for k in range(frames_each):
        add(WIDTH - 40 * k, True)  # coming back from the right
    return clip


def attribution(
    clip: Clip, labelled: dict[int, list[TrackResult]]
) -> tuple[list[str], dict[str, list[int]]]:
    """Compare labelled frames with the truth. Returns (the wrong attributions, as
    readable lines; for each person, the frames where they were named)."""
    wrong: list[str] = []
    named: dict[str, list[int]] = {}
    for index, truth in enumerate(clip.truth):
        results = labelled.get(index, [])
        if not results:
            continue
        overlap = iou_matrix([r.detection.bbox_xyxy for r in results], [f.box for f in truth])
        for k, result in enumerate(results):
            if result.person is None:
                continue
            j = int(np.argmax(overlap[k])) if truth else -1
            if j < 0 or overlap[k, j] < 0.3:
                # not on a face of the truth: only a half-hidden face may be here
                continue
            person = truth[j].person
            if result.person != person:
                wrong.append(
                    f"frame {index} ({clip.seconds(index):.1f} s): {person} named {result.person}"
                )
            else:
                named.setdefault(person, []).append(index)
    return wrong, named


def pan(
    photo: ImageArray,
    faces: list[Face],
    *,
    frames: int,
    scale: float,
    start: tuple[int, int],
    end: tuple[int, int],
) -> Clip:
    """A camera panning over ``photo`` (resized by ``scale``): a WIDTH×HEIGHT window
    moving from ``start`` to ``end`` (top-left corners, in the resized photo). The
    truth is ``faces`` (boxes in the photo's own pixels) moved with the window; a
    face counts while at least half of it is in view."""
    big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    clip = Clip([], [])
    for k in range(frames):
        t = k / max(frames - 1, 1)
        x = round(start[0] + t * (end[0] - start[0]))
        y = round(start[1] + t * (end[1] - start[1]))
        clip.frames.append(np.ascontiguousarray(big[y : y + HEIGHT, x : x + WIDTH]))
        truth = []
        for face in faces:
            x1, y1, x2, y2 = (v * scale for v in face.box)
            box = (x1 - x, y1 - y, x2 - x, y2 - y)
            seen_w = max(0.0, min(box[2], WIDTH) - max(box[0], 0.0))
            seen_h = max(0.0, min(box[3], HEIGHT) - max(box[1], 0.0))
            if seen_w * seen_h >= 0.5 * (x2 - x1) * (y2 - y1):
                truth.append(Face(face.person, box))
        clip.truth.append(truth)
    return clip
