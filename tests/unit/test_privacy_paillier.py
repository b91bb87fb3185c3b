"""Threshold (2-of-2) Paillier encrypted search: exact scores, the stated error bound,
a share alone does not decrypt, typed errors for mismatched inputs, byte round trips.

Unit tests use 1024-bit keys (fast; the benchmark and the default use 2048)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gmpy2")

from tests.shared_paths import DATASETS

from faceprint.errors import ConfigError, UsageError, WrongKeyError
from faceprint.privacy.paillier import (
    EncryptedProbe,
    EncryptedScores,
    KeyShare,
    PartialDecryption,
    PublicKey,
    Quantization,
    ThresholdKeys,
    combine,
    combine_integers,
    encrypt_probe,
    partial_decrypt,
    quantize_gallery,
    score,
)
from faceprint.privacy.paillier_keys import HIDING_BITS

BITS = 1024  # test-only key size


@pytest.fixture(scope="module")
def keys() -> tuple[PublicKey, KeyShare, KeyShare]:
    return ThresholdKeys.generate(bits=BITS)


@pytest.fixture(scope="module")
def other_keys() -> tuple[PublicKey, KeyShare, KeyShare]:
    return ThresholdKeys.generate(bits=BITS)


def unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.standard_normal(shape)
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def run(keys, probe_vec, templates, workers=1):
    public, a, b = keys
    probe = encrypt_probe(public, probe_vec)
    gallery = quantize_gallery(templates, probe.quant)
    result = score(public, probe, gallery, workers=workers)
    pa, pb = partial_decrypt(a, result), partial_decrypt(b, result)
    return probe, gallery, result, pa, pb


def test_scores_are_exact_integers_and_within_the_bound(keys):
    rng = np.random.default_rng(1)
    x, templates = unit(rng, (128,)), unit(rng, (300, 128))
    probe, gallery, result, pa, pb = run(keys, x, templates, workers=2)
    assert len(result.ciphertexts) == -(-300 // result.slots) > 1
    ints = combine_integers(keys[0], pa, pb)
    want = gallery @ np.rint(x.astype(np.float64) * probe.quant.probe_scale).astype(np.int64)
    np.testing.assert_array_equal(ints, want)
    floats = combine(keys[0], pb, pa)  # order of the partials does not matter
    bound = probe.quant.error_bound(128)
    assert bound <= 1e-3
    assert np.abs(floats - templates.astype(np.float64) @ x).max() <= bound


@pytest.mark.parametrize("stride", [None, 1, 7])
def test_table_sizes_give_the_same_scores(keys, monkeypatch, stride):
    from faceprint.privacy import paillier_kernels

    if stride is not None:  # force a table of `stride` slots (Horner over sub-blocks)
        monkeypatch.setattr(paillier_kernels, "table_slots", lambda *args: stride)
    rng = np.random.default_rng(8)
    x, templates = unit(rng, (64,)), unit(rng, (80, 64))
    probe, gallery, _, pa, pb = run(keys, x, templates)
    want = gallery @ np.rint(x.astype(np.float64) * probe.quant.probe_scale).astype(np.int64)
    np.testing.assert_array_equal(combine_integers(keys[0], pa, pb), want)


def test_negative_scores_and_near_threshold_decisions_match_plaintext(keys):
    rng = np.random.default_rng(2)
    x = unit(rng, (128,))
    # templates at chosen cosines around a threshold, including negative ones
    cosines = np.array([-1.0, -0.6, -0.01, 0.0, 0.3605, 0.3615, 0.362, 0.99, 1.0])
    ortho = unit(rng, (len(cosines), 128))
    ortho -= (ortho @ x)[:, None] * x[None, :]
    ortho /= np.linalg.norm(ortho, axis=1, keepdims=True)
    templates = cosines[:, None] * x[None, :] + np.sqrt(1 - cosines**2)[:, None] * ortho
    _, _, _, pa, pb = run(keys, x, templates)
    got = combine(keys[0], pa, pb)
    plain = templates @ x.astype(np.float64)
    bound = Quantization.for_dim(128).error_bound(128)
    assert np.all(np.abs(got - plain) <= bound)
    assert got[0] < -0.99 and got[2] < 0
    threshold = 0.361
    clear = np.abs(plain - threshold) > bound  # decisions outside the error band agree
    assert np.array_equal((got >= threshold)[clear], (plain >= threshold)[clear])


def test_dim_512_and_one_template(keys):
    rng = np.random.default_rng(3)
    x, templates = unit(rng, (512,)), unit(rng, (1, 512))
    probe, _, result, pa, pb = run(keys, x, templates)
    assert probe.quant == Quantization.for_dim(512) and result.slots == 1
    assert abs(combine(keys[0], pa, pb)[0] - float(templates[0] @ x)) <= probe.quant.error_bound(
        512
    )


def test_one_share_alone_does_not_decrypt(keys):
    public, a, b = keys
    rng = np.random.default_rng(4)
    x, templates = unit(rng, (128,)), unit(rng, (20, 128))
    _, _, _, pa, pb = run(keys, x, templates)
    n = public.n
    for part in (pa, pb):
        for value in part.values:  # L(c^{d_X}) is not the plaintext: not even 1 mod n
            assert value % n != 1
    with pytest.raises(UsageError, match="both partial"):
        combine(public, pa, replace(pa))
    # a share is masked over the integers: about |n·λ| + κ bits, far more than |n|
    assert a.exponent.bit_length() > BITS + BITS // 2 + HIDING_BITS
    assert b.exponent < 0


def test_mismatched_keys_and_shares_raise_typed_errors(keys, other_keys):
    public, _, b = keys
    public2, a2, _ = other_keys
    rng = np.random.default_rng(5)
    x, templates = unit(rng, (128,)), unit(rng, (10, 128))
    probe, gallery, result, pa, pb = run(keys, x, templates)
    with pytest.raises(WrongKeyError):
        partial_decrypt(a2, result)
    with pytest.raises(WrongKeyError):
        score(public2, probe, gallery, workers=1)
    with pytest.raises(WrongKeyError):
        combine(public2, pa, pb)
    # a wrong share with the right key id (damaged exponent) is caught, not garbage
    bad = KeyShare(party="b", n=b.n, exponent=b.exponent + 1)
    with pytest.raises(WrongKeyError, match="do not combine"):
        combine(public, pa, partial_decrypt(bad, result))
    # partials of two different results
    other_result = score(public, probe, gallery[:5], workers=1)
    with pytest.raises(UsageError, match="different encrypted results"):
        combine(public, pa, partial_decrypt(b, other_result))
    with pytest.raises(UsageError, match="gallery must be"):
        score(public, probe, gallery[:, :64], workers=1)
    with pytest.raises(UsageError, match="longer than unit"):
        score(public, probe, gallery * 4, workers=1)
    with pytest.raises(UsageError, match="unit-norm"):
        encrypt_probe(public, x * 2)
    with pytest.raises(ConfigError):
        ThresholdKeys.generate(bits=1000)


def test_serialization_round_trip(keys):
    public, a, b = keys
    rng = np.random.default_rng(6)
    x, templates = unit(rng, (128,)), unit(rng, (70, 128))
    probe, gallery, _, _, _ = run(keys, x, templates)
    # every message goes through bytes, as between separate processes
    public_r = PublicKey.from_bytes(public.to_bytes())
    a_r, b_r = KeyShare.from_bytes(a.to_bytes()), KeyShare.from_bytes(b.to_bytes())
    assert (public_r, a_r, b_r) == (public, a, b)
    assert "exponent" not in repr(a_r) and str(a.exponent) not in repr(a_r)
    probe_r = EncryptedProbe.from_bytes(probe.to_bytes())
    assert probe_r == probe
    result = EncryptedScores.from_bytes(score(public_r, probe_r, gallery, workers=1).to_bytes())
    pa = PartialDecryption.from_bytes(partial_decrypt(a_r, result).to_bytes())
    pb = PartialDecryption.from_bytes(partial_decrypt(b_r, result).to_bytes())
    want = gallery @ np.rint(x.astype(np.float64) * probe.quant.probe_scale).astype(np.int64)
    np.testing.assert_array_equal(combine_integers(public_r, pa, pb), want)
    with pytest.raises(UsageError):
        KeyShare.from_bytes(public.to_bytes())
    with pytest.raises(UsageError):
        EncryptedScores.from_bytes(result.to_bytes()[:-10])
    with pytest.raises(UsageError):
        PublicKey.from_bytes(b"not a key")


def test_result_is_rerandomized(keys):
    public, _, _ = keys
    rng = np.random.default_rng(7)
    x, templates = unit(rng, (128,)), unit(rng, (5, 128))
    probe = encrypt_probe(public, x)
    gallery = quantize_gallery(templates, probe.quant)
    r1 = score(public, probe, gallery, workers=1)
    r2 = score(public, probe, gallery, workers=1)
    assert r1.ciphertexts != r2.ciphertexts  # same plaintexts, fresh randomness


def test_quantization_bound():
    q = Quantization.for_dim(128)
    assert (q.probe_scale, q.gallery_scale) == (1 << 15, 1 << 13)
    assert q.error_bound(128) < 1e-3 < Quantization(1 << 14, 1 << 12).error_bound(128)
    assert Quantization.for_dim(512).error_bound(512) <= 1e-3


LFW_CACHE = Path(__file__).resolve().parents[2] / ".bench-cache" / "lfw-sface.npz"


@pytest.mark.integration
def test_real_embeddings(keys):
    if not DATASETS.is_dir() or not LFW_CACHE.is_file():
        pytest.skip("needs /work/shared/datasets and .bench-cache/lfw-sface.npz")
    vectors = np.load(LFW_CACHE)["vectors"].astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    x, templates = vectors[0], vectors[1:201]
    probe, _, _, pa, pb = run(keys, x, templates, workers=2)
    got = combine(keys[0], pa, pb)
    assert np.abs(got - templates @ x).max() <= probe.quant.error_bound(128)


def test_missing_gmpy2_names_the_extra(monkeypatch):
    import sys

    from faceprint.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "gmpy2", None)  # import gmpy2 now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"faceprint\[privacy\]"):
        ThresholdKeys.generate(bits=BITS)
