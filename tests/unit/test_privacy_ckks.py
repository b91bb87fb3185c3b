"""Encrypted search with real CKKS (TenSEAL/SEAL): scores, decisions, keys, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tenseal")

from faceprint.errors import NotFoundError, UsageError, WrongKeyError
from faceprint.gallery import FaceRecord, Gallery
from faceprint.privacy.ckks import KeySet
from faceprint.privacy.index import EncryptedIndex, encrypt_gallery
from faceprint.privacy.labels import Labels
from faceprint.privacy.server import PrivateSearch
from faceprint.types import Embedding

DIM = 128


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet.generate(DIM)


@pytest.fixture(scope="module")
def public(keys: KeySet) -> KeySet:
    return KeySet.from_bytes(keys.public().to_bytes())


@pytest.fixture(scope="module")
def gallery_rows() -> np.ndarray:
    # 9,000 templates: two chunks, the second one part-filled
    return unit(np.random.default_rng(3).standard_normal((9000, DIM)))


def probes_near(rows: np.ndarray, picks: list[int], seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal((len(picks), DIM))
    return unit(rows[picks] + 0.3 * unit(noise))


def test_key_files_round_trip_and_the_public_one_has_no_secret(
    keys: KeySet, public: KeySet
) -> None:
    again = KeySet.from_bytes(keys.to_bytes())
    assert again.key_id == keys.key_id == public.key_id
    assert again.has_secret and not public.has_secret
    assert "secret" not in repr(public) and "public" in repr(public)
    with pytest.raises(UsageError):
        KeySet.from_bytes(keys.to_bytes()[:-10])
    with pytest.raises(UsageError):
        KeySet.from_bytes(b"not keys at all")


@pytest.mark.parametrize("workers", [1, 2])
def test_scores_and_decisions_match_plaintext(keys, public, gallery_rows, workers) -> None:
    labels = Labels.of_persons([f"p{i // 3}" for i in range(len(gallery_rows))])
    with EncryptedIndex.from_matrix(public, gallery_rows, labels, workers=workers) as index:
        assert index.workers == workers
        for probe in probes_near(gallery_rows, [5, 8999, 4100], seed=workers):
            exact = gallery_rows.astype(np.float64) @ probe
            threshold = 0.5
            scores = keys.decrypt_result(
                index.search(keys.encrypt_probe(probe), threshold=threshold, mode="scores")
            )
            assert np.abs(scores.values - exact).max() < 1e-4
            decided = keys.decrypt_result(
                index.search(keys.encrypt_probe(probe), threshold=threshold)
            )
            assert decided.mode == "decision"
            np.testing.assert_array_equal(decided.accepted, exact >= threshold)
            passing = {
                labels.names[labels.person_of[i]] for i in np.flatnonzero(exact >= threshold)
            }
            assert set(decided.matched_persons()) == passing and passing
            # the margins are randomised per face: their sizes say nothing of the scores
            ratio = decided.values / (exact - threshold)
            assert ratio.min() > 0 and ratio.max() / ratio.min() > 4


def test_workers_holding_whole_chunks_finish_them(keys, public, gallery_rows, monkeypatch) -> None:
    from faceprint.privacy import layout

    by_chunk = lambda plan, workers: [  # noqa: E731 - what split_work picks for large galleries
        layout.Share(range(c, c + 1), range(plan.baby)) for c in range(plan.chunks)
    ]
    monkeypatch.setattr("faceprint.privacy.index.lay.split_work", by_chunk)
    labels = Labels.of_persons([f"p{i}" for i in range(len(gallery_rows))])
    with EncryptedIndex.from_matrix(public, gallery_rows, labels, workers=2) as index:
        assert index.workers == 2 and len(index.shares[0].babies) == index.plan.baby
        probe = probes_near(gallery_rows, [8500])[0]
        exact = gallery_rows.astype(np.float64) @ probe
        scores = keys.decrypt_result(
            index.search(keys.encrypt_probe(probe), threshold=0.5, mode="scores")
        )
        assert np.abs(scores.values - exact).max() < 1e-4
        decided = keys.decrypt_result(index.search(keys.encrypt_probe(probe), threshold=0.5))
        np.testing.assert_array_equal(decided.accepted, exact >= 0.5)


def test_an_encrypted_gallery_gives_the_same_answers(keys, public, gallery_rows) -> None:
    rows = gallery_rows[:500]
    labels = Labels.of_persons([f"p{i}" for i in range(len(rows))])
    data = encrypt_gallery(keys, rows, labels, model_id="sface")
    with EncryptedIndex.from_encrypted(public, data, workers=1) as index:
        assert index.encrypted and index.model_id == "sface"
        probe = probes_near(rows, [42])[0]
        found = keys.decrypt_result(
            index.search(keys.encrypt_probe(probe), threshold=0.5, mode="scores")
        )
        assert np.abs(found.values - rows.astype(np.float64) @ probe).max() < 1e-4
        assert found.matched_persons()[0] == "p42"
    other = KeySet.generate(DIM)
    with pytest.raises(WrongKeyError):
        EncryptedIndex.from_encrypted(other.public(), data)


def test_probes_and_results_of_other_keys_are_refused(keys, public, gallery_rows) -> None:
    other = KeySet.generate(DIM)
    labels = Labels.of_persons(["a"] * 100)
    with EncryptedIndex.from_matrix(public, gallery_rows[:100], labels, workers=1) as index:
        with pytest.raises(WrongKeyError, match="encrypted for keys"):
            index.search(other.encrypt_probe(gallery_rows[0]), threshold=0.5)
        result = index.search(keys.encrypt_probe(gallery_rows[0]), threshold=0.5)
        with pytest.raises(WrongKeyError):
            other.decrypt_result(result)
        with pytest.raises(WrongKeyError, match="secret key"):
            public.decrypt_result(result)
        with pytest.raises(UsageError, match="mode"):
            index.search(keys.encrypt_probe(gallery_rows[0]), threshold=0.5, mode="everything")
        with pytest.raises(UsageError):
            index.search(keys.encrypt_probe(gallery_rows[0])[:-100], threshold=0.5)
        with pytest.raises(UsageError):  # a result is not a probe
            index.search(result, threshold=0.5)
    with pytest.raises(UsageError, match="128 finite values"):
        keys.encrypt_probe(np.full(DIM, np.nan))


def test_private_search_over_a_gallery(tmp_path, keys, gallery_rows) -> None:
    with Gallery.open(tmp_path / "g.db", model_id="sface") as gallery:
        for person in range(20):
            faces = [FaceRecord(Embedding(gallery_rows[person * 2 + k], "sface")) for k in range(2)]
            gallery.add_faces(
                f"person{person}", faces, collection="team" if person < 10 else "other"
            )
        server = PrivateSearch(gallery, workers=1)
        try:
            with pytest.raises(UsageError, match="secret key file"):
                server.register(keys.to_bytes())
            probe = keys.encrypt_probe(probes_near(gallery_rows, [6])[0])
            with pytest.raises(NotFoundError, match="registered"):
                server.search(probe)
            server.register(keys.public().to_bytes())
            answer = server.search(probe, collection="team", mode="scores")
            found = keys.decrypt_result(answer.result)
            assert answer.gallery_size == 20 and found.collection == "team"
            assert found.matched_persons() == ["person3"]
            assert answer.threshold.fpir == pytest.approx(0.01)
            plain = gallery.search(
                Embedding(probes_near(gallery_rows, [6])[0], "sface"), collection="team"
            )
            best = int(np.argmax(found.values))
            assert found.face_ids[best] == plain[0].face_id
            assert found.values[best] == pytest.approx(plain[0].similarity, abs=1e-4)
            gallery.add_faces(
                "person3", [FaceRecord(Embedding(gallery_rows[100], "sface"))], collection="team"
            )
            assert server.search(probe, collection="team").gallery_size == 21  # re-laid out
        finally:
            server.close()
