"""Alignment math: similarity transforms, templates, crops."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.core.align import (
    TEMPLATES,
    align,
    alignment_matrix,
    box_crop_matrix,
    invert_affine,
    similarity_transform,
    transform_points,
)


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    r = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    return np.hstack([r, [[tx], [ty]]])


@pytest.mark.parametrize(
    ("scale", "angle", "tx", "ty"),
    [(1.0, 0.0, 0.0, 0.0), (2.5, 30.0, -10.0, 4.0), (0.3, -170.0, 100.0, 50.0)],
)
def test_similarity_transform_recovers_exact_transform(scale, angle, tx, ty):
    src = np.array([[10, 20], [50, 22], [30, 40], [15, 60], [45, 61]], dtype=np.float64)
    m = _similarity(scale, angle, tx, ty)
    dst = transform_points(src, m)
    est = similarity_transform(src, dst)
    np.testing.assert_allclose(est, m, atol=1e-9)


def test_similarity_transform_is_least_squares_with_noise():
    rng = np.random.default_rng(3)
    src = rng.uniform(0, 100, (5, 2))
    m = _similarity(1.7, 12.0, 3.0, -8.0)
    dst = transform_points(src, m) + rng.normal(0, 0.5, (5, 2))
    est = similarity_transform(src, dst)
    residual = np.linalg.norm(transform_points(src, est) - dst)
    # The estimate fits at least as well as the true transform.
    assert residual <= np.linalg.norm(transform_points(src, m) - dst) + 1e-9


def test_similarity_transform_never_reflects():
    src = np.array([[0, 0], [1, 0], [0, 1]], dtype=float)
    dst = src * np.array([-1, 1])  # a mirror image
    m = similarity_transform(src, dst)
    assert np.linalg.det(m[:, :2]) > 0


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (np.zeros((5, 2)), np.ones((5, 2))),  # coincident points
        (np.ones((5, 2)), np.ones((4, 2))),  # shape mismatch
        (np.ones((1, 2)), np.ones((1, 2))),  # too few
        (np.full((5, 2), np.nan), np.ones((5, 2))),  # not finite
    ],
)
def test_similarity_transform_rejects_bad_input(src, dst):
    with pytest.raises(ValueError):
        similarity_transform(src, dst)


def test_alignment_maps_landmarks_onto_template():
    points, size = TEMPLATES["arcface_112"]
    m_true = _similarity(2.0, 15.0, 40.0, 30.0)
    landmarks = transform_points(points, invert_affine(m_true))  # a face in a big image
    m = alignment_matrix(landmarks, "arcface_112")
    np.testing.assert_allclose(transform_points(landmarks, m), points, atol=1e-6)
    image = np.zeros((400, 400, 3), np.uint8)
    crop, matrix = align(image, landmarks, template="arcface_112")
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    np.testing.assert_allclose(matrix, m)


def test_omz_template_is_scaled_to_128():
    points, size = TEMPLATES["omz_0095_128"]
    assert size == 128
    np.testing.assert_allclose(points[0], [30.2946 / 96 * 128, 51.6963 / 112 * 128])


def test_warp_moves_a_marked_pixel_where_the_matrix_says():
    image = np.zeros((100, 100, 3), np.uint8)
    image[40, 60] = (255, 0, 0)
    m = np.array([[1.0, 0.0, -50.0], [0.0, 1.0, -30.0]])  # shift by (-50, -30)
    from faceprint.core.align import warp

    crop = warp(image, m, 32)
    assert tuple(crop[10, 10]) == (255, 0, 0)
    assert crop.sum() == 255


def test_box_crop_matrix_maps_box_corners_to_crop_corners():
    m = box_crop_matrix((10, 20, 110, 70), width=48, height=48)
    corners = transform_points(np.array([[10, 20], [110, 70]]), m)
    np.testing.assert_allclose(corners, [[0, 0], [48, 48]])
    sq = box_crop_matrix((10, 20, 110, 70), width=80, height=80, scale=2.0, square=True)
    # square of side 100 scaled by 2 about the centre (60, 45): left/top = -40, -55
    np.testing.assert_allclose(transform_points(np.array([[-40, -55]]), sq), [[0, 0]], atol=1e-9)


def test_invert_affine_round_trip():
    m = _similarity(0.5, 33.0, 7.0, -2.0)
    p = np.array([[1.0, 2.0], [3.0, -4.0]])
    np.testing.assert_allclose(transform_points(transform_points(p, m), invert_affine(m)), p)
