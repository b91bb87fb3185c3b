"""Synthetic capture degradations: what CCTV and phone cameras do to a face.

Nine kinds, each at three severities (1 mild, 2 moderate, 3 severe), composable and
deterministic for a given seed. Severity 2 is the setting the robustness figures in the
docs are quoted at. Parameters are in pixels of the image they are applied to; the
notes give what they mean for LFW's 250×250 photos, whose faces are ≈ 105 px wide.

=================  ================================================  ==========================
kind               model                                             severity 1 / 2 / 3
=================  ================================================  ==========================
``motion_blur``    linear motion kernel, random direction            9 / 15 / 21 px long
``low_resolution`` area down-sampling, bicubic up-sampling back      ×1/3, ×1/5, ×1/7 (faces
                                                                     ≈ 35, 21, 15 px on LFW)
``rain``           streaks along one random near-vertical             density 1.5 / 3 / 5 per
                   direction, motion-blurred, alpha-blended, veil    1,000 px
``snow``           soft flakes of random size, brightened veil       density 1 / 2 / 3.5 per
                                                                     1,000 px
``fog``            atmospheric scattering I = J·t + A·(1 − t) with   mean t 0.75 / 0.55 / 0.4
                   a smooth random transmission field
``defocus``        Gaussian point-spread function                    σ 1.5 / 3 / 4.5 px
``noise``          additive white Gaussian sensor noise              σ 12 / 25 / 40 (of 255)
``jpeg``           JPEG re-compression                               quality 20 / 8 / 4
``low_light``      gamma, gain, then shot + read noise, 8-bit        gamma 1.8/2.2/2.6, gain
                   quantisation                                      0.4/0.25/0.15
=================  ================================================  ==========================

Use :func:`degrade` for one image, a :class:`Degradation` chain for compositions
(``"motion_blur:2+noise:1"``), and :func:`degrade_tree` for a folder of photos.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from faceprint.core.degradation import motion_kernel
from faceprint.errors import ImageError, UsageError
from faceprint.types import ImageArray, Progress

__all__ = [
    "KINDS",
    "SEVERITIES",
    "Degradation",
    "DegradeSummary",
    "degrade",
    "degrade_tree",
    "image_seed",
    "motion_kernel",
    "parse_chain",
]

SEVERITIES = (1, 2, 3)
Float = NDArray[np.float32]


def _to_float(image: ImageArray) -> Float:
    return np.asarray(image, dtype=np.float32)


def _to_uint8(image: NDArray[Any]) -> ImageArray:
    return np.ascontiguousarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))


def _motion_blur(image: ImageArray, rng: np.random.Generator, length: float) -> ImageArray:
    kernel = motion_kernel(length, float(rng.uniform(0.0, 180.0)))
    return _to_uint8(cv2.filter2D(_to_float(image), -1, kernel, borderType=cv2.BORDER_REFLECT))


def _low_resolution(image: ImageArray, rng: np.random.Generator, factor: float) -> ImageArray:
    h, w = image.shape[:2]
    small = cv2.resize(
        image, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA
    )
    return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))


def _defocus(image: ImageArray, rng: np.random.Generator, sigma: float) -> ImageArray:
    return _to_uint8(cv2.GaussianBlur(_to_float(image), (0, 0), sigma))


def _noise(image: ImageArray, rng: np.random.Generator, sigma: float) -> ImageArray:
    return _to_uint8(_to_float(image) + rng.normal(0.0, sigma, image.shape).astype(np.float32))


def _jpeg(image: ImageArray, rng: np.random.Generator, quality: float) -> ImageArray:
    ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise ImageError("JPEG encoding failed")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover - OpenCV decodes what it just encoded
        raise ImageError("JPEG decoding failed")
    return np.ascontiguousarray(decoded[:, :, ::-1])


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, cells: int = 4) -> Float:
    """A smooth random field in [0, 1]: a coarse grid of uniform values, bicubic-upsampled."""
    h, w = shape
    grid = rng.uniform(0.0, 1.0, (cells, cells)).astype(np.float32)
    field = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.clip(field, 0.0, 1.0)


def _fog(image: ImageArray, rng: np.random.Generator, transmission: float) -> ImageArray:
    h, w = image.shape[:2]
    t = transmission * (0.85 + 0.3 * _smooth_field((h, w), rng))
    airlight = 255.0 * rng.uniform(0.8, 0.95)
    t3 = np.clip(t, 0.05, 1.0)[..., None]
    return _to_uint8(_to_float(image) * t3 + airlight * (1.0 - t3))


def _rain(image: ImageArray, rng: np.random.Generator, density: float) -> ImageArray:
    h, w = image.shape[:2]
    angle = 90.0 + rng.uniform(-20.0, 20.0)  # near vertical, one direction per image
    length = max(6.0, 0.08 * max(h, w)) * (0.8 + 0.1 * density)
    mask = np.zeros((h, w), np.float32)
    count = int(density * h * w / 1000.0)
    xs, ys = rng.uniform(0, w, count), rng.uniform(0, h, count)
    strengths = rng.uniform(0.4, 1.0, count)
    for x, y, s in zip(xs, ys, strengths, strict=True):
        mask[int(y), int(x)] = max(mask[int(y), int(x)], float(s))
    mask = cv2.filter2D(mask, -1, motion_kernel(length, angle)) * length
    mask = np.clip(cv2.GaussianBlur(mask, (0, 0), 0.6), 0.0, 1.0)
    veil = 0.04 * density
    out = _to_float(image) * (1.0 - veil) + 200.0 * veil
    alpha = 0.75 * mask[..., None]
    return _to_uint8(out * (1.0 - alpha) + 235.0 * alpha)


def _snow(image: ImageArray, rng: np.random.Generator, density: float) -> ImageArray:
    h, w = image.shape[:2]
    mask = np.zeros((h, w), np.float32)
    count = int(density * h * w / 1000.0)
    scale = max(h, w) / 250.0
    for _ in range(count):
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        radius = max(1, round(rng.uniform(0.5, 1.0 + 0.8 * density) * scale))
        cv2.circle(mask, centre, radius, float(rng.uniform(0.5, 1.0)), -1, cv2.LINE_AA)
    mask = np.clip(cv2.GaussianBlur(mask, (0, 0), 0.8 * scale), 0.0, 1.0)
    veil = 0.05 * density
    out = _to_float(image) * (1.0 - veil) + 230.0 * veil
    alpha = mask[..., None]
    return _to_uint8(out * (1.0 - alpha) + 250.0 * alpha)


def _low_light(image: ImageArray, rng: np.random.Generator, level: float) -> ImageArray:
    gamma, gain, read = {1: (1.8, 0.4, 2.0), 2: (2.2, 0.25, 3.0), 3: (2.6, 0.15, 4.0)}[int(level)]
    linear = np.power(_to_float(image) / 255.0, gamma) * gain * 255.0
    shot = rng.normal(0.0, 1.0, image.shape).astype(np.float32) * np.sqrt(np.maximum(linear, 0.0))
    read_noise = rng.normal(0.0, read, image.shape).astype(np.float32)
    return _to_uint8(linear + 0.5 * shot + read_noise)


_Apply = Callable[[ImageArray, np.random.Generator, float], ImageArray]

KINDS: dict[str, tuple[_Apply, tuple[float, float, float], str]] = {
    "motion_blur": (_motion_blur, (9.0, 15.0, 21.0), "linear motion kernel length (px)"),
    "low_resolution": (_low_resolution, (1 / 3, 1 / 5, 1 / 7), "down-sampling factor"),
    "rain": (_rain, (1.5, 3.0, 5.0), "streaks per 1,000 px"),
    "snow": (_snow, (1.0, 2.0, 3.5), "flakes per 1,000 px"),
    "fog": (_fog, (0.75, 0.55, 0.4), "mean transmission"),
    "defocus": (_defocus, (1.5, 3.0, 4.5), "Gaussian PSF sigma (px)"),
    "noise": (_noise, (12.0, 25.0, 40.0), "Gaussian noise sigma (of 255)"),
    "jpeg": (_jpeg, (20.0, 8.0, 4.0), "JPEG quality"),
    "low_light": (_low_light, (1.0, 2.0, 3.0), "level (gamma, gain, read noise)"),
}
"""kind → (function, parameter at severity 1/2/3, what the parameter is)."""


@dataclass(frozen=True, slots=True)
class Degradation:
    """One degradation: a kind at a severity (1 mild … 3 severe)."""

    kind: str
    severity: int = 2

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown degradation {self.kind!r}; choose from {', '.join(KINDS)}")
        severity: object = self.severity
        if (
            isinstance(severity, bool)
            or not isinstance(severity, int | np.integer)
            or severity not in SEVERITIES
        ):
            raise UsageError(f"severity must be 1, 2 or 3, got {self.severity!r}")

    @property
    def parameter(self) -> float:
        """The kind's parameter at this severity (see the module table)."""
        return KINDS[self.kind][1][int(self.severity) - 1]

    def __str__(self) -> str:
        return f"{self.kind}:{self.severity}"


def parse_chain(spec: str) -> tuple[Degradation, ...]:
    """``"motion_blur:2+noise"`` → degradations applied left to right (severity 2 when
    omitted). ``"clean"`` or ``""`` is the empty chain.

    Raises:
        UsageError: an unknown kind or a severity other than 1, 2, 3.
    """
    spec = spec.strip()
    if spec in ("", "clean"):
        return ()
    chain = []
    for part in spec.split("+"):
        kind, _, level = part.strip().partition(":")
        try:
            severity = int(level) if level else 2
        except ValueError:
            raise UsageError(f"severity of {kind!r} must be 1, 2 or 3, got {level!r}") from None
        chain.append(Degradation(kind.strip(), severity))
    return tuple(chain)


def image_seed(seed: int, name: str) -> int:
    """A per-image seed from a run seed and the image's name (e.g. its path relative
    to the dataset root): independent of processing order, so any subset or re-run of
    a folder gets the same degradation for the same image."""
    return (int(seed) * 0x9E3779B1 + zlib.crc32(name.encode("utf-8"))) % (2**32)


def degrade(
    image: ImageArray,
    chain: Degradation | str | Sequence[Degradation],
    *,
    seed: int = 0,
) -> ImageArray:
    """Apply a degradation (or a chain, left to right) to an H×W×3 uint8 RGB image.

    The result is a new uint8 array of the same shape; the same ``seed`` gives the same
    result. Each step of a chain draws from its own child of ``seed``.

    Raises:
        UsageError: an unknown kind or severity, or a negative ``seed``.
        ImageError: the image is not H×W×3 uint8.
    """
    if int(seed) < 0:
        raise UsageError(f"the seed must be a non-negative integer, got {seed}")
    if isinstance(chain, str):
        steps: tuple[Degradation, ...] = parse_chain(chain)
    elif isinstance(chain, Degradation):
        steps = (chain,)
    else:
        steps = tuple(chain)
    pixels = np.asarray(image)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ImageError(f"expected an H×W×3 uint8 RGB image, got {pixels.dtype} {pixels.shape}")
    out = np.ascontiguousarray(pixels.copy())
    children = np.random.SeedSequence(seed).spawn(len(steps))
    for step, child in zip(steps, children, strict=True):
        function = KINDS[step.kind][0]
        out = function(out, np.random.default_rng(child), step.parameter)
    return out


@dataclass(frozen=True, slots=True)
class DegradeSummary:
    """What :func:`degrade_tree` did."""

    chain: str
    written: int
    kept: int
    failed: tuple[tuple[str, str], ...]


def _write(path: Path, pixels: ImageArray) -> None:
    """Write atomically (temporary file, then rename) in the format of the suffix."""
    suffix = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix in (".jpg", ".jpeg") else []
    try:
        ok, data = cv2.imencode(suffix if suffix else ".png", pixels[:, :, ::-1], params)
    except cv2.error:  # a suffix OpenCV has no encoder for
        ok = False
    if not ok:
        raise ImageError(f"cannot encode {path.name} as {suffix or '.png'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_bytes(data.tobytes())
        os.replace(tmp, path)
    except BaseException:  # disk full, Ctrl-C …: never leave a partial file behind
        tmp.unlink(missing_ok=True)
        raise


def _walk(root: Path) -> Iterator[Path]:
    from faceprint.media.images import find_images

    yield from find_images(root)


def degrade_tree(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    chain: str | Sequence[Degradation],
    *,
    seed: int = 0,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> DegradeSummary:
    """Degrade every image under ``source`` into the same tree under ``target``.

    Each image's seed is :func:`image_seed` of ``seed`` and its path relative to
    ``source``, so re-runs and subsets agree. Files are written atomically with their
    original name and format (JPEG at quality 95, so ``jpeg`` degradations dominate the
    re-encoding); images already present in ``target`` are kept unless ``overwrite``,
    so an interrupted run resumes where it stopped. Unreadable images are reported,
    not fatal.

    Raises:
        UsageError: ``target`` is ``source`` or inside it, or the chain is invalid.
        faceprint.errors.ImageNotFoundError: ``source`` does not exist.
    """
    from faceprint.media.images import decode_image

    steps = parse_chain(chain) if isinstance(chain, str) else tuple(chain)
    src, dst = Path(source).resolve(), Path(target).resolve()
    if dst == src or src in dst.parents:
        raise UsageError(f"the output folder {dst} must not be inside the input folder {src}")
    if src.is_file() and dst == src.parent:
        raise UsageError(f"the output folder {dst} holds the input {src.name}; choose another")
    paths = list(_walk(src))
    written = kept = 0
    failed: list[tuple[str, str]] = []
    for i, path in enumerate(paths):
        relative = path.relative_to(src) if path != src else Path(path.name)
        out = dst / relative
        if out.exists() and not overwrite:
            kept += 1
        else:
            try:
                image = decode_image(path)
                _write(
                    out, degrade(image.pixels, steps, seed=image_seed(seed, relative.as_posix()))
                )
                written += 1
            except ImageError as exc:
                failed.append((str(path), str(exc)))
        if progress is not None:
            progress(i + 1, len(paths), str(relative))
    return DegradeSummary(
        chain="+".join(str(s) for s in steps) or "clean",
        written=written,
        kept=kept,
        failed=tuple(failed),
    )
