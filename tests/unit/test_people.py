"""The clustering folder without models: store, re-clustering with reviews, open-set
joining, the quality gate, stable ids, edits, outputs and enrollment (synthetic
embeddings, analytic calibration)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import PeopleStoreError, UnknownClusterError, UsageError
from faceprint.gallery import Gallery
from faceprint.people import (
    PeopleStore,
    enroll_clusters,
    list_clusters,
    merge_clusters,
    name_cluster,
    recluster,
    remove_faces,
    split_faces,
    unname_cluster,
    write_outputs,
)
from faceprint.people.store import NewFace
from faceprint.testing import fake_calibration

DIM = 64
CURVE = fake_calibration(dimension=DIM)
RNG = np.random.default_rng(3)
CENTRES = RNG.standard_normal((6, DIM))


def _vec(person: int, noise: float = 0.35) -> np.ndarray:
    v = CENTRES[person] / np.linalg.norm(CENTRES[person])
    v = v + noise * RNG.standard_normal(DIM) / np.sqrt(DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def _add(store: PeopleStore, name: str, vectors: list[np.ndarray], reasons=()) -> None:
    faces = [
        NewFace(i, (0.0, 0.0, 50.0, 50.0), 0.9, 0.8, tuple(reasons), v, None, primary=i == 0)
        for i, v in enumerate(vectors)
    ]
    with store.transaction():
        store.add_image(f"sha-{name}", f"/photos/{name}.jpg", width=100, height=100, faces=faces)


def _folder(tmp_path: Path, per: int = 4, people: int = 3) -> PeopleStore:
    store = PeopleStore.open(tmp_path / "people", model_id="fake")
    for p in range(people):
        for j in range(per):
            _add(store, f"p{p}-{j}", [_vec(p)])
    return store


def _groups(store: PeopleStore) -> list[set[str]]:
    faces = store.faces()
    paths = store.paths_of({f.sha256 for f in faces.values()})
    return [
        {paths[faces[m.face_id].sha256].split("/")[-1].split("-")[0] for m in c.members}
        for c in list_clusters(store)
    ]


def test_clusters_people_and_keeps_ids_on_rerun(tmp_path: Path) -> None:
    store = _folder(tmp_path)
    result = recluster(store, CURVE)
    assert result.faces == 12 and result.threshold is not None
    groups = _groups(store)
    assert sorted(len(g) for g in groups) == [1, 1, 1]
    assert len(groups) == 3
    before = {c.id: {m.face_id for m in c.members} for c in list_clusters(store)}
    _add(store, "p0-new", [_vec(0)])
    recluster(store, CURVE)
    after = {c.id: {m.face_id for m in c.members} for c in list_clusters(store)}
    for cid, members in before.items():
        assert members <= after[cid]  # ids kept; the new face joined one of them
    assert sum(len(m) for m in after.values()) == 13


def test_review_is_kept_and_new_faces_join_named_clusters(tmp_path: Path) -> None:
    store = _folder(tmp_path)
    recluster(store, CURVE)
    c0 = next(c for c in list_clusters(store) if c.members[0].path.startswith("/photos/p0"))
    assert name_cluster(store, c0.id, "Ada") == c0.id
    _add(store, "p0-later", [_vec(0)])
    result = recluster(store, CURVE)
    assert result.kept == 4 and result.joined == 1 and result.join_threshold is not None
    named = next(c for c in list_clusters(store) if c.name == "Ada")
    assert named.size == 5 and {m.how for m in named.members} == {"pinned", "joined"}
    # a stranger never joins
    _add(store, "p5-stranger", [_vec(5)])
    recluster(store, CURVE)
    assert next(c for c in list_clusters(store) if c.name == "Ada").size == 5


def test_merge_split_remove_and_unname(tmp_path: Path) -> None:
    store = _folder(tmp_path)
    recluster(store, CURVE)
    ids = [c.id for c in list_clusters(store)]
    target = merge_clusters(store, ids[:2])
    merged = next(c for c in list_clusters(store) if c.id == target)
    assert merged.size == 8 and merged.reviewed
    recluster(store, CURVE)  # the merge survives a re-run
    assert next(c for c in list_clusters(store) if c.id == target).size == 8
    faces = [m.face_id for m in merged.members[:2]]
    new = split_faces(store, target, faces)
    assert {m.face_id for m in next(c for c in list_clusters(store) if c.id == new).members} == set(
        faces
    )
    remove_faces(store, target, [merged.members[3].face_id])
    recluster(store, CURVE)
    clusters = {c.id: c for c in list_clusters(store)}
    assert clusters[target].size == 5
    assert merged.members[3].face_id not in {m.face_id for m in clusters[target].members}
    unname_cluster(store, target)
    assert not store.require_cluster(target)[1]
    with pytest.raises(UsageError, match="two or more"):
        merge_clusters(store, [target, target])
    with pytest.raises(UnknownClusterError):
        name_cluster(store, 9999, "Nobody")
    with pytest.raises(UnknownClusterError, match="not in cluster"):
        split_faces(store, new, [clusters[target].members[0].face_id])
    with pytest.raises(UsageError, match="every face"):
        remove_faces(store, new, [m.face_id for m in clusters[new].members])
    with pytest.raises(UsageError, match="printable"):
        name_cluster(store, new, "  ")


def test_naming_two_clusters_alike_merges_them(tmp_path: Path) -> None:
    store = _folder(tmp_path)
    recluster(store, CURVE)
    a, b = (c.id for c in list_clusters(store)[:2])
    name_cluster(store, a, "Bo")
    assert name_cluster(store, b, "Bo") == a
    assert [c.size for c in list_clusters(store) if c.name == "Bo"] == [8]


def test_quality_gate_faces_do_not_bridge_clusters(tmp_path: Path) -> None:
    store = _folder(tmp_path, per=3, people=2)
    # a blurry face halfway between the two people would link them if it could
    mid = CENTRES[0] / np.linalg.norm(CENTRES[0]) + CENTRES[1] / np.linalg.norm(CENTRES[1])
    mid = (mid / np.linalg.norm(mid)).astype(np.float32)
    _add(store, "blurry", [mid], reasons=("blurry",))
    result = recluster(store, CURVE, similarity=0.6)
    assert result.attached + result.low_quality == 1
    groups = _groups(store)
    assert not any({"p0", "p1"} <= g for g in groups)
    assert sum(1 for g in groups if g & {"p0", "p1"}) == 2


def test_outputs_and_enrollment(tmp_path: Path) -> None:
    store = _folder(tmp_path)
    recluster(store, CURVE)
    first = list_clusters(store)[0]
    name_cluster(store, first.id, "Ada")
    outputs = write_outputs(store, tmp_path / "people")
    data = json.loads((tmp_path / "people" / "clusters.json").read_text())
    assert data["model"] == "fake" and data["faces"] == 12
    assert data["clusters"][0]["name"] == "Ada" and data["clusters"][0]["size"] == 4
    assert (
        outputs.named == 1
        and (tmp_path / "people" / "sheets" / f"cluster-{first.id:05d}.png").exists()
    )
    with Gallery.open(tmp_path / "g.db") as g:
        done = enroll_clusters(store, g)
        assert [(e.person, e.added) for e in done] == [("Ada", 4)]
        again = enroll_clusters(store, g)
        assert [(e.added, e.already) for e in again] == [(0, 4)]
        assert g.person("Ada").faces == 4
        with pytest.raises(UsageError, match="no name"):
            enroll_clusters(store, g, clusters=[list_clusters(store)[1].id])


def test_store_refuses_other_models_and_foreign_files(tmp_path: Path) -> None:
    store = _folder(tmp_path, per=1, people=1)
    store.close()
    with pytest.raises(PeopleStoreError, match="model 'fake'"):
        PeopleStore.open(tmp_path / "people", model_id="other")
    with pytest.raises(PeopleStoreError, match="no clustering database"):
        PeopleStore.open(tmp_path / "empty", create=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "people.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(PeopleStoreError, match="not a faceprint clustering database"):
        PeopleStore.open(tmp_path / "junk")
    other = tmp_path / "other"
    other.mkdir()
    db = sqlite3.connect(other / "people.db")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('format', 'something-else')")
    db.commit()
    db.close()
    with pytest.raises(PeopleStoreError, match="not a faceprint clustering database"):
        PeopleStore.open(other)


class _FailingEmbedder:
    """A fake embedder that fails on its ``fail_on``-th call (a run killed half-way)."""

    def __init__(self, fail_on: int) -> None:
        from faceprint.testing import FakeEmbedder

        self._inner = FakeEmbedder()
        self.model_id = self._inner.model_id
        self.dimension = self._inner.dimension
        self.calls = 0
        self._fail_on = fail_on

    def embed(self, faces):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self._fail_on:
            raise RuntimeError("killed")
        return self._inner.embed(faces)


def test_ingest_is_incremental_resumable_and_embeds_duplicates_once(tmp_path: Path) -> None:
    from PIL import Image

    from faceprint.people import ingest
    from faceprint.pipeline import FacePipeline
    from faceprint.testing import FakeDetector, fake_image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(6):
        colour = (40 * i + 20, 255 - 30 * i, 90)
        Image.fromarray(fake_image((colour, (20, 20, 80, 90)))).save(photos / f"{i}.png")
    (photos / "copy.png").write_bytes((photos / "0.png").read_bytes())
    (photos / "bad.jpg").write_bytes(b"\xff\xd8 broken")

    from faceprint.types import Attributes

    class FrontalFaces:
        """Head pose 0 for every face (the quality gate asks for it)."""

        def estimate_batch(self, items):  # type: ignore[no-untyped-def]
            attrs = Attributes(30.0, "female", 0.9, "neutral", (("neutral", 1.0),), 0.0, 0.0, 0.0)
            return [[attrs for _ in dets] for _, dets in items]

    def pipeline(fail_on: int = 0) -> FacePipeline:
        return FacePipeline(
            detector=FakeDetector(),
            embedder=_FailingEmbedder(fail_on),
            attributes=FrontalFaces,  # type: ignore[arg-type]
        )

    store = PeopleStore.open(tmp_path / "people", model_id="fake")
    with pytest.raises(RuntimeError, match="killed"):
        ingest(pipeline(fail_on=2), store, [photos], batch_size=2)
    assert store.counts()["faces"] == 2  # the first batch was committed
    done = ingest(pipeline(), store, [photos], batch_size=2)
    assert done.known_images == 3 and done.new_images == 4 and done.unreadable == 1  # + the copy
    assert store.counts() == {"images": 6, "unreadable": 1, "no_face": 0, "faces": 6}
    again = ingest(pipeline(), store, [photos], batch_size=2)
    assert again.new_images == 0 and again.unreadable == 0 and again.known_images == 8
    assert store.thumb(1) is not None and store.thumb(1)[:2] == b"\xff\xd8"


def test_an_uncalibrated_model_needs_a_threshold_before_anything_runs(tmp_path: Path) -> None:
    from faceprint.errors import CalibrationError
    from faceprint.people import cluster_photos
    from faceprint.pipeline import FacePipeline
    from faceprint.testing import FakeDetector, FakeEmbedder

    pipeline = FacePipeline(detector=FakeDetector(), embedder=FakeEmbedder())
    with pytest.raises(CalibrationError, match="--threshold"):
        cluster_photos(pipeline, [tmp_path], tmp_path / "out")
    assert not (tmp_path / "out").exists()
