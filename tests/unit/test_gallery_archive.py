"""Gallery archives: round trip, idempotent re-import, pin, checksums, versions, no pickle.

No weights: embeddings are seeded random unit vectors.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.errors import (
    ConfigError,
    GalleryCorruptError,
    GalleryError,
    ModelMismatchError,
    NotFoundError,
)
from faceprint.gallery import FaceRecord, Gallery
from faceprint.gallery.archive import (
    ARCHIVE_FORMAT,
    ARCHIVE_VERSION,
    export_gallery,
    import_gallery,
)
from faceprint.types import Embedding

MODEL = "fake-a"
DIM = 16
MEMBERS = ("collections.jsonl", "persons.jsonl", "faces.jsonl", "embeddings.npy")


def emb(rng: np.random.Generator, *, dim: int = DIM, model: str = MODEL) -> Embedding:
    v = rng.standard_normal(dim)
    return Embedding(vector=(v / np.linalg.norm(v)).astype(np.float32), model_id=model)


def rec(rng: np.random.Generator, **kwargs: object) -> FaceRecord:
    return FaceRecord(embedding=emb(rng), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


@pytest.fixture
def source(tmp_path: Path, rng: np.random.Generator) -> Gallery:
    """A gallery with two collections, a person without faces, faces with and without
    digests, boxes and scores, and the liveness setting on."""
    g = Gallery.open(tmp_path / "source.db")
    g.add_faces(
        "ann",
        [
            rec(rng, source="a1.jpg", source_sha256="a1" * 32, bbox_xyxy=(1.25, 2, 30, 40.5)),
            rec(rng, source="a2.jpg", source_sha256="a2" * 32, det_score=0.875),
            rec(rng),  # no digest: deduplicated by its embedding bytes
        ],
    )
    g.add_faces("bob", [rec(rng, source="group.jpg", source_sha256="cc" * 32)])
    g.add_faces("bob", [rec(rng, source="group.jpg", source_sha256="cc" * 32)], collection="team")
    g.add_faces("zoë", [rec(rng, source_sha256="dd" * 32)], collection="team")
    g.create_person("carl", collection="team")
    g.create_collection("empty")
    g.set_require_liveness(True)
    return g


def matrix(g: Gallery) -> NDArray[np.float32]:
    return g._store.load_embeddings(None).matrix


def face_metadata(g: Gallery) -> list[tuple[object, ...]]:
    """Every face's metadata except its id, in enrolment order."""
    faces = [f for p in g.persons() for f in g.faces(p.name, collection=p.collection)]
    faces.sort(key=lambda f: f.id)
    return [
        (f.collection, f.person, f.source, f.source_sha256, f.bbox_xyxy, f.det_score, f.enrolled_at)
        for f in faces
    ]


def snapshot(g: Gallery) -> tuple[object, ...]:
    return (g.collections(), g.persons(), face_metadata(g), g.model_id, g.embedding_dim)


def rewrite(path: Path, member: str, data: bytes, *, fix_digest: bool = True) -> None:
    """Replace one member of an archive, updating the manifest's digest unless told not to."""
    with zipfile.ZipFile(path) as z:
        contents = {name: z.read(name) for name in z.namelist()}
    contents[member] = data
    if fix_digest and member != "manifest.json":
        manifest = json.loads(contents["manifest.json"])
        manifest["members"][member] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
        }
        contents["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, content in contents.items():
            z.writestr(name, content)


def read_member(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(member)


# --- round trip ----------------------------------------------------------------------


def test_round_trip_into_a_fresh_gallery(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "out" / "g.zip"
    summary = export_gallery(source, path)
    assert (summary.collections, summary.persons, summary.faces) == (3, 5, 6)
    assert (summary.model_id, summary.embedding_dim) == (MODEL, DIM)
    assert summary.size_bytes == path.stat().st_size
    assert [p.name for p in path.parent.iterdir()] == ["g.zip"]  # no temporary left
    with Gallery.open(tmp_path / "copy.db") as copy:
        result = import_gallery(copy, path)
        assert (result.faces_added, result.faces_skipped) == (6, 0)
        assert (result.collections_added, result.persons_added) == (3, 5)
        assert result.pinned and result.settings_applied
        assert snapshot(copy) == snapshot(source)
        assert matrix(copy).tobytes() == matrix(source).tobytes()  # bit-identical
        assert copy.require_liveness
        probe = Embedding(matrix(source)[3].copy(), MODEL)
        assert copy.search(probe, k=1)[0].similarity == pytest.approx(1.0)


def test_reimport_adds_nothing(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    before = snapshot(source)
    again = import_gallery(source, path)  # into the gallery it came from
    assert (again.faces_added, again.faces_skipped) == (0, 6)
    assert (again.collections_added, again.persons_added) == (0, 0)
    assert not again.pinned and not again.settings_applied
    assert snapshot(source) == before
    with Gallery.open(":memory:") as copy:
        import_gallery(copy, path)
        second = import_gallery(copy, path)
        assert (second.faces_added, second.faces_skipped) == (0, 6)
        assert copy.size() == 6


def test_import_adds_only_the_missing_faces(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    ann = source.faces("ann")
    source.remove_face(ann[1].id)  # a digest face
    source.remove_face(ann[2].id)  # the face without a digest
    result = import_gallery(source, path)
    assert (result.faces_added, result.faces_skipped) == (2, 4)
    assert [f.source for f in source.faces("ann")] == ["a1.jpg", "a2.jpg", ""]


def test_export_of_one_collection_and_import_into_another(
    tmp_path: Path, source: Gallery, rng: np.random.Generator
) -> None:
    path = tmp_path / "team.zip"
    summary = export_gallery(source, path, collection="team")
    assert (summary.collections, summary.persons, summary.faces) == (1, 3, 2)
    assert json.loads(read_member(path, "manifest.json"))["collection"] == "team"
    with Gallery.open(":memory:") as copy:
        copy.add_faces("bob", [rec(rng)], collection="staff")  # not empty: settings stay
        result = import_gallery(copy, path, collection="staff")
        assert [c.name for c in copy.collections()] == ["staff"]
        assert [(p.name, p.faces) for p in copy.persons(collection="staff")] == [
            ("bob", 2),
            ("carl", 0),
            ("zoë", 1),
        ]
        assert (result.collections_added, result.persons_added) == (0, 2)
        assert not result.settings_applied and not copy.require_liveness
        with pytest.raises(ConfigError):
            import_gallery(copy, path, collection="")
    with pytest.raises(NotFoundError, match="no collection 'nope'"):
        export_gallery(source, tmp_path / "nope.zip", collection="nope")
    assert [p.name for p in tmp_path.iterdir() if "nope" in p.name] == []  # no temporary


def test_collection_override_merges_everything_into_one(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    with Gallery.open(":memory:") as copy:
        result = import_gallery(copy, path, collection="all")
        assert [c.name for c in copy.collections()] == ["all"]
        assert {p.name: p.faces for p in copy.persons()} == {
            "ann": 3,
            "bob": 2,  # the same image in two collections: two faces, one collection
            "carl": 0,
            "zoë": 1,
        }
        assert (result.faces_added, result.collections_added) == (6, 1)


def test_empty_and_unpinned_gallery_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    with Gallery.open(":memory:") as g:
        assert export_gallery(g, path).faces == 0
    empty = np.load(io.BytesIO(read_member(path, "embeddings.npy")), allow_pickle=False)
    assert (empty.dtype, empty.shape) == (np.dtype("<f4"), (0, 0))
    with Gallery.open(":memory:") as copy:
        result = import_gallery(copy, path)
        assert (result.faces_added, result.model_id, copy.model_id) == (0, None, None)


def test_progress_is_reported(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    exported: list[tuple[int, int]] = []
    imported: list[tuple[int, int]] = []
    export_gallery(source, path, progress=lambda done, total, _: exported.append((done, total)))
    with Gallery.open(":memory:") as copy:
        import_gallery(copy, path, progress=lambda done, total, _: imported.append((done, total)))
    assert exported[0] == imported[0] == (0, 6)
    assert exported[-1] == imported[-1] == (6, 6)


# --- the file ----------------------------------------------------------------------------


def test_archive_is_plain_zip_json_and_npy_without_pickle(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == sorted((*MEMBERS, "manifest.json"))
        manifest = json.loads(z.read("manifest.json"))
        vectors = np.load(io.BytesIO(z.read("embeddings.npy")), allow_pickle=False)
        faces = [json.loads(line) for line in z.read("faces.jsonl").decode().splitlines()]
        for name in MEMBERS:
            data = z.read(name)
            assert manifest["members"][name] == {
                "sha256": hashlib.sha256(data).hexdigest(),
                "size": len(data),
            }
    assert manifest["format"] == ARCHIVE_FORMAT
    assert manifest["format_version"] == ARCHIVE_VERSION == 1
    assert (manifest["model_id"], manifest["embedding_dim"]) == (MODEL, DIM)
    assert manifest["settings"] == {"require_liveness": "1"}
    assert manifest["counts"] == {"collections": 3, "persons": 5, "faces": 6}
    assert manifest["faceprint_version"]
    assert vectors.dtype == np.dtype("<f4") and vectors.shape == (6, DIM)
    assert vectors.tobytes() == matrix(source).tobytes()
    assert [f["row"] for f in faces] == list(range(6))
    assert faces[0]["bbox_xyxy"] == [1.25, 2.0, 30.0, 40.5]
    assert faces[1]["det_score"] == 0.875


def test_export_replaces_an_existing_file_only_when_complete(
    tmp_path: Path, source: Gallery, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "g.zip"
    path.write_bytes(b"old backup")

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr("faceprint.gallery.archive.writer._write_embeddings", disk_full)
        with pytest.raises(GalleryError, match="No space left"):
            export_gallery(source, path)
    assert path.read_bytes() == b"old backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".incomplete")] == []
    export_gallery(source, path)
    assert zipfile.is_zipfile(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".incomplete")] == []


# --- refusals (nothing written) ------------------------------------------------------------


@pytest.mark.parametrize(("model", "dim"), [("fake-b", DIM), (MODEL, DIM * 2)])
def test_import_into_another_model_or_dimension_is_refused(
    tmp_path: Path, source: Gallery, rng: np.random.Generator, model: str, dim: int
) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    with Gallery.open(":memory:") as other:
        other.add_faces("eve", [FaceRecord(emb(rng, dim=dim, model=model))], collection="x")
        before = snapshot(other)
        with pytest.raises(ModelMismatchError, match="Nothing was imported") as info:
            import_gallery(other, path)
        assert MODEL in str(info.value)
        assert snapshot(other) == before
        assert not other.require_liveness


def test_import_into_a_gallery_pinned_by_name_only_is_refused(
    tmp_path: Path, source: Gallery
) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    with Gallery.open(tmp_path / "b.db", model_id="fake-b") as other:
        with pytest.raises(ModelMismatchError, match="fake-b"):
            import_gallery(other, path)
        assert other.collections() == [] and other.embedding_dim is None


def test_a_flipped_byte_in_the_embeddings_is_refused(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    raw = bytearray(path.read_bytes())
    data = read_member(path, "embeddings.npy")
    at = raw.find(data) + len(data) - 3  # stored, not deflated: the bytes are in the file
    raw[at] ^= 0x01
    path.write_bytes(bytes(raw))
    with Gallery.open(":memory:") as copy:
        with pytest.raises(GalleryCorruptError, match=r"embeddings\.npy"):
            import_gallery(copy, path)
        assert copy.collections() == [] and copy.model_id is None


def test_a_member_that_does_not_match_its_checksum_is_refused(
    tmp_path: Path, source: Gallery
) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    faces = read_member(path, "faces.jsonl").replace(b"ann", b"eve")
    rewrite(path, "faces.jsonl", faces, fix_digest=False)  # valid ZIP, stale manifest
    with Gallery.open(":memory:") as copy:
        with pytest.raises(GalleryCorruptError, match=r"faces\.jsonl fails its sha256"):
            import_gallery(copy, path)
        assert copy.collections() == []


def test_a_newer_format_version_asks_to_upgrade(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    manifest = json.loads(read_member(path, "manifest.json"))
    manifest["format_version"] = ARCHIVE_VERSION + 1
    rewrite(path, "manifest.json", json.dumps(manifest).encode())
    with Gallery.open(":memory:") as copy:
        with pytest.raises(GalleryError, match="upgrade faceprint") as info:
            import_gallery(copy, path)
        assert not isinstance(info.value, GalleryCorruptError)
        assert copy.collections() == []


def test_a_non_unit_vector_is_refused(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    vectors = np.load(io.BytesIO(read_member(path, "embeddings.npy")), allow_pickle=False)
    vectors = vectors.copy()
    vectors[4] *= 2
    out = io.BytesIO()
    np.save(out, vectors, allow_pickle=False)
    rewrite(path, "embeddings.npy", out.getvalue())
    with (
        Gallery.open(":memory:") as copy,
        pytest.raises(GalleryCorruptError, match=r"row 4 of embeddings\.npy has norm 2"),
    ):
        import_gallery(copy, path)


def test_a_bad_last_line_rolls_the_whole_import_back(tmp_path: Path, source: Gallery) -> None:
    path = tmp_path / "g.zip"
    export_gallery(source, path)
    lines = read_member(path, "faces.jsonl").decode().splitlines(keepends=True)
    last = json.loads(lines[-1])
    last["det_score"] = "high"
    lines[-1] = json.dumps(last) + "\n"
    rewrite(path, "faces.jsonl", "".join(lines).encode())  # checksums fine, content not
    with Gallery.open(":memory:") as copy:
        with pytest.raises(GalleryCorruptError, match=r"line 6 of faces\.jsonl: det_score"):
            import_gallery(copy, path)
        assert copy.collections() == [] and copy.model_id is None  # five faces rolled back


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip file at all", "not a readable ZIP file"),
        (None, r"no manifest\.json"),
        (b'{"format": "something-else"}', "lacks the marker"),
        (b"[1, 2", r"manifest\.json: not JSON"),
    ],
)
def test_files_that_are_not_archives_are_refused(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.zip"
    if content is None or content.startswith(b"{") or content.startswith(b"["):
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("readme.txt", "hello")
            if content is not None:
                z.writestr("manifest.json", content)
    else:
        path.write_bytes(content)
    with Gallery.open(":memory:") as g, pytest.raises(GalleryCorruptError, match=message):
        import_gallery(g, path)


def test_a_missing_archive_is_not_found(tmp_path: Path) -> None:
    with Gallery.open(":memory:") as g, pytest.raises(NotFoundError, match="no archive at"):
        import_gallery(g, tmp_path / "missing.zip")
