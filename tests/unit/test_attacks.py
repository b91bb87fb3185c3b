"""Simulated presentation attacks: deterministic, same shape, visibly different."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.eval.attacks import ATTACKS


@pytest.fixture()
def photo():
    rng = np.random.default_rng(5)
    base = np.linspace(30, 220, 160 * 120, dtype=np.float32).reshape(120, 160)
    image = np.stack([base, base[::-1], base * 0.8], axis=2)
    return np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_deterministic_and_changes_the_image(photo, name):
    attack = ATTACKS[name]
    a = attack(photo, np.random.default_rng(1))
    b = attack(photo, np.random.default_rng(1))
    assert a.shape == photo.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - photo.astype(int)).mean() > 3.0


def test_print_attack_lowers_saturation(photo):
    printed = ATTACKS["printed_photo"](photo, np.random.default_rng(0))

    def saturation(img):
        f = img.astype(np.float32)
        return float((f.max(axis=2) - f.min(axis=2)).mean())

    assert saturation(printed) < 0.8 * saturation(photo)


def test_photo_of_photo_shows_background_at_the_corners(photo):
    out = ATTACKS["photo_of_photo"](photo, np.random.default_rng(0))
    corner = out[:4, :4].astype(np.float32)
    assert corner.std() < 40  # flat background, not the photo's gradient
