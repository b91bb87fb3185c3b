"""Encrypted 1:N with the real model on real LFW faces: every decision equals plaintext."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.batch import analyze_images

pytestmark = pytest.mark.integration
pytest.importorskip("tenseal")

PEOPLE = 60  # LFW people with ≥ 2 images; the first image enrolled, the second a probe
STRANGERS = 40  # people with one image: never enrolled


def test_encrypted_identification_decides_like_plaintext(pipeline) -> None:
    from faceprint.core.thresholds import identification_threshold
    from faceprint.privacy.ckks import KeySet
    from faceprint.privacy.index import EncryptedIndex
    from faceprint.privacy.labels import Labels

    images: dict[str, list] = defaultdict(list)
    for path in sorted((LFW / "images").glob("*/*.jpg")):
        images[path.parent.name].append(path)
    repeated = [n for n in sorted(images) if len(images[n]) >= 2][:PEOPLE]
    single = [n for n in sorted(images) if len(images[n]) == 1][:STRANGERS]
    paths = [images[n][0] for n in repeated] + [images[n][1] for n in repeated]
    paths += [images[n][0] for n in single]
    vectors = []
    for result in analyze_images(pipeline, paths, embed="primary"):
        assert result.primary_face is not None, result.source
        vectors.append(result.primary_face.embedding.vector)
    emb = np.stack(vectors)
    gallery, probes = emb[:PEOPLE], emb[PEOPLE:]
    threshold = identification_threshold(pipeline.calibration, gallery_size=PEOPLE, fpir=0.01)
    keys = KeySet.generate(gallery.shape[1])
    public = KeySet.from_bytes(keys.public().to_bytes())
    labels = Labels.of_persons(repeated)
    known = 0
    with EncryptedIndex.from_matrix(public, gallery, labels, workers=1) as index:
        for i, probe in enumerate(probes):
            exact = gallery.astype(np.float64) @ probe.astype(np.float64)
            best = int(np.argmax(exact))
            plain = repeated[best] if exact[best] >= threshold.similarity else None
            scores = keys.decrypt_result(
                index.search(
                    keys.encrypt_probe(probe), threshold=threshold.similarity, mode="scores"
                )
            )
            assert np.abs(scores.values - exact).max() < 1e-4
            top = scores.matched_persons()
            assert (top[0] if top else None) == plain
            decided = keys.decrypt_result(
                index.search(keys.encrypt_probe(probe), threshold=threshold.similarity)
            )
            passing = {repeated[j] for j in np.flatnonzero(exact >= threshold.similarity)}
            assert set(decided.matched_persons()) == passing
            if i < PEOPLE and plain == repeated[i]:
                known += 1
    assert known >= 0.9 * PEOPLE  # the mated probes are found (SFace, LFW)
