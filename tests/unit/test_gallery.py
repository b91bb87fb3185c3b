"""Gallery: pinning, persistence, transactions, search, identify, removal, caching.

No weights and no network: embeddings are seeded random unit vectors.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.errors import (
    AlreadyExistsError,
    ConfigError,
    GalleryError,
    ModelMismatchError,
    NotFoundError,
)
from faceprint.gallery import CollectionInfo, FaceInfo, FaceRecord, Gallery, PersonInfo
from faceprint.types import Embedding, Identification, Match, Threshold

MODEL = "fake-a"
DIM = 16


def unit(rng: np.random.Generator, dim: int = DIM) -> NDArray[np.float32]:
    v = rng.standard_normal(dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def emb(rng: np.random.Generator, *, dim: int = DIM, model: str = MODEL) -> Embedding:
    return Embedding(vector=unit(rng, dim), model_id=model)


def rec(rng: np.random.Generator, **kwargs: object) -> FaceRecord:
    return FaceRecord(embedding=emb(rng), **kwargs)  # type: ignore[arg-type]


def threshold(similarity: float) -> Threshold:
    return Threshold(similarity=similarity, fmr=None, source="user")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


INDEXES = ["auto", "pq", "milvus-lite"]
"""Every index engine the gallery suite runs against (the search results must agree)."""


@pytest.fixture(scope="module")
def milvus_lite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One milvus-lite file for the module: in-memory galleries get random prefixes."""
    pytest.importorskip("pymilvus", reason="the [milvus] extra is not installed")
    pytest.importorskip("milvus_lite", reason="the [milvus] extra is not installed")
    return tmp_path_factory.mktemp("milvus") / "milvus.db"


@pytest.fixture(params=INDEXES)
def gallery(request: pytest.FixtureRequest) -> Iterator[Gallery]:
    g = Gallery.open(":memory:")
    spec = request.param
    if spec == "milvus-lite":
        spec = f"milvus-lite:{request.getfixturevalue('milvus_lite_file')}"
    g.set_index(spec)
    yield g
    g.close()


# --- pinning -------------------------------------------------------------------------


def test_new_gallery_is_unpinned_until_the_first_face(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    assert gallery.model_id is None
    assert gallery.embedding_dim is None
    gallery.add_faces("ann", [rec(rng)])
    assert gallery.model_id == MODEL
    assert gallery.embedding_dim == DIM


def test_open_with_model_id_pins_an_empty_gallery(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path, model_id="sface") as g:
        assert g.model_id == "sface"
        assert g.embedding_dim is None
    with Gallery.open(path) as g:
        assert g.model_id == "sface"


def test_adding_another_model_is_refused_and_names_both(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    gallery.add_faces("ann", [rec(rng)])
    other = FaceRecord(emb(rng, model="fake-b"))
    with pytest.raises(ModelMismatchError, match="fake-a") as info:
        gallery.add_faces("bob", [other])
    assert "fake-b" in str(info.value)
    assert isinstance(info.value, ValueError)
    assert gallery.size() == 1
    assert [p.name for p in gallery.persons()] == ["ann"]


def test_adding_another_dimension_is_refused(gallery: Gallery, rng: np.random.Generator) -> None:
    gallery.add_faces("ann", [rec(rng)])
    with pytest.raises(ModelMismatchError, match=r"16-d.*32-d") as info:
        gallery.add_faces("bob", [FaceRecord(emb(rng, dim=32))])
    assert "fake-a" in str(info.value)
    assert gallery.size() == 1


def test_open_pinned_to_model_id_refuses_other_dimension_on_first_add(
    rng: np.random.Generator,
) -> None:
    with Gallery.open(":memory:", model_id="fake-b") as g:
        with pytest.raises(ModelMismatchError, match="fake-b"):
            g.add_faces("ann", [rec(rng)])  # model fake-a
        assert g.size() == 0
        assert g.embedding_dim is None


def test_reopen_with_other_model_is_refused(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.add_faces("ann", [rec(rng)])
    with pytest.raises(ModelMismatchError, match=r"'fake-a'.*'arcface'"):
        Gallery.open(path, model_id="arcface")
    with Gallery.open(path, model_id=MODEL) as g:
        assert g.size() == 1


def test_search_with_other_model_or_dimension_is_refused(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    gallery.add_faces("ann", [rec(rng)])
    with pytest.raises(ModelMismatchError, match="fake-b"):
        gallery.search(emb(rng, model="fake-b"))
    with pytest.raises(ModelMismatchError, match="8-d"):
        gallery.search(emb(rng, dim=8))
    with pytest.raises(ModelMismatchError, match="fake-b"):
        gallery.identify(emb(rng, model="fake-b"), threshold=threshold(0.3))


def test_a_batch_mixing_models_is_refused_whole(gallery: Gallery, rng: np.random.Generator) -> None:
    batch = [rec(rng), FaceRecord(emb(rng, model="fake-b")), rec(rng)]
    with pytest.raises(ModelMismatchError, match="fake-b"):
        gallery.add_faces("ann", batch)
    assert gallery.size() == 0
    assert gallery.model_id is None


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(("person", "collection"), [("", "default"), ("   ", "default"), ("a", "")])
def test_empty_names_are_refused(
    gallery: Gallery, rng: np.random.Generator, person: str, collection: str
) -> None:
    with pytest.raises(ConfigError, match="non-empty"):
        gallery.add_faces(person, [rec(rng)], collection=collection)
    assert gallery.size() == 0


@pytest.mark.parametrize(
    ("vector", "message"),
    [
        (np.array([np.nan] + [0.0] * (DIM - 1), dtype=np.float32), "NaN"),
        (np.array([np.inf] + [0.0] * (DIM - 1), dtype=np.float32), "NaN or infinity"),
        (np.full(DIM, 0.5, dtype=np.float32), "norm 2"),
        (np.zeros(DIM, dtype=np.float32), "norm 0"),
        (np.eye(DIM, dtype=np.float32)[:2], "1-D"),
        (np.zeros(0, dtype=np.float32), "1-D"),
    ],
)
def test_invalid_vectors_are_refused_and_nothing_is_added(
    gallery: Gallery, rng: np.random.Generator, vector: NDArray[np.float32], message: str
) -> None:
    batch = [rec(rng), FaceRecord(Embedding(vector, MODEL)), rec(rng)]
    with pytest.raises(ConfigError, match=message) as info:
        gallery.add_faces("ann", batch)
    assert isinstance(info.value, ValueError)
    assert "face 1 of 'ann'" in str(info.value)
    assert gallery.size() == 0
    assert gallery.persons() == []


def test_nearly_unit_vectors_are_accepted_and_stored_as_float32(gallery: Gallery) -> None:
    v = np.zeros(DIM, dtype=np.float64)
    v[0] = 1.0 + 5e-4  # within the 1e-3 tolerance; float64 input is cast
    (face_id,) = gallery.add_faces("ann", [FaceRecord(Embedding(v, MODEL))])  # type: ignore[arg-type]
    probe = np.zeros(DIM, dtype=np.float32)
    probe[0] = 1.0
    (match,) = gallery.search(Embedding(probe, MODEL))
    assert match.face_id == face_id
    assert match.similarity == pytest.approx(1.0, abs=1e-6)


def test_invalid_probe_is_refused(gallery: Gallery, rng: np.random.Generator) -> None:
    gallery.add_faces("ann", [rec(rng)])
    with pytest.raises(ConfigError, match="probe"):
        gallery.search(Embedding(np.full(DIM, 0.5, dtype=np.float32), MODEL))


@pytest.mark.parametrize(
    ("bbox", "det_score", "message"),
    [
        ((1.0, 2.0, 3.0), None, "4 finite numbers"),
        ((1.0, 2.0, float("nan"), 4.0), None, "4 finite numbers"),
        (None, float("inf"), "det_score"),
    ],
)
def test_malformed_box_or_score_is_refused(
    gallery: Gallery,
    rng: np.random.Generator,
    bbox: tuple[float, ...] | None,
    det_score: float | None,
    message: str,
) -> None:
    with pytest.raises(ConfigError, match=message):
        gallery.add_faces("ann", [rec(rng, bbox_xyxy=bbox, det_score=det_score)])
    assert gallery.size() == 0


def test_k_must_be_positive(gallery: Gallery, rng: np.random.Generator) -> None:
    gallery.add_faces("ann", [rec(rng)])
    with pytest.raises(ConfigError, match="k must be at least 1"):
        gallery.search(emb(rng), k=0)


def test_adding_no_faces_creates_nothing(gallery: Gallery) -> None:
    assert gallery.add_faces("ann", []) == []
    assert gallery.persons() == []
    assert gallery.collections() == []


# --- persistence ---------------------------------------------------------------------


def test_reopen_persists_everything(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "sub" / "gallery.db"
    probe = emb(rng)
    with Gallery.open(path) as g:
        ann_ids = g.add_faces(
            "ann",
            [
                rec(rng, source="a1.jpg", source_sha256="ab" * 32, bbox_xyxy=(1, 2, 30, 40)),
                rec(rng, source="a2.jpg", det_score=0.875),
            ],
        )
        g.add_faces("bob", [rec(rng, source="b.jpg")], collection="staff")
        before = g.search(probe, k=5)
        faces_before = g.faces("ann")
        persons_before = g.persons()
    assert path.is_file()
    with Gallery.open(path, create=False) as g:
        assert g.model_id == MODEL
        assert g.embedding_dim == DIM
        assert g.persons() == persons_before
        assert [p.name for p in g.persons()] == ["ann", "bob"]
        assert [c.name for c in g.collections()] == ["default", "staff"]
        assert g.faces("ann") == faces_before
        a1, a2 = g.faces("ann")
        assert (a1.id, a1.source, a1.source_sha256) == (ann_ids[0], "a1.jpg", "ab" * 32)
        assert a1.bbox_xyxy == (1.0, 2.0, 30.0, 40.0)
        assert a1.det_score is None
        assert (a2.id, a2.bbox_xyxy, a2.det_score) == (ann_ids[1], None, 0.875)
        assert g.search(probe, k=5) == before
        assert g.size() == 3


def test_enrolled_vectors_round_trip_exactly(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "g.db"
    records = [rec(rng) for _ in range(3)]
    with Gallery.open(path) as g:
        ids = g.add_faces("ann", records)
    with Gallery.open(path) as g:
        for face_id, record in zip(ids, records, strict=True):
            (match,) = g.search(record.embedding, k=1)
            assert match.face_id == face_id
            assert match.similarity == pytest.approx(1.0, abs=1e-6)


def test_face_ids_are_returned_in_input_order(gallery: Gallery, rng: np.random.Generator) -> None:
    ids = gallery.add_faces("ann", [rec(rng, source=f"{i}.jpg") for i in range(4)])
    assert ids == sorted(ids)
    assert len(set(ids)) == 4
    assert [f.source for f in gallery.faces("ann")] == ["0.jpg", "1.jpg", "2.jpg", "3.jpg"]
    assert [f.id for f in gallery.faces("ann")] == ids


# --- transactions --------------------------------------------------------------------


def test_a_batch_failing_on_its_third_face_leaves_nothing(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.add_faces("bob", [rec(rng)])
    # Make the database itself refuse one insert, after two faces of the batch went in.
    raw = sqlite3.connect(path)
    raw.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON faces WHEN NEW.source = 'bad' "
        "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
    )
    raw.commit()
    raw.close()
    with Gallery.open(path) as g:
        batch = [rec(rng, source=s) for s in ("ok1", "ok2", "bad", "ok4", "ok5")]
        with pytest.raises(GalleryError, match="nothing was changed"):
            g.add_faces("ann", batch, collection="new")
        assert g.size() == 1
        assert [(p.collection, p.name) for p in g.persons()] == [("default", "bob")]
        assert [c.name for c in g.collections()] == ["default"]
        # Same for more faces of an existing person: their old faces stay, no new ones.
        with pytest.raises(GalleryError):
            g.add_faces("bob", batch)
        assert [p.faces for p in g.persons()] == [1]
        # The gallery still works afterwards.
        g.add_faces("ann", [rec(rng, source="fine")])
        assert g.size() == 2
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM faces").fetchone() == (2,)
    raw.close()


def test_failed_first_batch_does_not_pin(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "g.db"
    Gallery.open(path).close()
    raw = sqlite3.connect(path)
    raw.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON faces "
        "BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
    )
    raw.commit()
    raw.close()
    with Gallery.open(path) as g:
        with pytest.raises(GalleryError):
            g.add_faces("ann", [rec(rng)])
        assert g.model_id is None
        assert g.embedding_dim is None


# --- search --------------------------------------------------------------------------


def build(
    gallery: Gallery, rng: np.random.Generator, *, persons: int = 25, collections: int = 2
) -> dict[int, tuple[str, str, NDArray[np.float32]]]:
    """Enrol persons with 1–4 faces each; returns face id → (collection, person, vector)."""
    faces: dict[int, tuple[str, str, NDArray[np.float32]]] = {}
    for i in range(persons):
        collection = f"c{i % collections}"
        records = [rec(rng) for _ in range(int(rng.integers(1, 5)))]
        ids = gallery.add_faces(f"p{i:02d}", records, collection=collection)
        for face_id, record in zip(ids, records, strict=True):
            faces[face_id] = (collection, f"p{i:02d}", record.embedding.vector)
    return faces


def reference(
    faces: dict[int, tuple[str, str, NDArray[np.float32]]],
    probe: NDArray[np.float32],
    k: int,
    collection: str | None = None,
) -> list[tuple[str, str, int, float]]:
    """Brute force: best face per (collection, person), ties to the lower face id."""
    best: dict[tuple[str, str], tuple[float, int]] = {}
    for face_id in sorted(faces):
        c, p, v = faces[face_id]
        if collection is not None and c != collection:
            continue
        sim = float(np.dot(v.astype(np.float64), probe.astype(np.float64)))
        if (c, p) not in best or sim > best[(c, p)][0]:
            best[(c, p)] = (sim, face_id)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1]))
    return [(c, p, face_id, sim) for (c, p), (sim, face_id) in ranked[:k]]


def assert_matches(matches: list[Match], expected: list[tuple[str, str, int, float]]) -> None:
    assert [(m.collection, m.person, m.face_id) for m in matches] == [e[:3] for e in expected]
    for match, e in zip(matches, expected, strict=True):
        assert match.similarity == pytest.approx(e[3], abs=1e-5)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_search_matches_brute_force(gallery: Gallery, rng: np.random.Generator, k: int) -> None:
    faces = build(gallery, rng)
    for _ in range(10):
        probe = emb(rng)
        assert_matches(gallery.search(probe, k=k), reference(faces, probe.vector, k))
        assert_matches(
            gallery.search(probe, k=k, collection="c1"),
            reference(faces, probe.vector, k, collection="c1"),
        )


def test_search_with_a_near_copy_of_an_enrolled_face(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    faces = build(gallery, rng)
    face_id = sorted(faces)[17]
    collection, person, vector = faces[face_id]
    noisy = vector + 0.05 * unit(rng)
    probe = Embedding((noisy / np.linalg.norm(noisy)).astype(np.float32), MODEL)
    best = gallery.search(probe, k=3)[0]
    assert (best.collection, best.person, best.face_id) == (collection, person, face_id)
    assert best.similarity > 0.99


def test_a_person_scores_their_best_face(gallery: Gallery) -> None:
    def basis(i: int) -> Embedding:
        v = np.zeros(DIM, dtype=np.float32)
        v[i] = 1.0
        return Embedding(v, MODEL)

    mixed = (basis(0).vector * 0.6 + basis(1).vector * 0.8).astype(np.float32)
    ids = gallery.add_faces("ann", [FaceRecord(basis(2)), FaceRecord(basis(0))])
    (bob,) = gallery.add_faces("bob", [FaceRecord(Embedding(mixed, MODEL))])
    matches = gallery.search(basis(0), k=5)
    assert [(m.person, m.face_id) for m in matches] == [("ann", ids[1]), ("bob", bob)]
    assert [m.similarity for m in matches] == pytest.approx([1.0, 0.6])


def test_ties_are_deterministic_earliest_face_first(gallery: Gallery) -> None:
    v = np.zeros(DIM, dtype=np.float32)
    v[3] = 1.0
    same = Embedding(v, MODEL)
    (first,) = gallery.add_faces("zed", [FaceRecord(same)])
    (second,) = gallery.add_faces("amy", [FaceRecord(same)])
    (third,) = gallery.add_faces("mia", [FaceRecord(same)], collection="other")
    for _ in range(3):
        matches = gallery.search(same, k=5)
        assert [(m.person, m.face_id) for m in matches] == [
            ("zed", first),
            ("amy", second),
            ("mia", third),
        ]
        assert [m.similarity for m in matches] == [1.0, 1.0, 1.0]


def test_k_larger_than_persons_returns_each_person_once(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    faces = build(gallery, rng, persons=4, collections=1)
    probe = emb(rng)
    matches = gallery.search(probe, k=50)
    assert len(matches) == 4
    assert sorted(m.person for m in matches) == ["p00", "p01", "p02", "p03"]
    sims = [m.similarity for m in matches]
    assert sims == sorted(sims, reverse=True)
    assert_matches(matches, reference(faces, probe.vector, 50))


def test_empty_gallery_gives_no_candidates(rng: np.random.Generator) -> None:
    with Gallery.open(":memory:") as g:
        assert g.search(emb(rng)) == []
        result = g.identify(emb(rng), threshold=threshold(-1.0))
        assert result == Identification(candidates=(), threshold=threshold(-1.0), person=None)
        assert result.best is None
        assert g.size() == 0


def test_gallery_emptied_by_removal_gives_no_candidates(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    gallery.add_faces("ann", [rec(rng)])
    assert len(gallery.search(emb(rng))) == 1
    gallery.remove_person("ann")
    assert gallery.search(emb(rng)) == []
    assert gallery.model_id == MODEL  # the pin stays


def test_collection_filter(gallery: Gallery, rng: np.random.Generator) -> None:
    probe = emb(rng)
    (staff_id,) = gallery.add_faces("ann", [FaceRecord(probe)], collection="staff")
    (guest_id,) = gallery.add_faces("ann", [rec(rng)], collection="guests")
    gallery.add_faces("bob", [rec(rng)], collection="guests")
    everywhere = gallery.search(probe, k=10)
    assert (everywhere[0].collection, everywhere[0].person) == ("staff", "ann")
    assert {(m.collection, m.person) for m in everywhere} == {
        ("staff", "ann"),
        ("guests", "ann"),
        ("guests", "bob"),
    }
    guests = gallery.search(probe, k=10, collection="guests")
    assert {(m.collection, m.person) for m in guests} == {("guests", "ann"), ("guests", "bob")}
    assert guest_id in {m.face_id for m in guests}
    assert staff_id not in {m.face_id for m in guests}
    assert [m.face_id for m in gallery.search(probe, collection="staff")] == [staff_id]
    with pytest.raises(NotFoundError, match=r"'nobody'.*'guests', 'staff'"):
        gallery.search(probe, collection="nobody")


# --- identify ------------------------------------------------------------------------


def test_identify_accepts_and_rejects_around_the_threshold(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    build(gallery, rng, persons=6, collections=1)
    probe = emb(rng)
    best = gallery.search(probe, k=3)[0]
    s = best.similarity

    accepted = gallery.identify(probe, threshold=threshold(s - 1e-4), k=3)
    assert accepted.person == best.person
    assert accepted.is_known
    assert accepted.candidates == tuple(gallery.search(probe, k=3))
    assert accepted.threshold == threshold(s - 1e-4)

    at = gallery.identify(probe, threshold=threshold(s), k=3)
    assert at.person == best.person  # similarity >= threshold is a match

    rejected = gallery.identify(probe, threshold=threshold(s + 1e-4), k=3)
    assert rejected.person is None
    assert not rejected.is_known
    assert rejected.best == best
    assert len(rejected.candidates) == 3


def test_identify_respects_the_collection(gallery: Gallery, rng: np.random.Generator) -> None:
    probe = emb(rng)
    gallery.add_faces("ann", [FaceRecord(probe)], collection="staff")
    gallery.add_faces("bob", [rec(rng)], collection="guests")
    assert gallery.identify(probe, threshold=threshold(0.9)).person == "ann"
    other = gallery.identify(probe, threshold=threshold(0.9), collection="guests")
    assert other.person is None
    assert [m.person for m in other.candidates] == ["bob"]


# --- listings, counts and removal ----------------------------------------------------


def test_size_and_counts(gallery: Gallery, rng: np.random.Generator) -> None:
    gallery.add_faces("ann", [rec(rng), rec(rng)])
    gallery.add_faces("bob", [rec(rng)])
    gallery.add_faces("ann", [rec(rng), rec(rng), rec(rng)], collection="x")
    assert gallery.size() == 6
    assert gallery.size(collection="default") == 3
    assert gallery.size(collection="x") == 3
    assert gallery.count_persons() == 3
    assert gallery.count_persons(collection="default") == 2
    assert gallery.count_persons(collection="x") == 1
    gallery.add_faces("ann", [rec(rng)])  # more faces of an existing person
    assert gallery.size(collection="default") == 4
    assert gallery.count_persons(collection="default") == 2
    with pytest.raises(NotFoundError):
        gallery.size(collection="nope")
    with pytest.raises(NotFoundError):
        gallery.count_persons(collection="nope")


def test_listings(gallery: Gallery, rng: np.random.Generator) -> None:
    gallery.add_faces("zoe", [rec(rng)], collection="b")
    gallery.add_faces("bob", [rec(rng), rec(rng)], collection="a")
    gallery.add_faces("amy", [rec(rng)], collection="b")
    collections = gallery.collections()
    assert [(c.name, c.persons, c.faces) for c in collections] == [("a", 1, 2), ("b", 2, 2)]
    assert all(isinstance(c, CollectionInfo) and "T" in c.created_at for c in collections)
    persons = gallery.persons()
    assert [(p.collection, p.name, p.faces) for p in persons] == [
        ("a", "bob", 2),
        ("b", "amy", 1),
        ("b", "zoe", 1),
    ]
    assert all(isinstance(p, PersonInfo) and p.created_at.endswith("+00:00") for p in persons)
    assert [p.name for p in gallery.persons(collection="b")] == ["amy", "zoe"]
    faces = gallery.faces("bob", collection="a")
    assert len(faces) == 2
    assert all(isinstance(f, FaceInfo) and f.person == "bob" and f.collection == "a" for f in faces)
    with pytest.raises(NotFoundError, match="no collection 'default'"):
        gallery.faces("bob")  # "default" does not exist here
    with pytest.raises(NotFoundError, match="'nobody'"):
        gallery.faces("nobody", collection="a")
    with pytest.raises(NotFoundError):
        gallery.persons(collection="c")


def test_remove_person(gallery: Gallery, rng: np.random.Generator) -> None:
    probe = emb(rng)
    gallery.add_faces("ann", [FaceRecord(probe), rec(rng), rec(rng)])
    gallery.add_faces("bob", [rec(rng)])
    assert gallery.search(probe, k=1)[0].person == "ann"
    assert gallery.remove_person("ann") == 3
    assert [p.name for p in gallery.persons()] == ["bob"]
    assert gallery.size() == 1
    assert [m.person for m in gallery.search(probe, k=5)] == ["bob"]
    with pytest.raises(NotFoundError, match="'ann'") as info:
        gallery.remove_person("ann")
    assert isinstance(info.value, LookupError)
    with pytest.raises(NotFoundError, match="'nope'"):
        gallery.remove_person("bob", collection="nope")


def test_remove_face(gallery: Gallery, rng: np.random.Generator) -> None:
    probe = emb(rng)
    a1, a2 = gallery.add_faces("ann", [FaceRecord(probe), rec(rng)])
    (b1,) = gallery.add_faces("bob", [rec(rng)])
    gallery.remove_face(a1)
    assert [f.id for f in gallery.faces("ann")] == [a2]
    assert a1 not in {m.face_id for m in gallery.search(probe, k=5)}
    assert gallery.search(probe, k=5)[0].face_id in {a2, b1}
    # Removing a person's last face removes the person.
    gallery.remove_face(b1)
    assert [p.name for p in gallery.persons()] == ["ann"]
    with pytest.raises(NotFoundError, match=str(b1)):
        gallery.remove_face(b1)
    assert gallery.size() == 1


def test_remove_collection_cascades(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "g.db"
    probe = emb(rng)
    with Gallery.open(path) as g:
        g.add_faces("ann", [FaceRecord(probe), rec(rng)], collection="temp")
        g.add_faces("bob", [rec(rng)], collection="temp")
        g.add_faces("cat", [rec(rng)])
        assert g.remove_collection("temp") == 3
        assert [c.name for c in g.collections()] == ["default"]
        assert [(p.collection, p.name) for p in g.persons()] == [("default", "cat")]
        assert [m.person for m in g.search(probe, k=5)] == ["cat"]
        with pytest.raises(NotFoundError, match="'temp'"):
            g.remove_collection("temp")
        with pytest.raises(NotFoundError):
            g.search(probe, collection="temp")
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM persons").fetchone() == (1,)
    assert raw.execute("SELECT COUNT(*) FROM faces").fetchone() == (1,)
    raw.close()


def test_rename_person(gallery: Gallery, rng: np.random.Generator) -> None:
    probe = emb(rng)
    gallery.add_faces("ann", [FaceRecord(probe)])
    gallery.add_faces("bob", [rec(rng)])
    assert gallery.search(probe, k=1)[0].person == "ann"
    gallery.rename_person("ann", "anna")
    assert gallery.search(probe, k=1)[0].person == "anna"
    assert [p.name for p in gallery.persons()] == ["anna", "bob"]
    with pytest.raises(AlreadyExistsError, match="'bob'"):
        gallery.rename_person("anna", "bob")
    with pytest.raises(NotFoundError):
        gallery.rename_person("ann", "x")
    with pytest.raises(ConfigError):
        gallery.rename_person("anna", " ")


# --- cache ---------------------------------------------------------------------------


def test_search_after_own_write_sees_it(gallery: Gallery, rng: np.random.Generator) -> None:
    gallery.add_faces("ann", [rec(rng)])
    probe = emb(rng)
    assert [m.person for m in gallery.search(probe)] == ["ann"]
    gallery.add_faces("bob", [FaceRecord(probe)])
    assert gallery.search(probe)[0].person == "bob"
    assert gallery.search(probe, collection="default")[0].person == "bob"


def test_cache_sees_writes_from_another_connection(
    tmp_path: Path, rng: np.random.Generator
) -> None:
    path = tmp_path / "g.db"
    probe = emb(rng)
    with Gallery.open(path) as reader, Gallery.open(path) as writer:
        writer.add_faces("ann", [rec(rng)])
        assert [m.person for m in reader.search(probe, k=5)] == ["ann"]
        assert [m.person for m in reader.search(probe, k=5, collection="default")] == ["ann"]
        (new_id,) = writer.add_faces("bob", [FaceRecord(probe)])
        top = reader.search(probe, k=5)[0]
        assert (top.person, top.face_id) == ("bob", new_id)
        assert top.similarity == pytest.approx(1.0, abs=1e-6)
        assert reader.search(probe, k=5, collection="default")[0].person == "bob"
        assert reader.size() == 2
        writer.remove_person("bob")
        assert [m.person for m in reader.search(probe, k=5)] == ["ann"]


def test_a_write_is_replayed_into_the_index_not_reloaded(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    build(gallery, rng, persons=5, collections=1)
    probe = emb(rng)
    first = gallery.search(probe)
    live = gallery._live
    assert live is not None
    index = live.engine.index(live.engine.collection_ids()[0])
    seq = live.seq
    assert gallery.search(probe) == first
    assert live.seq == seq
    new = rec(rng)
    (new_id,) = gallery.add_faces("new", [new])
    top = gallery.search(new.embedding, k=1)[0]
    assert (top.person, top.face_id) == ("new", new_id)
    assert gallery._live is live
    assert live.engine.index(live.engine.collection_ids()[0]) is index  # updated in place
    assert live.seq is not None and seq is not None and live.seq == seq + 1


# --- lifecycle -----------------------------------------------------------------------


def test_closed_gallery_refuses_calls(rng: np.random.Generator) -> None:
    g = Gallery.open(":memory:")
    with g:
        g.add_faces("ann", [rec(rng)])
    with pytest.raises(GalleryError, match="closed"):
        g.search(emb(rng))
    with pytest.raises(GalleryError, match="closed"):
        g.add_faces("bob", [rec(rng)])
    g.close()  # idempotent
    assert "closed" in repr(g)


def test_concurrent_adds_from_threads_share_one_gallery(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    with Gallery.open(tmp_path / "g.db") as g:

        def work(seed: int) -> None:
            local = np.random.default_rng(seed)
            try:
                for i in range(10):
                    g.add_faces(f"t{seed}-{i}", [rec(local)])
                    g.search(emb(local), k=3)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert g.size() == 40
        assert g.count_persons() == 40


def test_two_connections_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Gallery.open(path).close()
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        local = np.random.default_rng(seed)
        try:
            with Gallery.open(path, model_id=MODEL) as g:
                for i in range(15):
                    g.add_faces(f"w{seed}-{i}", [rec(local), rec(local)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Gallery.open(path, create=False) as g:
        assert g.size() == 90
        assert g.count_persons() == 45


# --- empty collections and persons ------------------------------------------------------


def test_create_collection_and_person_without_faces(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    gallery.create_collection("team")
    assert [(c.name, c.persons, c.faces) for c in gallery.collections()] == [("team", 0, 0)]
    gallery.create_person("alice", collection="team")
    assert [(p.name, p.faces) for p in gallery.persons(collection="team")] == [("alice", 0)]
    assert gallery.search(emb(rng), collection="team") == []
    gallery.add_faces("alice", [rec(rng)], collection="team")
    assert [(p.name, p.faces) for p in gallery.persons(collection="team")] == [("alice", 1)]


def test_create_collection_or_person_twice_is_refused(gallery: Gallery) -> None:
    assert not gallery.has_collection("team")
    gallery.create_collection("team")
    assert gallery.has_collection("team") and not gallery.has_collection("Team")
    with pytest.raises(AlreadyExistsError, match="team"):
        gallery.create_collection("team")
    gallery.create_person("alice", collection="team")
    with pytest.raises(AlreadyExistsError, match="alice"):
        gallery.create_person("alice", collection="team")
    with pytest.raises(NotFoundError, match="nope"):
        gallery.create_person("bob", collection="nope")
    with pytest.raises(ConfigError):
        gallery.create_collection("  ")


def test_face_ids_are_never_reused(gallery: Gallery, rng: np.random.Generator) -> None:
    first = gallery.add_faces("alice", [rec(rng), rec(rng)])
    gallery.remove_face(first[-1])
    (again,) = gallery.add_faces("alice", [rec(rng)])
    assert again > first[-1]  # a stale id can never name a newer face


# --- single items --------------------------------------------------------------------


def test_single_item_getters(gallery: Gallery, rng: np.random.Generator) -> None:
    ids = gallery.add_faces(
        "ann", [rec(rng, source="a.jpg", bbox_xyxy=(1, 2, 3, 4), det_score=0.5), rec(rng)]
    )
    gallery.add_faces("bob", [rec(rng)], collection="team")
    gallery.create_person("cat", collection="team")
    team = gallery.collection("team")
    assert team == next(c for c in gallery.collections() if c.name == "team")
    assert (team.name, team.persons, team.faces) == ("team", 2, 1)
    ann = gallery.person("ann")
    assert ann == next(p for p in gallery.persons() if p.name == "ann")
    assert (ann.collection, ann.faces) == ("default", 2)
    assert gallery.person("cat", collection="team").faces == 0
    face = gallery.face(ids[0])
    assert face == gallery.faces("ann")[0]
    assert (face.person, face.collection, face.source) == ("ann", "default", "a.jpg")
    assert (face.bbox_xyxy, face.det_score) == ((1.0, 2.0, 3.0, 4.0), 0.5)


def test_single_item_getters_not_found(gallery: Gallery, rng: np.random.Generator) -> None:
    (face_id,) = gallery.add_faces("ann", [rec(rng)], collection="team")
    with pytest.raises(NotFoundError, match=r"no collection 'staff'.*'team'") as info:
        gallery.collection("staff")
    assert isinstance(info.value, LookupError)
    with pytest.raises(NotFoundError, match="no person 'bob' in collection 'team'"):
        gallery.person("bob", collection="team")
    with pytest.raises(NotFoundError, match="no collection 'default'"):
        gallery.person("ann")  # the default collection does not exist
    with pytest.raises(NotFoundError, match=f"no face with id {face_id + 1}"):
        gallery.face(face_id + 1)
    gallery.remove_face(face_id)
    with pytest.raises(NotFoundError, match=f"no face with id {face_id}"):
        gallery.face(face_id)


def test_rename_collection(gallery: Gallery, rng: np.random.Generator) -> None:
    probe = emb(rng)
    (face_id,) = gallery.add_faces("ann", [FaceRecord(probe)], collection="staff")
    gallery.add_faces("bob", [rec(rng)], collection="guests")
    assert gallery.search(probe, collection="staff")[0].collection == "staff"  # cached
    gallery.rename_collection("staff", "team")
    assert [c.name for c in gallery.collections()] == ["guests", "team"]
    assert not gallery.has_collection("staff")
    assert gallery.face(face_id).collection == "team"  # same face, same id
    (best,) = gallery.search(probe, collection="team", k=1)
    assert (best.person, best.collection, best.face_id) == ("ann", "team", face_id)
    assert gallery.search(probe, k=1)[0].collection == "team"
    with pytest.raises(NotFoundError, match="staff"):
        gallery.search(probe, collection="staff")
    with pytest.raises(NotFoundError, match="no collection 'nope'"):
        gallery.rename_collection("nope", "other")
    with pytest.raises(AlreadyExistsError, match="guests"):
        gallery.rename_collection("team", "guests")
    with pytest.raises(ConfigError):
        gallery.rename_collection("team", " ")
    assert gallery.collection("team").faces == 1  # refused renames changed nothing


# --- enrolled images -------------------------------------------------------------------


def digest(i: int) -> str:
    return f"{i:064x}"


def test_enrolled_images(gallery: Gallery, rng: np.random.Generator) -> None:
    gallery.add_faces("ann", [rec(rng, source_sha256=digest(1)), rec(rng, source_sha256=digest(2))])
    gallery.add_faces("bob", [rec(rng, source_sha256=digest(2))])  # a group photo
    gallery.add_faces("ann", [rec(rng, source_sha256=digest(2))])  # two faces, one image
    gallery.add_faces("cat", [rec(rng, source_sha256=digest(3))], collection="team")
    gallery.add_faces("dan", [rec(rng)])  # no digest
    found = gallery.enrolled_images(
        [digest(1), digest(2), digest(3), digest(4), ""], collection="default"
    )
    assert found == {digest(1): ("ann",), digest(2): ("ann", "bob")}
    assert gallery.enrolled_images(iter([digest(3)]), collection="team") == {digest(3): ("cat",)}
    assert gallery.enrolled_images([digest(1)], collection="team") == {}
    assert gallery.enrolled_images([digest(1)], collection="nope") == {}
    assert gallery.enrolled_images([], collection="default") == {}
    with pytest.raises(ConfigError, match="not one string"):
        gallery.enrolled_images(digest(1), collection="default")


def test_enrolled_images_with_more_digests_than_sqlite_variables(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    enrolled = range(0, 2500, 2)
    for k in range(7):
        faces = [rec(rng, source_sha256=digest(i)) for i in enrolled if i % 7 == k]
        gallery.add_faces(f"p{k}", faces)
    asked = [digest(i) for i in range(2500)]  # 2500 > 999 and > the chunk size
    found = gallery.enrolled_images(asked, collection="default")
    assert found == {digest(i): (f"p{i % 7}",) for i in enrolled}


def test_enrolled_images_looks_digests_up_in_the_index(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    for p in range(20):
        gallery.add_faces(f"p{p}", [rec(rng, source_sha256=digest(p))])
    conn = gallery._store._db
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        gallery.enrolled_images([digest(i) for i in range(64)], collection="default")
    finally:
        conn.set_trace_callback(None)
    (query,) = [s for s in statements if "source_sha256 IN" in s]
    plan = [str(r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {query}")]
    # the digests drive the search (not a walk over every person of the collection)
    assert plan[0].startswith("SEARCH f USING INDEX faces_source_sha256"), plan
    assert any("SEARCH p USING INTEGER PRIMARY KEY" in step for step in plan), plan


def test_a_rescored_search_reorders_a_wider_shortlist(
    gallery: Gallery, rng: np.random.Generator
) -> None:
    faces = build(gallery, rng)
    probe = emb(rng)
    seen: list[int] = []

    def reverse(p: NDArray[np.float32], vectors: NDArray[np.float32]) -> NDArray[np.float64]:
        seen.append(len(vectors))
        return -(vectors @ p).astype(np.float64)  # the least similar first

    found = gallery.search(probe, k=3, rescore=reverse)
    persons = {(c, p) for c, p, _ in faces.values()}
    assert seen == [min(len(persons), 64)]  # max(4k, 64) persons short-listed
    shortlist = reference(faces, probe.vector, min(len(persons), 64))
    expected = sorted(shortlist, key=lambda e: e[3])[:3]
    assert [m.face_id for m in found] == [e[2] for e in expected]
    assert [m.similarity for m in found] == pytest.approx([-e[3] for e in expected], abs=1e-5)
    result = gallery.identify(probe, threshold=threshold(-1.0), k=3, rescore=reverse)
    assert result.candidates == tuple(found)
