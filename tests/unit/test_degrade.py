"""Synthetic capture degradations: each kind does what its physical model says, more so
at each severity, deterministically per seed; chains, seeds and folder trees."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.errors import ImageError, ImageNotFoundError, UsageError
from faceprint.eval.degrade import (
    KINDS,
    SEVERITIES,
    Degradation,
    degrade,
    degrade_tree,
    image_seed,
    motion_kernel,
    parse_chain,
)
from faceprint.media.images import load_image
from faceprint.types import ImageArray

FACE_PATH = LFW / "images" / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
RANDOM_KINDS = ("motion_blur", "rain", "snow", "fog", "noise", "low_light")
DETERMINISTIC_KINDS = ("low_resolution", "defocus", "jpeg")
Measure = Callable[[ImageArray, ImageArray], float]


@pytest.fixture(scope="module")
def face() -> ImageArray:
    """A real 250×250 LFW photo."""
    if not FACE_PATH.is_file():
        pytest.skip(f"LFW not found at {LFW}")
    return load_image(FACE_PATH)


@pytest.fixture(scope="module")
def small(face: ImageArray) -> ImageArray:
    """The photo at 80 wide × 112 high: small, and not square (catches H/W mix-ups)."""
    return np.ascontiguousarray(cv2.resize(face, (80, 112), interpolation=cv2.INTER_AREA))


def _grey(image: ImageArray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _rng_image(h: int, w: int, seed: int = 0) -> ImageArray:
    """A smooth random colour image (no photo needed)."""
    coarse = np.random.default_rng(seed).uniform(30, 220, (h // 8, w // 8, 3)).astype(np.float32)
    return np.ascontiguousarray(
        np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    )


# --- physical measurements -----------------------------------------------------------


def high_frequency(image: ImageArray, clean: ImageArray) -> float:
    """Variance of the Laplacian of the grey image: energy at the highest frequencies."""
    return float(cv2.Laplacian(_grey(image), cv2.CV_32F).var())


def contrast(image: ImageArray, clean: ImageArray) -> float:
    return float(image.astype(np.float32).std())


def brightness(image: ImageArray, clean: ImageArray) -> float:
    return float(image.astype(np.float32).mean())


def rmse(image: ImageArray, clean: ImageArray) -> float:
    return float(np.sqrt(((image.astype(np.float32) - clean) ** 2).mean()))


def residual_std(image: ImageArray, clean: ImageArray) -> float:
    return float((image.astype(np.float32) - clean).std())


def blockiness(image: ImageArray, clean: ImageArray) -> float:
    """Mean horizontal step across JPEG's 8-px block boundaries over the step inside
    blocks: 1 for a natural image, more as blocking artefacts appear."""
    steps = np.abs(np.diff(_grey(image), axis=1))
    boundary = np.arange(steps.shape[1]) % 8 == 7
    return float(steps[:, boundary].mean() / steps[:, ~boundary].mean())


def bright_cover(image: ImageArray, clean: ImageArray) -> float:
    """Fraction of pixels brightened by more than 60 levels (streaks, flakes)."""
    return float(((image.astype(np.float32) - clean).mean(axis=2) > 60).mean())


MONOTONIC: list[tuple[str, Measure, int]] = [
    # kind, measured quantity, +1 grows / -1 falls with severity (from the clean image on)
    ("motion_blur", high_frequency, -1),
    ("low_resolution", high_frequency, -1),
    ("defocus", high_frequency, -1),
    ("noise", residual_std, +1),
    ("noise", high_frequency, +1),
    ("jpeg", rmse, +1),
    ("jpeg", blockiness, +1),
    ("fog", contrast, -1),
    ("fog", brightness, +1),
    ("low_light", brightness, -1),
    ("low_light", contrast, -1),
    ("rain", brightness, +1),
    ("rain", bright_cover, +1),
    ("snow", brightness, +1),
    ("snow", bright_cover, +1),
]


# --- every kind ----------------------------------------------------------------------


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_and_severity_is_uint8_same_shape_and_changes_the_image(
    small: ImageArray, kind: str, severity: int
) -> None:
    before = small.copy()
    out = degrade(small, Degradation(kind, severity), seed=5)
    assert out.dtype == np.uint8 and out.shape == small.shape
    assert out.flags.c_contiguous
    assert np.array_equal(small, before), "the input was modified"
    assert rmse(out, small) > 1.0, f"{kind}:{severity} barely changed the image"


@pytest.mark.parametrize("kind", RANDOM_KINDS)
def test_random_kinds_repeat_per_seed_and_vary_across_seeds(small: ImageArray, kind: str) -> None:
    first = degrade(small, f"{kind}:2", seed=11)
    assert np.array_equal(first, degrade(small, f"{kind}:2", seed=11))
    others = [degrade(small, f"{kind}:2", seed=s) for s in (12, 13)]
    assert all(not np.array_equal(first, other) for other in others)


@pytest.mark.parametrize("kind", DETERMINISTIC_KINDS)
def test_deterministic_kinds_ignore_the_seed(small: ImageArray, kind: str) -> None:
    assert np.array_equal(degrade(small, kind, seed=0), degrade(small, kind, seed=99))


@pytest.mark.parametrize(("kind", "measure", "direction"), MONOTONIC)
def test_severity_is_monotonic_in_the_physical_quantity(
    face: ImageArray, kind: str, measure: Measure, direction: int
) -> None:
    for seed in (0, 1):
        values = [measure(face, face)] + [
            measure(degrade(face, Degradation(kind, s), seed=seed), face) for s in SEVERITIES
        ]
        signed = [direction * v for v in values]
        assert signed == sorted(signed) and len(set(signed)) == len(signed), (
            f"{kind} {measure.__name__} (clean, 1, 2, 3) = {[round(v, 3) for v in values]}"
        )


def test_blurs_remove_most_of_the_fine_detail_at_severity_two(face: ImageArray) -> None:
    clean = high_frequency(face, face)
    for kind in ("motion_blur", "low_resolution", "defocus"):
        assert high_frequency(degrade(face, f"{kind}:2"), face) < 0.3 * clean, kind


def test_noise_has_the_stated_sigma_zero_mean_and_is_white(face: ImageArray) -> None:
    sigma = KINDS["noise"][1][0]
    residual = degrade(face, "noise:1", seed=2).astype(np.float32) - face
    unclipped = (face >= 3 * sigma) & (face <= 255 - 3 * sigma)  # clipping aside
    assert unclipped.mean() > 0.3
    assert residual[unclipped].std() == pytest.approx(sigma, rel=0.03)
    assert abs(residual[unclipped].mean()) < 0.3
    flat = np.full((128, 128, 3), 128, np.uint8)  # mid-grey: clipping beyond ≈3σ only
    for severity in SEVERITIES:
        sigma = KINDS["noise"][1][severity - 1]
        residual = degrade(flat, Degradation("noise", severity), seed=3).astype(np.float32) - 128
        assert residual.std() == pytest.approx(sigma, rel=0.03), severity
        neighbour = np.corrcoef(residual[:, :-1].ravel(), residual[:, 1:].ravel())[0, 1]
        assert abs(neighbour) < 0.03, severity  # white: no spatial correlation


def test_fog_follows_the_scattering_model_on_a_flat_scene() -> None:
    scene = np.full((96, 96, 3), 40, np.uint8)
    for severity in SEVERITIES:
        t = KINDS["fog"][1][severity - 1]
        out = degrade(scene, Degradation("fog", severity), seed=4).astype(np.float32)
        # I = J·t + A·(1 − t) with A in [0.8, 0.95]·255 and t within ±15 % of its mean
        low, high = 40 * 1.15 * t + 204 * (1 - 1.15 * t), 40 * 0.85 * t + 243 * (1 - 0.85 * t)
        assert low - 1 <= out.min() and out.max() <= high + 1, severity
        assert np.ptp(out[..., 0]) > 0.5, "the transmission field should not be constant"


def test_rain_streaks_run_near_vertical() -> None:
    flat = np.full((128, 128, 3), 60, np.uint8)
    for seed in range(4):
        streaks = (degrade(flat, "rain:3", seed=seed).astype(np.float32) - 60).mean(axis=2)
        gy, gx = np.gradient(streaks)
        tensor = np.array([[(gx * gx).sum(), (gx * gy).sum()], [(gx * gy).sum(), (gy * gy).sum()]])
        strengths, axes = np.linalg.eigh(tensor)
        across = np.degrees(np.arctan2(axes[1, 1], axes[0, 1])) % 180  # gradients cross streaks
        assert min(across, 180 - across) < 30, seed  # so streaks are within ±30° of vertical
        assert strengths[1] > 4 * strengths[0], seed  # and clearly oriented


def test_low_resolution_keeps_only_what_the_small_image_can_hold() -> None:
    """Once down- and up-sampled, an image passes the same resampling almost unchanged."""
    fine = np.random.default_rng(2).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    for severity in SEVERITIES:
        step = Degradation("low_resolution", severity)
        once = degrade(fine, step)
        assert rmse(degrade(once, step), once) < 0.1 * rmse(once, fine), severity


# --- motion kernel -------------------------------------------------------------------


@pytest.mark.parametrize("length", [6.5, 9.0, 15.0, 21.0])
@pytest.mark.parametrize("angle", [0.0, 30.0, 45.0, 72.0, 90.0, 135.0, 170.0])
def test_motion_kernel_is_a_normalised_line_along_the_angle(length: float, angle: float) -> None:
    kernel = motion_kernel(length, angle)
    size = kernel.shape[0]
    assert kernel.shape == (size, size) and size % 2 == 1 and size >= length
    assert kernel.dtype == np.float32 and kernel.min() >= 0
    assert float(kernel.sum()) == pytest.approx(1.0, abs=1e-5)
    c = (size - 1) / 2
    rows, cols = np.mgrid[:size, :size]
    x, y = cols - c, c - rows  # y up: angles counter-clockwise from the x axis
    mx, my = float((kernel * x).sum()), float((kernel * y).sum())
    assert abs(mx) < 0.25 and abs(my) < 0.25, "the kernel should be centred (no shift)"
    cov = np.array(
        [
            [(kernel * x * x).sum(), (kernel * x * y).sum()],
            [(kernel * x * y).sum(), (kernel * y * y).sum()],
        ]
    )
    variances, axes = np.linalg.eigh(cov)
    direction = np.degrees(np.arctan2(axes[1, 1], axes[0, 1])) % 180
    error = abs(direction - angle % 180)
    assert min(error, 180 - error) < 3.0, f"principal direction {direction:.1f}°"
    # a uniform segment of length L has variance L²/12 along it; across it, about a pixel
    assert np.sqrt(12 * variances[1]) == pytest.approx(length, rel=0.1)
    assert np.sqrt(12 * variances[0]) < 2.0


def test_motion_blur_smears_a_point_into_a_line_of_the_stated_length() -> None:
    dot = np.zeros((63, 63, 3), np.uint8)
    dot[31, 31] = 255
    for severity in SEVERITIES:
        length = KINDS["motion_blur"][1][severity - 1]
        out = _grey(degrade(dot, Degradation("motion_blur", severity), seed=7))
        ys, xs = np.nonzero(out > 0)
        extent = np.hypot(np.ptp(xs), np.ptp(ys))
        assert length - 3 <= extent <= length + 2, (severity, extent)


# --- chains --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected", "canonical"),
    [
        (
            "motion_blur:2+noise:1",
            (Degradation("motion_blur", 2), Degradation("noise", 1)),
            "motion_blur:2+noise:1",
        ),
        ("clean", (), ""),
        ("", (), ""),
        ("  noise ", (Degradation("noise", 2),), "noise:2"),
        ("fog:3 + jpeg:1", (Degradation("fog", 3), Degradation("jpeg", 1)), "fog:3+jpeg:1"),
        ("defocus:1+defocus:1", (Degradation("defocus", 1),) * 2, "defocus:1+defocus:1"),
    ],
)
def test_parse_chain_round_trips(
    spec: str, expected: tuple[Degradation, ...], canonical: str
) -> None:
    chain = parse_chain(spec)
    assert chain == expected
    assert "+".join(str(d) for d in chain) == canonical
    assert parse_chain(canonical) == chain


@pytest.mark.parametrize(
    "spec",
    ["nois:1", "noise:4", "noise:0", "noise:-1", "noise:x", "noise:1.5", "noise:2+", "+noise",
     "clean+noise", "Noise:1", "motion blur:2"],
)  # fmt: skip
def test_parse_chain_refuses_bad_kinds_and_severities(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_chain(spec)


@pytest.mark.parametrize(
    ("kind", "severity"), [("fog", 2.0), ("fog", True), ("fog", "2"), ("x", 1)]
)
def test_degradation_checks_its_fields(kind: str, severity: object) -> None:
    with pytest.raises(UsageError):
        Degradation(kind, severity)  # type: ignore[arg-type]


def test_degradation_parameter_is_the_table_value() -> None:
    for kind, (_, values, _) in KINDS.items():
        assert [Degradation(kind, s).parameter for s in SEVERITIES] == list(values)
        assert Degradation(kind).severity == 2
    assert Degradation("noise", np.int64(3)).parameter == 40.0  # type: ignore[arg-type]


def test_a_chain_is_its_steps_in_order_each_with_its_own_spawned_seed(small: ImageArray) -> None:
    chain = parse_chain("motion_blur:1+noise:1+jpeg:2")
    expected = small
    children = np.random.SeedSequence(21).spawn(len(chain))
    for step, child in zip(chain, children, strict=True):
        expected = KINDS[step.kind][0](expected, np.random.default_rng(child), step.parameter)
    assert np.array_equal(degrade(small, chain, seed=21), expected)
    assert np.array_equal(degrade(small, "motion_blur:1+noise:1+jpeg:2", seed=21), expected)
    assert np.array_equal(degrade(small, list(chain), seed=21), expected)


def test_chains_compose_through_the_public_api(small: ImageArray) -> None:
    # deterministic steps: the chain is exactly one step after the other
    for spec in ("defocus:1+jpeg:2", "low_resolution:2+defocus:1+jpeg:3"):
        step_by_step = small
        for step in parse_chain(spec):
            step_by_step = degrade(step_by_step, step)
        assert np.array_equal(degrade(small, spec), step_by_step), spec
    # a chain's first step draws what it draws alone with the same seed
    alone = degrade(small, "noise:1", seed=8)
    assert np.array_equal(degrade(small, "noise:1+jpeg:2", seed=8), degrade(alone, "jpeg:2"))
    # the steps of a chain do not share random draws, and order matters
    twice = degrade(small, "noise:1+noise:1", seed=8)
    assert not np.array_equal(twice, degrade(alone, "noise:1", seed=8))
    assert not np.array_equal(
        degrade(small, "noise:2+defocus:2", seed=8), degrade(small, "defocus:2+noise:2", seed=8)
    )
    assert np.array_equal(
        degrade(small, Degradation("fog", 1), seed=3), degrade(small, "fog:1", seed=3)
    )


def test_the_empty_chain_is_a_copy(small: ImageArray) -> None:
    for chain in ("clean", (), []):
        out = degrade(small, chain)
        assert out is not small and np.array_equal(out, small)


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((32, 32), np.uint8),
        np.zeros((32, 32, 4), np.uint8),
        np.zeros((32, 32, 3), np.float32),
        np.zeros((32, 32, 3), np.uint16),
    ],
)
def test_degrade_refuses_what_is_not_rgb_uint8(image: np.ndarray) -> None:
    with pytest.raises(ImageError):
        degrade(image, "noise:1")


def test_degrade_refuses_a_negative_seed() -> None:
    with pytest.raises(UsageError, match="seed"):
        degrade(_rng_image(32, 32), "noise:1", seed=-1)


# --- seeds ---------------------------------------------------------------------------


def test_image_seed_depends_on_the_name_and_run_seed_not_on_order() -> None:
    names = [f"person_{i // 10}/photo_{i % 10:04d}.jpg" for i in range(2000)]
    forward = {name: image_seed(7, name) for name in names}
    backward = {name: image_seed(7, name) for name in reversed(names)}
    assert forward == backward
    assert len(set(forward.values())) == len(names)
    assert all(0 <= s < 2**32 for s in forward.values())
    assert all(image_seed(8, name) != forward[name] for name in names[:200])
    assert image_seed(0, "a/b.jpg") == image_seed(0, "a/b.jpg")


# --- folder trees --------------------------------------------------------------------


def _tree(root: Path) -> dict[str, ImageArray]:
    """A small tree of PNG and JPEG files; returns relative path → the pixels written."""
    images = {
        "ada/one.png": _rng_image(64, 48, seed=1),
        "ada/two.jpg": _rng_image(48, 64, seed=2),
        "bob/deep/three.png": _rng_image(64, 64, seed=3),
    }
    for name, pixels in images.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(path), pixels[:, :, ::-1])
    (root / "ada" / ".hidden.png").write_bytes((root / "ada" / "one.png").read_bytes())
    (root / "notes.txt").write_text("not an image")
    return images


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_degrade_tree_writes_the_same_tree_deterministically(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    images = _tree(src)
    calls: list[tuple[int, int, str]] = []
    summary = degrade_tree(
        src, dst, "defocus:1+noise:1", seed=3, progress=lambda *a: calls.append(a)
    )
    assert (summary.chain, summary.written, summary.kept, summary.failed) == (
        "defocus:1+noise:1",
        3,
        0,
        (),
    )
    assert set(_files(dst)) == set(images)  # hidden files and non-images are not copied
    assert [c[:2] for c in calls] == [(1, 3), (2, 3), (3, 3)]
    assert {c[2] for c in calls} == {str(Path(n)) for n in images}
    for name, pixels in images.items():
        out = load_image(dst / name)
        assert out.shape == pixels.shape, name
        if name.endswith(".png"):  # lossless: exactly degrade() with the image's own seed
            source = load_image(src / name)
            expected = degrade(source, "defocus:1+noise:1", seed=image_seed(3, name))
            assert np.array_equal(out, expected), name
    again = tmp_path / "again"
    degrade_tree(src, again, "defocus:1+noise:1", seed=3)
    assert _files(again) == _files(dst)
    other = tmp_path / "other-seed"
    degrade_tree(src, other, "defocus:1+noise:1", seed=4)
    assert all(_files(other)[n] != _files(dst)[n] for n in images)


def test_degrade_tree_keeps_what_exists_unless_overwrite(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    _tree(src)
    degrade_tree(src, dst, "noise:1")
    first = _files(dst)
    (dst / "ada" / "one.png").unlink()  # as if the run had been interrupted
    summary = degrade_tree(src, dst, "noise:1")
    assert (summary.written, summary.kept) == (1, 2)
    assert _files(dst) == first  # the missing one comes back identical
    kept = degrade_tree(src, dst, "fog:3")
    assert (kept.written, kept.kept) == (0, 3) and _files(dst) == first
    redone = degrade_tree(src, dst, "fog:3", overwrite=True)
    assert (redone.written, redone.kept) == (3, 0)
    assert all(_files(dst)[n] != first[n] for n in first)


def test_degrade_tree_refuses_an_output_inside_the_input(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _tree(src)
    for target in (src, src / "degraded", src / "ada" / "x", tmp_path / "src" / ".." / "src"):
        with pytest.raises(UsageError, match="inside"):
            degrade_tree(src, target, "noise:1")
    with pytest.raises(UsageError):  # one image into its own folder would replace it
        degrade_tree(src / "ada" / "one.png", src / "ada", "noise:1", overwrite=True)
    with pytest.raises(UsageError):
        degrade_tree(src, tmp_path / "out", "noise:9")
    assert not (src / "degraded").exists() and not (tmp_path / "out").exists()


def test_degrade_tree_reports_unreadable_images_and_goes_on(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    images = _tree(src)
    (src / "ada" / "broken.jpg").write_text("this is not a JPEG")
    (src / "bob" / "empty.png").write_bytes(b"")
    summary = degrade_tree(src, dst, "jpeg:1")
    assert summary.written == len(images) and summary.kept == 0
    failed = dict(summary.failed)
    assert set(failed) == {
        str((src / "ada" / "broken.jpg").resolve()),
        str((src / "bob" / "empty.png").resolve()),
    }
    assert all(message for message in failed.values())
    assert set(_files(dst)) == set(images)
    assert not list(dst.rglob("*.part"))


def test_degrade_tree_takes_one_file_and_reports_unencodable_suffixes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    images = _tree(src)
    one = degrade_tree(src / "ada" / "one.png", tmp_path / "one", "defocus:2")
    assert (
        one.written == 1
        and load_image(tmp_path / "one" / "one.png").shape == images["ada/one.png"].shape
    )
    odd = tmp_path / "photo.weird"
    odd.write_bytes(
        (src / "ada" / "two.jpg").read_bytes()
    )  # a JPEG OpenCV cannot write back as .weird
    summary = degrade_tree(odd, tmp_path / "odd", "noise:1")
    assert summary.written == 0 and len(summary.failed) == 1
    assert not (tmp_path / "odd").exists() or not any((tmp_path / "odd").iterdir())
    with pytest.raises(ImageNotFoundError):
        degrade_tree(tmp_path / "missing", tmp_path / "out", "noise:1")


def test_degrade_tree_never_leaves_partial_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, dst = tmp_path / "src", tmp_path / "out"
    _tree(src)
    real_replace = os.replace
    calls = 0

    def failing_replace(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError(28, "No space left on device")
        real_replace(a, b)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space"):
        degrade_tree(src, dst, "noise:1")
    monkeypatch.setattr(os, "replace", real_replace)
    assert [p.name for p in dst.rglob("*") if p.is_file()] == ["one.png"]  # the first, whole
    assert not [p for p in dst.rglob(".*") if p.is_file()]
    resumed = degrade_tree(src, dst, "noise:1")
    assert (resumed.written, resumed.kept) == (2, 1)
    assert not [p for p in dst.rglob(".*") if p.is_file()]
