"""Verification and identification metrics, checked against hand-computed tables and
brute-force references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceprint.core.metrics import (
    KFoldResult,
    best_threshold,
    kfold_accuracy,
    open_set_identification,
    roc_auc,
    roc_curve,
    tar_at_far,
)

# Six scores, known by hand: genuine 0.9, 0.8, 0.6; impostor 0.7, 0.5, 0.4.
SIX_SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
SIX_LABELS = np.array([1, 1, 0, 1, 0, 0])
SIX_GENUINE = SIX_SCORES[SIX_LABELS == 1]
SIX_IMPOSTOR = SIX_SCORES[SIX_LABELS == 0]


def brute_force_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    pos = scores[labels.astype(bool)]
    neg = scores[~labels.astype(bool)]
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(pos) * len(neg))


def accuracy(scores: np.ndarray, labels: np.ndarray, t: float) -> float:
    return float(np.mean((scores >= t) == labels.astype(bool)))


# --- ROC ---------------------------------------------------------------------------


def test_roc_curve_of_the_six_score_example():
    far, tar, thr = roc_curve(SIX_SCORES, SIX_LABELS)
    np.testing.assert_allclose(far, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(tar, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    np.testing.assert_allclose(thr, [np.inf, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4])


def test_roc_curve_merges_tied_scores_into_one_point():
    far, tar, thr = roc_curve([0.5, 0.5, 0.5, 0.1], [1, 0, 1, 0])
    np.testing.assert_allclose(thr, [np.inf, 0.5, 0.1])
    np.testing.assert_allclose(tar, [0, 1, 1])
    np.testing.assert_allclose(far, [0, 0.5, 1])


def test_roc_auc_of_the_six_score_example_is_eight_ninths():
    # genuine > impostor in 3 + 3 + 2 of 9 pairs
    assert roc_auc(SIX_SCORES, SIX_LABELS) == pytest.approx(8 / 9)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], 1.0),
        ([0.1, 0.2, 0.9, 0.8], [1, 1, 0, 0], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], 0.5),
        ([0.5, 0.5, 0.4], [1, 0, 0], 0.75),  # one tie (half) and one win
        ([True, False, True], [True, False, False], 0.75),  # booleans are numbers too
    ],
)
def test_roc_auc_table(scores, labels, expected):
    assert roc_auc(scores, labels) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_roc_auc_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 150)
    scores = np.round(rng.normal(labels * 0.7, 1.0), 1)  # rounding makes many ties
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)


def test_area_under_roc_curve_points_equals_roc_auc():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(labels, 1.0), 2).astype(np.float32)
    far, tar, _ = roc_curve(scores, labels)
    assert np.all(np.diff(far) >= 0) and np.all(np.diff(tar) >= 0)
    assert far[-1] == 1.0 and tar[-1] == 1.0
    trapezoid = float(np.sum(np.diff(far) * (tar[1:] + tar[:-1]) / 2))
    assert trapezoid == pytest.approx(roc_auc(scores, labels), abs=1e-12)


@pytest.mark.parametrize(
    ("scores", "labels"),
    [
        ([0.1, 0.2], [1]),  # lengths differ
        ([], []),  # empty
        ([0.1, 0.2], [1, 1]),  # no impostor
        ([0.1, 0.2], [0, 0]),  # no genuine
        ([0.1, np.nan], [1, 0]),  # not finite
        ([0.1, 0.2], [1, 2]),  # labels not 0/1
        ([0.1, 0.2], ["a", "b"]),  # labels not numeric
    ],
)
def test_roc_rejects_bad_input(scores, labels):
    with pytest.raises(ValueError):
        roc_auc(scores, labels)
    with pytest.raises(ValueError):
        roc_curve(scores, labels)


# --- TAR at FAR --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("far", "expected_tar", "just_above"),
    [
        (0.30, 2 / 3, 0.7),  # floor(0.9) = 0 impostors allowed: above 0.7
        (0.34, 1.0, 0.5),  # floor(1.02) = 1 allowed (0.7): just above 0.5
        (0.67, 1.0, 0.4),  # floor(2.01) = 2 allowed: just above 0.4
        (0.99, 1.0, 0.4),  # floor(2.97) = 2 allowed
    ],
)
def test_tar_at_far_six_score_table(far, expected_tar, just_above):
    tar, threshold = tar_at_far(SIX_GENUINE, SIX_IMPOSTOR, far=far)
    assert tar == pytest.approx(expected_tar)
    assert threshold == np.nextafter(just_above, np.inf)


def test_tar_at_far_threshold_is_the_smallest_that_keeps_the_budget():
    rng = np.random.default_rng(3)
    impostor = rng.normal(0.0, 0.1, 3000)
    genuine = rng.normal(0.5, 0.1, 3000)
    tar, threshold = tar_at_far(genuine, impostor, far=1e-3)
    allowed = math.floor(1e-3 * 3000)
    assert allowed == 3
    assert int(np.sum(impostor >= threshold)) <= allowed
    assert int(np.sum(impostor >= np.nextafter(threshold, -np.inf))) > allowed
    assert tar == pytest.approx(np.mean(genuine >= threshold))


def test_tar_at_far_threshold_is_exact_in_float32():
    rng = np.random.default_rng(4)
    impostor = rng.normal(0.0, 0.1, 1000).astype(np.float32)
    genuine = rng.normal(0.5, 0.1, 1000).astype(np.float32)
    tar, threshold = tar_at_far(genuine, impostor, far=0.01)
    assert float(np.float32(threshold)) == threshold  # representable in float32
    assert int(np.sum(impostor >= np.float32(threshold))) == 10
    assert tar == pytest.approx(np.mean(genuine >= np.float32(threshold)))


def test_tar_at_far_with_tied_impostors_counts_the_whole_tie():
    # 0.5 appears three times: allowing 1 or 2 impostors still puts the threshold above it
    tar, threshold = tar_at_far([0.55, 0.5], [0.5, 0.5, 0.5, 0.1], far=0.5)
    assert threshold == np.nextafter(0.5, 1.0)
    assert tar == 0.5


@pytest.mark.parametrize("far", [0.0, 1.0, -0.1, 1.5])
def test_tar_at_far_rejects_rates_outside_the_open_unit_interval(far):
    with pytest.raises(ValueError):
        tar_at_far([0.9], [0.1], far=far)


def test_tar_at_far_rejects_empty_inputs():
    with pytest.raises(ValueError):
        tar_at_far([], [0.1], far=0.1)
    with pytest.raises(ValueError):
        tar_at_far([0.9], [], far=0.1)


# --- best threshold and k-fold -----------------------------------------------------


def test_best_threshold_six_score_example():
    # accuracy 5/6 at 0.55 and at 0.75; the lowest wins
    assert best_threshold(SIX_SCORES, SIX_LABELS) == pytest.approx(0.55)
    assert accuracy(SIX_SCORES, SIX_LABELS, 0.55) == pytest.approx(5 / 6)


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.2, 0.4, 0.6, 0.8], [0, 0, 1, 1], 0.5),  # separable: the midpoint of the gap
        ([0.3, 0.3], [1, 1], 0.3),  # all genuine: accept everything
        ([0.3], [0], np.nextafter(0.3, 1.0)),  # all impostor: reject everything
    ],
)
def test_best_threshold_table(scores, labels, expected):
    assert best_threshold(scores, labels) == pytest.approx(expected, abs=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_best_threshold_reaches_the_brute_force_maximum(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 200)
    scores = np.round(rng.normal(labels, 1.0), 1)
    candidates = [*np.unique(scores), np.inf]
    best = max(accuracy(scores, labels, t) for t in candidates)
    assert accuracy(scores, labels, best_threshold(scores, labels)) == pytest.approx(best)


def test_kfold_accuracy_hand_computed():
    scores = [0.9, 0.2, 0.8, 0.3, 0.6, 0.7]
    labels = [1, 0, 1, 0, 1, 0]
    folds = [0, 0, 1, 1, 2, 2]
    result = kfold_accuracy(scores, labels, folds)
    assert isinstance(result, KFoldResult)
    # fold 0: trained on {.8+,.3-,.6+,.7-} -> 0.45 (ties with 0.75, lowest wins); both right
    # fold 1: trained on {.9+,.2-,.6+,.7-} -> 0.40; both right
    # fold 2: trained on {.9+,.2-,.8+,.3-} -> 0.55; 0.7 (impostor) is accepted: 1/2
    assert result.thresholds == pytest.approx((0.45, 0.40, 0.55))
    assert result.per_fold == pytest.approx((1.0, 1.0, 0.5))
    assert result.mean == pytest.approx(5 / 6)
    assert result.std == pytest.approx(math.sqrt(1 / 18))  # population std


def test_kfold_accuracy_on_ten_folds_matches_its_parts():
    rng = np.random.default_rng(11)
    labels = np.tile(np.r_[np.ones(30), np.zeros(30)], 10).astype(bool)
    folds = np.repeat(np.arange(10), 60)
    scores = rng.normal(labels * 1.5, 1.0)
    result = kfold_accuracy(scores, labels, folds)
    assert len(result.per_fold) == len(result.thresholds) == 10
    for f in range(10):
        train = folds != f
        assert result.thresholds[f] == best_threshold(scores[train], labels[train])
        test = folds == f
        assert result.per_fold[f] == accuracy(scores[test], labels[test], result.thresholds[f])
    assert result.mean == pytest.approx(np.mean(result.per_fold))
    assert result.std == pytest.approx(np.std(result.per_fold, ddof=0))
    assert 0.7 < result.mean < 0.9  # d' = 1.5 gives ~77 %


def test_kfold_accuracy_needs_two_folds_and_matching_lengths():
    with pytest.raises(ValueError, match="two folds"):
        kfold_accuracy([0.1, 0.9], [0, 1], [0, 0])
    with pytest.raises(ValueError, match="one entry per score"):
        kfold_accuracy([0.1, 0.9], [0, 1], [0])


# --- open-set identification -------------------------------------------------------


def unit(deg: float) -> list[float]:
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


GALLERY = np.array([unit(0), unit(90)], dtype=np.float32)  # A, B
GALLERY_LABELS = np.array(["A", "B"])
# a1: 10° from A (0.985); b1: 30° from B (0.866); a2: nearer B than A -> rank-1 miss
MATED = np.array([unit(10), unit(60), unit(50)], dtype=np.float32)
MATED_LABELS = np.array(["A", "B", "A"])
# best gallery scores 0.9 (A), 0.707, 0.0 (B), -0.6 (A)
NONMATED = np.array(
    [[0.9, -math.sqrt(1 - 0.81)], unit(45), [-1.0, 0.0], [-0.6, -0.8]], dtype=np.float32
)


@pytest.mark.parametrize(
    ("fpir", "just_above", "measured_fpir", "fnir"),
    [
        (0.10, 0.9, 0.0, 2 / 3),  # 0 allowed: threshold above 0.9, b1 (0.866) is lost
        (0.25, 0.70710677, 0.25, 1 / 3),  # 1 allowed: above 0.707; only a2 fails
        (0.50, 0.0, 0.5, 1 / 3),  # 2 allowed: above 0.0
    ],
)
def test_open_set_identification_table(fpir, just_above, measured_fpir, fnir):
    r = open_set_identification(GALLERY, GALLERY_LABELS, MATED, MATED_LABELS, NONMATED, fpir=fpir)
    assert r.rank1 == pytest.approx(2 / 3)
    assert r.threshold == pytest.approx(float(np.nextafter(np.float32(just_above), 2)), abs=1e-6)
    assert r.threshold > just_above - 1e-7
    assert r.fpir == pytest.approx(measured_fpir)
    assert r.fnir == pytest.approx(fnir)
    assert (r.mated, r.nonmated, r.gallery, r.target_fpir) == (3, 4, 2, fpir)


def test_open_set_rank1_uses_the_top_template_with_several_per_person():
    gallery = np.array([unit(0), unit(5), unit(90)], dtype=np.float32)
    labels = np.array([7, 7, 8])
    probes = np.array([unit(3), unit(80)], dtype=np.float32)
    r = open_set_identification(gallery, labels, probes, [7, 8], NONMATED, fpir=0.5)
    assert r.rank1 == 1.0 and r.fnir == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mated_labels": np.array(["A", "B", "Z"])}, "not in the gallery"),
        ({"nonmated_probes": np.zeros((2, 3), np.float32)}, "dimensions differ"),
        ({"gallery_labels": np.array(["A"])}, "one label"),
        ({"fpir": 0.0}, "fpir"),
        ({"fpir": 1.0}, "fpir"),
        ({"mated_probes": np.zeros((0, 2), np.float32), "mated_labels": []}, "non-empty"),
    ],
)
def test_open_set_rejects_bad_input(kwargs, message):
    args = {
        "gallery": GALLERY,
        "gallery_labels": GALLERY_LABELS,
        "mated_probes": MATED,
        "mated_labels": MATED_LABELS,
        "nonmated_probes": NONMATED,
        "fpir": 0.1,
    } | kwargs
    fpir = args.pop("fpir")
    with pytest.raises(ValueError, match=message):
        open_set_identification(**args, fpir=fpir)
