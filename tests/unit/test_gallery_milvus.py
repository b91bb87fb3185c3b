"""The Milvus index engine against milvus-lite: specs, reopening, sharing, crashes.

No server and no weights: milvus-lite runs in the test process (or in a child killed
with SIGKILL), embeddings are seeded random unit vectors. The whole Gallery suite also
runs against milvus-lite (``tests/unit/test_gallery.py``'s ``INDEXES``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from faceprint.errors import ConfigError, GalleryError
from faceprint.gallery import FaceRecord, Gallery
from faceprint.gallery.milvus import MilvusEngine, parse_spec, redact
from faceprint.gallery.milvus_index import MAX_TOPK
from faceprint.types import Embedding

pytest.importorskip("pymilvus", reason="the [milvus] extra is not installed")
pytest.importorskip("milvus_lite", reason="the [milvus] extra is not installed")

MODEL = "fake-a"
DIM = 32


def unit(rng: np.random.Generator, dim: int = DIM) -> NDArray[np.float32]:
    v = rng.standard_normal(dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def emb(vector: NDArray[np.float32]) -> Embedding:
    return Embedding(vector=vector, model_id=MODEL)


def fill(
    g: Gallery, rng: np.random.Generator, persons: int, faces: int = 2, start: int = 0
) -> None:
    for p in range(start, start + persons):
        g.add_faces(f"p{p:04d}", [FaceRecord(embedding=emb(unit(rng))) for _ in range(faces)])


def stored(g: Gallery) -> dict[int, NDArray[np.float32]]:
    """Every face's stored vector, read straight from SQLite."""
    rows = g._store._db.execute("SELECT id, embedding FROM faces").fetchall()
    return {int(i): np.frombuffer(b, dtype="<f4").astype(np.float32) for i, b in rows}


def milvus_face_ids(g: Gallery) -> set[int]:
    """Every face id the gallery's Milvus collections hold (queried, not searched)."""
    live = g._live
    assert live is not None
    assert isinstance(live.engine, MilvusEngine)
    return held_ids(live.engine)


def held_ids(engine: MilvusEngine) -> set[int]:
    ids: set[int] = set()
    for cid in engine.collection_ids():
        index = engine.index(cid)
        assert index is not None
        rows = engine.call(
            "listing", "query", index.name, filter="face_id >= 0", output_fields=["face_id"],
            limit=MAX_TOPK, consistency_level="Strong",
        )  # fmt: skip
        ids |= {int(r["face_id"]) for r in rows}
    return ids


def assert_consistent_with_sqlite(g: Gallery) -> None:
    """Milvus holds exactly SQLite's faces, and a search finds each by its own vector."""
    faces = stored(g)
    for face_id, vector in faces.items():
        top = g.search(emb(vector), k=1)[0]
        assert top.face_id == face_id
        assert top.similarity == pytest.approx(1.0, abs=1e-5)
    assert milvus_face_ids(g) == set(faces)
    assert g.index_info()["change"] == g._store.last_change()


class Spy:
    """Records what MilvusEngine.restore returned and how often reset ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.restored: list[int | None] = []
        self.held: list[set[int]] = []  # face ids in Milvus right after each restore
        self.resets = 0
        restore, reset = MilvusEngine.restore, MilvusEngine.reset

        def spy_restore(engine: MilvusEngine, dim: int) -> int | None:
            seq = restore(engine, dim)
            self.restored.append(seq)
            self.held.append(held_ids(engine))
            return seq

        def spy_reset(engine: MilvusEngine) -> None:
            self.resets += 1
            reset(engine)

        monkeypatch.setattr(MilvusEngine, "restore", spy_restore)
        monkeypatch.setattr(MilvusEngine, "reset", spy_reset)


# --- specs ---------------------------------------------------------------------------


def test_lite_spec_defaults_to_an_exact_flat_index_beside_the_gallery(tmp_path: Path) -> None:
    spec = parse_spec("milvus-lite:vectors/v.db", base_dir=tmp_path)
    assert spec.lite and spec.uri == str(tmp_path / "vectors" / "v.db")
    assert spec.index_type == "FLAT" and spec.kind == "milvus-lite:FLAT"
    absolute = parse_spec(f"milvus-lite:{tmp_path}/w.db?index=hnsw&ef=200", base_dir=Path("/x"))
    assert absolute.uri == str(tmp_path / "w.db")
    assert absolute.index_type == "HNSW" and absolute.search_params_for(500) == {"ef": 500}
    assert absolute.search_params_for(10) == {"ef": 200}


def test_server_spec_parses_credentials_database_and_index_options() -> None:
    spec = parse_spec("milvus://ann:s3cret@milvus.local/faces?index=HNSW&M=32&timeout=3")
    assert not spec.lite
    assert spec.uri == "http://milvus.local:19530" and spec.db_name == "faces"
    assert spec.token == "ann:s3cret" and spec.timeout == 3.0
    assert spec.build_params == {"M": 32, "efConstruction": 128}
    assert spec.display == "milvus://milvus.local:19530/faces"
    default = parse_spec("milvus://10.0.0.5:19531?token=abc&secure=true")
    assert default.uri == "https://10.0.0.5:19531" and default.token == "abc"
    assert default.index_type == "HNSW" and default.search_params_for(5) == {"ef": 96}
    assert parse_spec("milvus://h/db?index=DISKANN").search_params_for(300) == {"search_list": 300}


def test_redact_hides_passwords_and_tokens() -> None:
    assert redact("milvus://ann:s3cret@h:1/db?index=FLAT&token=t0k") == (
        "milvus://***@h:1/db?index=FLAT&token=***"
    )
    assert redact("milvus-lite:/a/b.db") == "milvus-lite:/a/b.db"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("milvus-lite:", "needs a file"),
        ("milvus-lite:vectors.sqlite", "must end in .db"),
        ("milvus-lite:v.db?index=DISKANN", "milvus-lite index must be one of"),
        ("milvus-lite:v.db?ef=10", "unknown option"),
        ("milvus://h/db?index=BOGUS", "Milvus index must be one of"),
        ("milvus://h/db?M=many", "must be numbers"),
        ("milvus://h/db?prefix=9x", "must start with a letter"),
        ("milvus:///db", "no host"),
        ("milvus://h:99999/db", "bad port"),
        ("milvus://h/a/b", "one database"),
    ],
)
def test_bad_specs_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(spec)


def test_an_unreachable_server_is_a_gallery_error_naming_it() -> None:
    with pytest.raises(GalleryError, match=r"cannot reach Milvus at milvus://127\.0\.0\.1:1/"):
        MilvusEngine("milvus://u:pw@127.0.0.1:1/db?timeout=2", identity="x")


def test_missing_pymilvus_says_which_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pymilvus", None)
    with pytest.raises(GalleryError, match=r"pip install 'faceprint\[milvus\]'"):
        MilvusEngine(f"milvus-lite:{tmp_path}/v.db", identity="x")


def test_prefix_is_stable_per_file_and_differs_between_files(tmp_path: Path) -> None:
    lite = f"milvus-lite:{tmp_path}/v.db"
    engines = [
        MilvusEngine(lite, identity="t|m", gallery_path=str(tmp_path / "a.db")),
        MilvusEngine(lite, identity="t|m", gallery_path=str(tmp_path / "a.db")),
        MilvusEngine(lite, identity="t|m", gallery_path=str(tmp_path / "copy.db")),
        MilvusEngine(lite, identity="t|m", gallery_path=":memory:"),
        MilvusEngine(lite, identity="t|m", gallery_path=":memory:"),
        MilvusEngine(f"{lite}?prefix=mine", identity="t|m", gallery_path=str(tmp_path / "a.db")),
    ]
    try:
        prefixes = [e.prefix for e in engines]
        assert prefixes[0] == prefixes[1]
        assert len(set(prefixes[1:])) == 5
        assert prefixes[5] == "mine"
    finally:
        for e in engines:
            e.close()


# --- one process ---------------------------------------------------------------------


def test_reopen_finds_the_same_results_without_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    path = tmp_path / "g.db"
    probes = [emb(unit(rng)) for _ in range(5)]
    with Gallery.open(path) as g:
        g.set_index("milvus-lite:vectors.db")
        fill(g, rng, 40)
        before = [g.search(p, k=5) for p in probes]
        seq = g.index_info()["change"]
    assert (tmp_path / "vectors.db").is_dir()  # relative to the gallery's folder
    spy = Spy(monkeypatch)
    with Gallery.open(path) as g:
        assert [g.search(p, k=5) for p in probes] == before
        assert spy.restored == [seq] and spy.resets == 0
        info = g.index_info()["collections"]["default"]
        assert info["kind"] == "milvus-lite:FLAT" and info["faces"] == 80
        g.remove_person("p0003")
        fill(g, rng, 1, start=99)
        assert_consistent_with_sqlite(g)
    with Gallery.open(path) as g:  # the replayed changes were saved on close
        assert_consistent_with_sqlite(g)
        assert spy.restored[-1] == g._store.last_change() and spy.resets == 0


def test_a_write_through_a_second_gallery_object_is_seen_by_the_next_search(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "g.db"
    with Gallery.open(path) as first:
        first.set_index("milvus-lite:v.db")
        fill(first, rng, 10)
        first.search(emb(unit(rng)))
        with Gallery.open(path) as second:
            new = unit(rng)
            (face_id,) = second.add_faces("newcomer", [FaceRecord(embedding=emb(new))])
            top = first.search(emb(new), k=1)[0]
            assert (top.person, top.face_id) == ("newcomer", face_id)
            second.remove_person("p0002")
            second.search(emb(new))  # the second object applies the removal too
            assert "p0002" not in {m.person for m in first.search(emb(new), k=20)}
            assert_consistent_with_sqlite(first)
            assert_consistent_with_sqlite(second)


def test_galleries_sharing_a_milvus_file_keep_apart(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    spec = f"milvus-lite:{tmp_path}/shared.db"
    with Gallery.open(tmp_path / "a.db") as a, Gallery.open(tmp_path / "b.db") as b:
        a.set_index(spec)
        b.set_index(spec)
        fill(a, rng, 5)
        fill(b, rng, 7)
        assert_consistent_with_sqlite(a)
        assert_consistent_with_sqlite(b)
        a._live.engine.reset()  # type: ignore[union-attr]  # drops a's collections only
        assert_consistent_with_sqlite(b)


def test_changing_the_index_type_rebuilds_and_rescoring_keeps_results_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    path = tmp_path / "g.db"
    probe = emb(unit(rng))
    with Gallery.open(path) as g:
        g.set_index("milvus-lite:v.db")
        fill(g, rng, 30)
        exact = g.search(probe, k=5)
    spy = Spy(monkeypatch)
    with Gallery.open(path) as g:
        g.set_index("milvus-lite:v.db?index=HNSW")
        hnsw = g.search(probe, k=5)  # a tiny graph: full recall; scores recomputed
        assert [(m.person, m.face_id) for m in hnsw] == [(m.person, m.face_id) for m in exact]
        assert [m.similarity for m in hnsw] == pytest.approx([m.similarity for m in exact])
        assert spy.restored == [None] and spy.resets == 1
        assert g.index_info()["collections"]["default"]["kind"] == "milvus-lite:HNSW"


def test_ties_at_the_cut_go_to_the_lower_face_id(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    same = unit(rng)
    with Gallery.open(tmp_path / "g.db") as g:
        g.set_index("milvus-lite:v.db")
        fill(g, rng, 20)
        ids = [g.add_faces(f"twin{i}", [FaceRecord(embedding=emb(same))])[0] for i in range(6)]
        g.search(emb(same))
        live = g._live
        assert live is not None
        index = live.engine.index(live.engine.collection_ids()[0])
        assert index is not None and index.exact
        hits = index.search(same, 3)
        assert hits.face_ids.tolist() == ids[:3]
        assert [m.face_id for m in g.search(emb(same), k=4)] == ids[:4]


def test_a_second_process_cannot_open_a_lite_file_in_use(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    rng = np.random.default_rng(6)
    with Gallery.open(path) as g:
        g.set_index("milvus-lite:v.db")
        fill(g, rng, 2)
        g.search(emb(unit(rng)))
        code = textwrap.dedent(
            f"""
            from faceprint.errors import GalleryError
            from faceprint.gallery.milvus import MilvusEngine
            try:
                MilvusEngine("milvus-lite:{tmp_path}/v.db", identity="x")
            except GalleryError as exc:
                print(exc)
            """
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        assert "one process at a time" in out.stdout


# --- crashes -------------------------------------------------------------------------

_ENROLLER = textwrap.dedent(
    """
    import os, signal, sys
    import numpy as np
    from faceprint.gallery import FaceRecord, Gallery
    from faceprint.types import Embedding

    path, seed, suicide_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(seed)

    def emb():
        v = rng.standard_normal(32)
        return Embedding(vector=(v / np.linalg.norm(v)).astype(np.float32), model_id="fake-a")

    g = Gallery.open(path)
    i = 0
    while True:
        probe = emb()
        g.add_faces(f"k{i:05d}", [FaceRecord(embedding=probe), FaceRecord(embedding=emb())])
        if i == suicide_at:  # committed to SQLite, not yet written to Milvus
            os.kill(os.getpid(), signal.SIGKILL)
        if i % 3 == 2:
            g.remove_person(f"k{i - 1:05d}")
        g.search(probe)  # replays the log into Milvus
        if i % 10 == 0:
            g._live.flush()  # the watermark moves on
        if i == 20:
            print("ready", flush=True)
        i += 1
    """
)


@pytest.mark.parametrize("when", ["after_commit", "at_random"])
def test_kill_9_mid_enrollment_leaves_a_consistent_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    rng = np.random.default_rng(7)
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.set_index("milvus-lite:v.db")
        fill(g, rng, 10)
        g.search(emb(unit(rng)))  # Milvus filled, watermark saved on close
    suicide_at = 23 if when == "after_commit" else -1
    proc = subprocess.Popen(
        [sys.executable, "-c", _ENROLLER, str(path), "8", str(suicide_at)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        if when == "at_random":
            time.sleep(float(np.random.default_rng().uniform(0.2, 0.6)))
            proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        if proc.returncode is None:  # pragma: no cover - only if the child hung
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    spy = Spy(monkeypatch)
    with Gallery.open(path) as g:
        faces = stored(g)
        assert len(faces) > 40
        assert_consistent_with_sqlite(g)
        assert spy.restored and spy.restored[0] is not None and spy.resets == 0
        if when == "after_commit":  # the last two faces had reached SQLite only
            assert max(faces) not in spy.held[0]
