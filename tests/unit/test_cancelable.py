"""Cancelable templates: the keyed rotation, its determinism, model ids, the pipeline
hook, the gallery's refusal of mixed templates, and re-issue. No weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.core import cancelable
from faceprint.core.cancelable import (
    CancelableTransform,
    TemplateKey,
    base_model_id,
    haar_orthogonal,
    key_id_of,
    keyed_projection,
    protected_model_id,
    reissue_matrix,
)
from faceprint.core.metrics import roc_auc
from faceprint.errors import ConfigError, ModelMismatchError
from faceprint.gallery import FaceRecord, Gallery
from faceprint.gallery.reissue import reissue_templates
from faceprint.keysource import SecretKey
from faceprint.pipeline import FacePipeline
from faceprint.testing import FakeDetector, FakeEmbedder, fake_image
from faceprint.types import Embedding, Threshold

SEED = bytes(range(32))


def master(byte: int) -> SecretKey:
    return SecretKey(material=bytes([byte]) * 32, source="test")


def units(n: int, dim: int, seed: int = 0) -> NDArray[np.float32]:
    v = np.random.default_rng(seed).standard_normal((n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


# --- the rotation ----------------------------------------------------------------------


def test_the_seed_stream_is_pinned() -> None:
    # SHAKE-256 bytes → uniforms → Box–Muller: integers exactly, Gaussians to rounding.
    # the label and layout of the stream are part of the format: changing them would
    # re-key every gallery, so they are pinned too
    label = cancelable._STREAM_LABEL + b"rotation|128|"
    assert (
        hashlib.shake_256(label + b"\x01" * 32).hexdigest(16) == "edacdc982dfcced56076589ea11af8bf"
    )
    gauss = cancelable._gaussians(b"\x01" * 32, b"x", 5)
    np.testing.assert_allclose(
        gauss,
        [0.08842549746557658, 1.4739931720184756, 0.995940049565263, 1.4121309523554872,
         -1.4974946580451518],
        rtol=0, atol=1e-12,
    )  # fmt: skip


def test_the_matrix_is_pinned_so_a_numpy_or_platform_change_that_alters_it_fails() -> None:
    # A changed stream or QR convention moves every entry by O(0.1); rounding noise of
    # another BLAS/libm moves them by ~1e-15, so a tolerance of 1e-9 tells them apart.
    r = haar_orthogonal(b"\x01" * 32, 128)
    np.testing.assert_allclose(
        r[0, :4],
        [-4.1060001234827226e-05, -0.046365348465766024, -0.03759784633002341,
         -0.00934409825836115],
        rtol=0, atol=1e-9,
    )  # fmt: skip
    np.testing.assert_allclose(
        r[-1, -4:],
        [0.014113065279575593, 0.034553807440776914, -0.10922146937278632,
         -0.2050059706893653],
        rtol=0, atol=1e-9,
    )  # fmt: skip
    weights = np.arange(128 * 128).reshape(128, 128) / 1e4
    assert float((r * weights).sum()) == pytest.approx(7.775752707672738, abs=1e-7)
    assert float(np.trace(r)) == pytest.approx(0.015108115825869517, abs=1e-9)


def test_deterministic_orthogonal_and_cached_read_only() -> None:
    a = haar_orthogonal(SEED, 64)
    b = haar_orthogonal(bytes(SEED), 64)
    assert np.array_equal(a, b)
    assert np.abs(a @ a.T - np.eye(64)).max() < 1e-12
    assert not a.flags.writeable
    with pytest.raises(ConfigError):
        haar_orthogonal(b"short", 8)
    with pytest.raises(ConfigError):
        haar_orthogonal(SEED, 0)


def test_cosine_is_preserved() -> None:
    x = units(200, 128)
    y = TemplateKey(SEED).apply(x)
    assert y.dtype == np.float32
    assert np.abs(np.linalg.norm(y, axis=1) - 1).max() < 1e-6
    assert np.abs(y @ y.T - x @ x.T).max() < 1e-5
    assert not np.allclose(x, y, atol=0.1)  # the templates themselves changed


def test_tenants_and_master_keys_give_different_matrices() -> None:
    a = TemplateKey.derive(master(1), "a")
    b = TemplateKey.derive(master(1), "b")
    c = TemplateKey.derive(master(2), "a")
    assert TemplateKey.derive(master(1), "a").seed == a.seed
    ids = {a.key_id, b.key_id, c.key_id}
    assert len(ids) == 3 and all(len(i) == 12 for i in ids)
    ra, rb, rc = (k.transform(32).matrix for k in (a, b, c))
    assert np.abs(ra - rb).max() > 0.1 and np.abs(ra - rc).max() > 0.1
    assert "seed" not in repr(a) and a.seed.hex() not in repr(a)
    with pytest.raises(ConfigError):
        TemplateKey.derive(master(1), "  ")


def test_cross_key_mated_scores_look_like_impostor_scores() -> None:
    dim, n = 128, 2000
    people = units(n, dim, seed=1)
    noise = units(n, dim, seed=2)
    second = people + 0.6 * noise  # a second, noisy image of each person
    second /= np.linalg.norm(second, axis=1, keepdims=True)
    a = TemplateKey.derive(master(1), "a")
    b = TemplateKey.derive(master(1), "b")
    same_key_mated = np.sum(a.apply(people) * a.apply(second), axis=1)
    cross_mated = np.sum(a.apply(people) * b.apply(second), axis=1)
    impostor = np.sum(a.apply(people) * b.apply(np.roll(second, 1, axis=0)), axis=1)
    assert same_key_mated.mean() > 0.7
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    assert abs(roc_auc(np.r_[cross_mated, impostor], labels) - 0.5) < 0.05
    assert roc_auc(np.r_[same_key_mated, impostor], labels) > 0.99
    assert abs(cross_mated.mean()) < 0.03 and abs(cross_mated.std() - dim**-0.5) < 0.02


def test_reissue_matrix_moves_templates_between_keys() -> None:
    x = units(10, 32)
    old, new = TemplateKey(SEED), TemplateKey(bytes(31) + b"\x01")
    moved = old.apply(x).astype(np.float64) @ reissue_matrix(old, new, 32).T
    np.testing.assert_allclose(moved, new.apply(x), atol=1e-6)
    np.testing.assert_allclose(reissue_matrix(None, None, 4), np.eye(4))
    t = old.transform(32)
    np.testing.assert_allclose(t.invert(t.apply(x)), x, atol=1e-6)


def test_projection_keeps_rows_of_the_rotation() -> None:
    p = keyed_projection(SEED, 64, 16)
    assert p.shape == (16, 64)
    assert np.abs(p @ p.T - np.eye(16)).max() < 1e-12
    with pytest.raises(ConfigError):
        keyed_projection(SEED, 64, 65)


def test_transform_refuses_another_dimension() -> None:
    t = CancelableTransform(haar_orthogonal(SEED, 8), "k")
    with pytest.raises(ConfigError, match="8-d"):
        t.apply(np.ones(9, np.float32))


def test_model_ids() -> None:
    assert protected_model_id("sface", "abc") == "sface+cancelable:abc"
    assert protected_model_id("sface+cancelable:old", "new") == "sface+cancelable:new"
    assert base_model_id("sface+cancelable:abc") == "sface" == base_model_id("sface")
    assert key_id_of("sface+cancelable:abc") == "abc" and key_id_of("sface") is None
    key = TemplateKey(SEED)
    assert key.model_id("sface") == f"sface+cancelable:{key.key_id}"


# --- pipeline and gallery ------------------------------------------------------------


def pipeline(templates: TemplateKey | None) -> FacePipeline:
    return FacePipeline(detector=FakeDetector(), embedder=FakeEmbedder(), templates=templates)


FACE = fake_image(((200, 40, 40), (20, 20, 80, 100)))


def test_the_pipeline_applies_the_key_to_every_embedding() -> None:
    key = TemplateKey.derive(master(1), "a")
    plain, protected = pipeline(None), pipeline(key)
    assert plain.model_id == "fake" and protected.model_id == key.model_id("fake")
    x = plain.primary_face(FACE).embedding
    y = protected.primary_face(FACE).embedding
    assert y.model_id == protected.model_id
    np.testing.assert_allclose(y.vector, key.apply(x.vector), atol=1e-6)
    with pytest.raises(ModelMismatchError):
        protected.similarity(x, y)
    assert protected.analyze_batch([np.zeros((32, 32, 3), np.uint8)]) == [[]]


def test_a_protected_gallery_refuses_plain_and_other_key_probes() -> None:
    a = TemplateKey.derive(master(1), "a")
    b = TemplateKey.derive(master(1), "b")
    face = pipeline(a).primary_face(FACE)
    with Gallery.open(":memory:") as g:
        g.add_faces("ann", [FaceRecord(embedding=face.embedding)])
        threshold = Threshold(similarity=0.5, fmr=None, fpir=None, source="explicit")
        assert g.identify(face.embedding, threshold=threshold).person == "ann"
        for other, says in (
            (pipeline(None), "got a plain embedding"),
            (pipeline(b), f"got a template under key {b.key_id}"),
        ):
            probe = other.primary_face(FACE).embedding
            with pytest.raises(ModelMismatchError, match=says) as err:
                g.identify(probe, threshold=threshold)
            assert f"under template key {a.key_id}" in str(err.value)
            assert "pass the template key" in str(err.value)
        wrong = Embedding(vector=face.embedding.vector, model_id="other-model")
        with pytest.raises(ModelMismatchError, match="embedder"):
            g.identify(wrong, threshold=threshold)


def test_a_plain_gallery_refuses_protected_probes_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path, model_id="fake"):
        pass
    with pytest.raises(ModelMismatchError, match=r"holds plain templates.*drop --template-key"):
        Gallery.open(path, model_id=TemplateKey(SEED).model_id("fake"))


def enrolled(path: Path, key: TemplateKey | None) -> dict[str, NDArray[np.float32]]:
    vectors = {name: units(1, 64, seed=i)[0] for i, name in enumerate(["ann", "bob", "cy"])}
    model = "fake" if key is None else key.model_id("fake")
    with Gallery.open(path) as g:
        g.set_index("pq")  # a saved index of the old templates must not survive
        for name, v in vectors.items():
            vec = v if key is None else key.apply(v)
            g.add_faces(name, [FaceRecord(embedding=Embedding(vector=vec, model_id=model))])
        g.search(Embedding(vector=vectors["ann"] if key is None else key.apply(vectors["ann"]),
                           model_id=model), k=1)  # fmt: skip
    return vectors


def best(path: Path, key: TemplateKey | None, vector: NDArray[np.float32]) -> tuple[str, float]:
    model = "fake" if key is None else key.model_id("fake")
    probe = vector if key is None else key.apply(vector)
    with Gallery.open(path, model_id=model, create=False) as g:
        (match,) = g.search(Embedding(vector=probe, model_id=model), k=1)
    return match.person, match.similarity


def test_reissue_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    old = TemplateKey.derive(master(1), "a")
    new = TemplateKey.derive(master(2), "a")
    vectors = enrolled(path, old)
    summary = reissue_templates(path, old, new)
    assert summary.changed and summary.faces == 3
    assert summary.new_model_id == new.model_id("fake")
    for name, v in vectors.items():
        person, score = best(path, new, v)
        assert person == name and score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ModelMismatchError):
        best(path, old, vectors["ann"])
    again = reissue_templates(path, old, new)  # a re-run after it committed
    assert not again.changed
    with pytest.raises(ModelMismatchError, match=f"under template key {new.key_id}"):
        reissue_templates(path, old, TemplateKey.derive(master(3), "a"))
    # protect → plain → protected again
    reissue_templates(path, new, None)
    assert best(path, None, vectors["bob"])[0] == "bob"
    reissue_templates(path, None, old)
    assert best(path, old, vectors["cy"]) == ("cy", pytest.approx(1.0, abs=1e-5))
    with pytest.raises(ConfigError, match="changes nothing"):
        reissue_templates(path, old, old)


def test_reissue_of_a_plain_gallery(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    vectors = enrolled(path, None)
    key = TemplateKey(SEED)
    with pytest.raises(ModelMismatchError, match="plain templates"):
        reissue_templates(path, TemplateKey(bytes(32)), key)
    reissue_templates(path, None, key)
    assert best(path, key, vectors["ann"])[0] == "ann"
    with pytest.raises(ModelMismatchError, match="plain embedding"):
        best(path, None, vectors["ann"])


def test_the_service_reads_the_template_key_from_the_environment(tmp_path: Path) -> None:
    from faceprint.environment import Environment
    from faceprint.service.settings import ServiceSettings

    material = bytes(range(32)).hex()
    env = Environment.read(
        {
            "FACEPRINT_HOME": str(tmp_path),
            "FACEPRINT_TEMPLATE_KEY": "env:TENANT_MASTER",
            "FACEPRINT_TEMPLATE_TENANT": "acme",
            "TENANT_MASTER": material,
        }
    )
    settings = ServiceSettings.from_env(env)
    expected = TemplateKey.derive(SecretKey(material=bytes(range(32))), "acme")
    assert settings.templates is not None and settings.templates.seed == expected.seed
    assert material not in repr(settings) and material not in repr(env)
    assert (
        ServiceSettings.from_env(Environment.read({"FACEPRINT_HOME": str(tmp_path)})).templates
        is None
    )
    with pytest.raises(ConfigError, match="FACEPRINT_TEMPLATE_KEY"):
        ServiceSettings.from_env(Environment.read({"FACEPRINT_TEMPLATE_TENANT": "acme"}))


def test_reissue_of_an_encrypted_gallery_seals_rows_for_the_new_model_id(tmp_path: Path) -> None:
    path = tmp_path / "sealed.db"
    gallery_key = master(9)
    old, new = TemplateKey.derive(master(1), "a"), TemplateKey.derive(master(2), "a")
    vectors = {name: units(1, 64, seed=i)[0] for i, name in enumerate(["ann", "bob"])}
    with Gallery.open(path, key=gallery_key) as g:
        for name, v in vectors.items():
            e = Embedding(vector=old.apply(v), model_id=old.model_id("fake"))
            g.add_faces(name, [FaceRecord(embedding=e)])
        assert g.encrypted
    summary = reissue_templates(path, old, new, key=gallery_key)
    assert summary.changed and summary.faces == 2
    with Gallery.open(path, key=gallery_key, create=False) as g:
        assert g.encrypted and g.model_id == new.model_id("fake")
        probe = Embedding(vector=new.apply(vectors["bob"]), model_id=new.model_id("fake"))
        (match,) = g.search(probe, k=1)
        assert match.person == "bob" and match.similarity == pytest.approx(1.0, abs=1e-5)


def test_a_saved_index_of_the_old_templates_is_never_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from faceprint.gallery import reissue

    path = tmp_path / "g.db"
    old, new = TemplateKey.derive(master(1), "a"), TemplateKey.derive(master(2), "a")
    vectors = enrolled(path, old)
    assert any(path.with_name("g.db.index").glob("c*"))  # a saved index of the old ones
    monkeypatch.setattr(reissue, "drop_saved_index", lambda path: None)  # a crash after commit
    reissue_templates(path, old, new)
    for name, v in vectors.items():
        assert best(path, new, v) == (name, pytest.approx(1.0, abs=1e-5))
