"""The audit set on real LFW faces with the real models: one pass, saved and loaded,
and the attacks run end to end on it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tests.shared_paths import LFW

from faceprint.errors import DatasetError
from faceprint.eval.audit.dataset import AuditSet, build_audit_set, lfw_images
from faceprint.eval.audit.impersonation import attribute_impersonation
from faceprint.eval.audit.masters import find_master_embeddings, wolves

pytestmark = pytest.mark.integration

PERSONS = 8  # the first persons (alphabetically) with two or more images, 2 images each


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A small LFW-layout tree of links to real photos, plus a folder of non-faces."""
    images = LFW / "images"
    if not images.is_dir():
        pytest.skip(f"LFW not found at {LFW}")
    root = tmp_path_factory.mktemp("audit-tree")
    chosen = 0
    for person in sorted(p for p in images.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))[:2]
        if len(photos) < 2:
            continue
        (root / person.name).mkdir()
        for photo in photos:
            (root / person.name / photo.name).symlink_to(photo)
        chosen += 1
        if chosen == PERSONS:
            break
    (root / "Nobody").mkdir()
    cv2.imwrite(str(root / "Nobody" / "grey.jpg"), np.full((200, 200, 3), 128, np.uint8))
    (root / "Nobody" / "broken.jpg").write_bytes(b"not an image at all")
    return root


@pytest.fixture(scope="module")
def audit(pipeline, tree) -> AuditSet:
    seen: list[int] = []
    built = build_audit_set(
        pipeline, tree, lfw_images(tree), progress=lambda i, n, _: seen.append(i)
    )
    assert seen[-1] == len(seen) == 2 * PERSONS + 2
    return built


def test_every_real_face_is_kept_with_identity_and_attributes(audit, pipeline):
    assert audit.model_id == pipeline.model_id
    assert len(audit) == 2 * PERSONS
    assert set(audit.skipped) == {"Nobody/grey.jpg", "Nobody/broken.jpg"}
    assert len(audit.identities) == PERSONS
    for path, person in zip(audit.paths, audit.persons, strict=True):
        assert path.startswith(f"{person}/") and not path.startswith("/")
    norms = np.linalg.norm(audit.vectors, axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-4)
    assert audit.vectors.dtype == np.float32
    assert audit.vectors.shape[1] == pipeline.embedder.dimension
    assert set(audit.gender) <= {"female", "male"}
    assert np.all((audit.age > 1) & (audit.age < 100))


def test_same_person_is_closer_than_other_people(audit):
    sims = audit.vectors @ audit.vectors.T
    same = np.array(audit.persons)[:, None] == np.array(audit.persons)[None, :]
    off_diagonal = ~np.eye(len(audit), dtype=bool)
    assert sims[same & off_diagonal].mean() > sims[~same].mean() + 0.3


def test_save_and_load_round_trip(audit, tmp_path):
    path = audit.save(tmp_path / "sub" / "set.npz")
    loaded = AuditSet.load(path, model_id=audit.model_id)
    assert loaded.paths == audit.paths and loaded.persons == audit.persons
    assert loaded.gender == audit.gender and loaded.skipped == audit.skipped
    np.testing.assert_array_equal(loaded.vectors, audit.vectors)
    np.testing.assert_array_equal(loaded.age, audit.age)
    with np.load(path, allow_pickle=False) as data:  # no object arrays inside
        assert all(data[key].dtype != object for key in data.files)


def test_a_set_of_another_model_or_no_set_is_refused(audit, tmp_path):
    path = audit.save(tmp_path / "set.npz")
    with pytest.raises(DatasetError, match="rebuild"):
        AuditSet.load(path, model_id="reid-0095")
    np.savez(tmp_path / "other.npz", vectors=audit.vectors)
    with pytest.raises(DatasetError, match="not a faceprint audit set"):
        AuditSet.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetError):
        AuditSet.load(tmp_path / "junk.npz")
    with pytest.raises(DatasetError):
        AuditSet.load(tmp_path / "missing.npz")


def test_lfw_images_and_empty_inputs(tree, pipeline, tmp_path):
    assert len(lfw_images(tree)) == 2 * PERSONS + 2
    with pytest.raises(DatasetError):
        lfw_images(tmp_path / "nowhere")
    with pytest.raises(DatasetError):
        build_audit_set(pipeline, tree, [])
    with pytest.raises(DatasetError, match="no face"):
        build_audit_set(pipeline, tree, ["Nobody/grey.jpg"])


def test_the_attacks_run_on_real_embeddings(audit, pipeline):
    threshold = pipeline.verification_threshold().similarity
    masters = find_master_embeddings(audit, similarity=threshold, name="default", k=3)
    assert masters.identities == PERSONS
    assert masters.counts[0] >= 1  # a vector on any face matches its identity
    assert all(m >= f for m, f in zip(masters.coverage, masters.face_coverage, strict=True))
    assert len(wolves(audit, threshold, top=3)) == 3
    report = attribute_impersonation(audit, {"default": threshold}, attempts=100)
    assert report.targets == PERSONS
    assert report.short_targets == PERSONS  # 14 other faces at most: pools are short
