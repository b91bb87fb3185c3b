"""Box geometry and marginal-face flags."""

from __future__ import annotations

import pytest

from faceprint.core.boxes import face_issues, iou, primary_face_index
from faceprint.types import Detection, FaceIssue

LM = ((0.0, 0.0),) * 5


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (10, 10, 20, 20), 0.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
    ],
)
def test_iou(a, b, expected):
    assert iou(a, b) == pytest.approx(expected)


def _issues(box, score=0.9):
    return face_issues(
        box,
        score,
        image_width=200,
        image_height=100,
        min_face_size=32,
        low_score=0.7,
        border_margin=0.05,
    )


def test_face_issues_table():
    assert _issues((50, 20, 100, 80)) == ()
    assert _issues((50, 20, 70, 80)) == (FaceIssue.TOO_SMALL,)
    assert _issues((-10, 20, 40, 80)) == (FaceIssue.NEAR_BORDER,)  # 10 of 50 px outside
    assert _issues((-2, 20, 48, 80)) == ()  # 2 of 50 px outside: within the margin
    assert _issues((50, 50, 100, 110)) == (FaceIssue.NEAR_BORDER,)
    assert _issues((50, 20, 100, 80), score=0.6) == (FaceIssue.LOW_SCORE,)
    assert _issues((-10, 20, 10, 80), score=0.1) == (
        FaceIssue.TOO_SMALL,
        FaceIssue.NEAR_BORDER,
        FaceIssue.LOW_SCORE,
    )


def test_primary_face_prefers_large_central_face():
    small_edge = Detection((0, 0, 30, 30), 0.99, LM)
    big_centre = Detection((70, 20, 130, 80), 0.80, LM)
    assert primary_face_index([small_edge, big_centre], image_width=200, image_height=100) == 1
    # A huge off-centre face still beats a tiny central one.
    huge = Detection((0, 0, 90, 100), 0.9, LM)
    tiny = Detection((95, 45, 105, 55), 0.9, LM)
    assert primary_face_index([tiny, huge], image_width=200, image_height=100) == 1


def test_primary_face_requires_detections():
    with pytest.raises(ValueError):
        primary_face_index([], image_width=10, image_height=10)


def test_context_box_scales_about_centre_and_shifts_inside():
    from faceprint.core.boxes import context_box

    # fits: 2× about the centre (50, 50)
    assert context_box((40, 40, 60, 60), scale=2.0, image_width=200, image_height=200) == (
        30.0,
        30.0,
        70.0,
        70.0,
    )
    # near the left/top edge: shifted right/down, size kept
    box = context_box((0, 0, 20, 20), scale=2.0, image_width=200, image_height=200)
    assert box == (0.0, 0.0, 40.0, 40.0)
    # near the right/bottom edge
    box = context_box((180, 180, 199, 199), scale=2.0, image_width=200, image_height=200)
    assert box[2] == 199.0 and box[3] == 199.0 and box[2] - box[0] == pytest.approx(38.0)
    # too big for the image: scale reduced so the box fits
    box = context_box((50, 50, 150, 150), scale=4.0, image_width=200, image_height=200)
    assert box[2] - box[0] == pytest.approx(199.0)
    assert box[0] >= 0 and box[2] <= 199.0
