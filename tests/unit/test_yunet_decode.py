"""YuNet head decoding (pure numpy) on hand-made head outputs."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.backends.yunet import decode_yunet


def _heads(pad_w, pad_h):
    out = []
    for kind, width in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
        for stride in (8, 16, 32):
            n = (pad_w // stride) * (pad_h // stride)
            out.append((kind, stride, np.zeros((n, width), np.float32)))
    return out


def test_decode_places_one_face_where_the_heads_say():
    heads = _heads(64, 32)
    arrays = [a for _, _, a in heads]
    # stride 16 grid is 4 cols × 2 rows; cell (r=1, c=2) → idx 6
    idx = 6
    arrays[1][idx] = 0.81  # cls_16
    arrays[4][idx] = 1.0  # obj_16
    arrays[7][idx] = [0.5, 0.25, np.log(2.0), np.log(3.0)]  # bbox_16
    arrays[10][idx] = np.arange(10, dtype=np.float32) * 0.1  # kps_16
    rows = decode_yunet(arrays, pad_width=64, pad_height=32, score_threshold=0.5)
    assert rows.shape == (1, 15)
    cx, cy, w, h = (2 + 0.5) * 16, (1 + 0.25) * 16, 2 * 16, 3 * 16
    np.testing.assert_allclose(rows[0, :4], [cx - w / 2, cy - h / 2, w, h], rtol=1e-6)
    assert rows[0, 14] == pytest.approx(0.9)  # sqrt(0.81 * 1.0)
    kx = (np.arange(0, 10, 2) * 0.1 + 2) * 16
    ky = (np.arange(1, 10, 2) * 0.1 + 1) * 16
    np.testing.assert_allclose(rows[0, 4:14:2], kx, rtol=1e-6)
    np.testing.assert_allclose(rows[0, 5:14:2], ky, rtol=1e-6)


def test_decode_drops_low_scores_and_clamps():
    arrays = [a for _, _, a in _heads(32, 32)]
    arrays[0][0] = 2.0  # cls clamps to 1
    arrays[3][0] = 0.16  # obj → score 0.4
    assert decode_yunet(arrays, pad_width=32, pad_height=32, score_threshold=0.5).shape == (0, 15)
    rows = decode_yunet(arrays, pad_width=32, pad_height=32, score_threshold=0.3)
    assert rows[0, 14] == pytest.approx(0.4)
