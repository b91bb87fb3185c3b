"""Vector indexes: exact and HNSW search checked against brute force, in-place updates,
saved indexes, the change log, crash recovery (``kill -9``) and log pruning.

No weights: embeddings are seeded random unit vectors.
"""

from __future__ import annotations

import json
import logging
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

from faceprint.gallery import FaceRecord, Gallery, engines, live, pq
from faceprint.gallery.pq import PqIndex
from faceprint.gallery.vectors import ExactIndex, PersonHit, best_per_person, top_rows
from faceprint.types import Embedding

MODEL = "fake-a"


def unit_rows(rng: np.random.Generator, n: int, d: int) -> NDArray[np.float32]:
    m = rng.standard_normal((n, d))
    rows: NDArray[np.float32] = (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
    return rows


def brute_force(
    matrix: NDArray[np.float32], persons: NDArray[np.int64], probe: NDArray[np.float32], k: int
) -> list[tuple[int, int, float]]:
    """Reference: float64 loops; a person's score is their best row, ties to the lower row."""
    best: dict[int, tuple[float, int]] = {}
    for row in range(len(matrix)):
        sim = float(np.dot(matrix[row].astype(np.float64), probe.astype(np.float64)))
        person = int(persons[row])
        if person not in best or sim > best[person][0]:
            best[person] = (sim, row)
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[1][1]))
    return [(p, row, sim) for p, (sim, row) in ranked[:k]]


def assert_same(hits: list[PersonHit], expected: list[tuple[int, int, float]]) -> None:
    # face ids are row + 1 in these tests
    assert [(h.person_id, h.face_id - 1) for h in hits] == [(p, r) for p, r, _ in expected]
    for hit, (_, _, sim) in zip(hits, expected, strict=True):
        assert hit.similarity == pytest.approx(sim, abs=1e-5)


def filled(index: ExactIndex | PqIndex, matrix: NDArray[np.float32], persons: NDArray[np.int64]):
    index.add(np.arange(1, len(matrix) + 1, dtype=np.int64), persons, matrix)
    return index


# --- pure search ---------------------------------------------------------------------


def test_top_rows_breaks_ties_by_the_lower_index() -> None:
    sims = np.array([0.5, 0.9, 0.5, 0.9, 0.1, 0.5], dtype=np.float32)
    assert top_rows(sims, 3).tolist() == [1, 3, 0]
    assert top_rows(sims, 4).tolist() == [1, 3, 0, 2]
    assert top_rows(sims, 10).tolist() == [1, 3, 0, 2, 5, 4]
    assert top_rows(sims, 0).tolist() == []


@pytest.mark.parametrize(
    ("seed", "n", "n_persons", "d", "k"),
    [
        (0, 1, 1, 8, 1),
        (1, 10, 3, 8, 2),
        (2, 50, 20, 16, 5),
        (3, 50, 20, 16, 20),
        (4, 50, 20, 16, 100),  # k larger than the number of persons
        (5, 200, 200, 32, 7),  # one face per person
        (6, 300, 4, 32, 3),  # many faces per person: the shortlist must widen
        (7, 2000, 10, 8, 10),  # 200 faces per person, low dimension
    ],
)
def test_exact_index_matches_brute_force(seed: int, n: int, n_persons: int, d: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = unit_rows(rng, n, d)
    persons = rng.integers(0, n_persons, size=n).astype(np.int64)
    index = filled(ExactIndex(d), matrix, persons)
    for probe in unit_rows(rng, 5, d):
        assert_same(best_per_person(index, probe, k), brute_force(matrix, persons, probe, k))


def test_exact_ties_go_to_the_face_enrolled_first() -> None:
    matrix = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    persons = np.array([7, 3, 5, 3], dtype=np.int64)
    hits = best_per_person(
        filled(ExactIndex(2), matrix, persons), np.array([1.0, 0.0], np.float32), 3
    )
    assert [(h.person_id, h.face_id) for h in hits] == [(7, 1), (3, 2), (5, 3)]


def test_exact_index_removes_compacts_and_skips_known_ids() -> None:
    rng = np.random.default_rng(3)
    matrix = unit_rows(rng, 3000, 16)
    persons = np.arange(3000, dtype=np.int64)
    index = filled(ExactIndex(16), matrix, persons)
    index.add(np.array([5], dtype=np.int64), np.array([99], dtype=np.int64), matrix[:1])  # known
    assert len(index) == 3000
    gone = np.arange(1, 2001, dtype=np.int64)  # more than half: compacts
    index.remove(gone)
    index.remove(np.array([10**9], dtype=np.int64))  # unknown: ignored
    assert len(index) == 1000
    kept_ids, kept_persons, kept_vectors = index.vectors()
    assert kept_ids.tolist() == list(range(2001, 3001))
    np.testing.assert_array_equal(kept_vectors, matrix[2000:])
    probe = matrix[10]  # a removed face's own vector
    hits = best_per_person(index, probe, 5)
    assert all(h.face_id > 2000 for h in hits)
    assert_same(
        hits,
        [
            (p + 2000, r + 2000, s)
            for p, r, s in brute_force(matrix[2000:], kept_persons - 2000, probe, 5)
        ],
    )


def test_exact_index_accepts_ids_out_of_order() -> None:
    rng = np.random.default_rng(4)
    matrix = unit_rows(rng, 6, 8)
    index = ExactIndex(8)
    index.add(np.array([10, 11, 12]), np.array([1, 1, 2]), matrix[:3])
    index.add(np.array([4, 5, 6]), np.array([3, 3, 4]), matrix[3:])
    assert index.vectors()[0].tolist() == [4, 5, 6, 10, 11, 12]
    index.remove(np.array([5, 11]))
    assert index.vectors()[0].tolist() == [4, 6, 10, 12]


def test_pq_finds_what_exact_search_finds() -> None:
    rng = np.random.default_rng(5)
    matrix = unit_rows(rng, 4000, 32)
    persons = (np.arange(4000) // 2).astype(np.int64)  # two faces per person
    exact = filled(ExactIndex(32), matrix, persons)
    codes = filled(PqIndex(32), matrix, persons)
    assert codes.trained
    probes = matrix[rng.choice(4000, 100, replace=False)] + 0.2 * unit_rows(rng, 100, 32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    found = total = 0
    for probe in probes:
        want = best_per_person(exact, probe, 10)
        got = best_per_person(codes, probe, 10)
        found += len({h.person_id for h in want} & {h.person_id for h in got})
        total += len(want)
        assert got[0].person_id == want[0].person_id  # the planted neighbour
        sims = [h.similarity for h in got]
        assert sims == sorted(sims, reverse=True)
        assert got[0].similarity == pytest.approx(want[0].similarity, abs=1e-4)  # int16 rows
    assert found / total >= 0.9  # the random tail of the top 10; the mate is always found


def test_pq_below_its_training_size_scans_exactly() -> None:
    rng = np.random.default_rng(16)
    matrix = unit_rows(rng, pq.TRAIN_FROM - 1, 16)
    persons = np.arange(len(matrix), dtype=np.int64)
    codes = filled(PqIndex(16), matrix, persons)
    assert not codes.trained
    exact = filled(ExactIndex(16), matrix, persons)
    for probe in unit_rows(rng, 5, 16):
        got, want = best_per_person(codes, probe, 5), best_per_person(exact, probe, 5)
        assert [h.face_id for h in got] == [h.face_id for h in want]
    codes.add(np.array([10**6], dtype=np.int64), np.array([7], dtype=np.int64), matrix[:1])
    assert codes.trained  # the thousandth face trains the codebooks


def test_pq_removes_compacts_saves_and_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    matrix = unit_rows(rng, 3000, 16)
    persons = np.arange(3000, dtype=np.int64)
    codes = filled(PqIndex(16), matrix, persons)
    codes.add(np.array([1], dtype=np.int64), np.array([0], dtype=np.int64), matrix[:1])  # known
    assert len(codes) == 3000
    codes.remove(np.arange(1, 201, dtype=np.int64))  # 6.7 %: tombstones
    assert (len(codes), codes.removed) == (2800, 200)
    assert all(h.face_id > 200 for h in best_per_person(codes, matrix[50], 3))
    files = codes.save(tmp_path / "c")
    assert [f.suffix for f in files] == [".npz", ".codes"]
    loaded = PqIndex.load(tmp_path / "c", 16)
    assert best_per_person(loaded, matrix[300], 3) == best_per_person(codes, matrix[300], 3)
    assert best_per_person(loaded, matrix[300], 1)[0].face_id == 301
    codes.remove(np.arange(201, 501, dtype=np.int64))  # past 10 %: compacted
    assert (len(codes), codes.removed) == (2500, 0)
    assert best_per_person(codes, matrix[600], 1)[0].face_id == 601
    with pytest.raises(ValueError, match="32-d"):
        PqIndex.load(tmp_path / "c", 32)
    (tmp_path / "c.codes").unlink()
    with pytest.raises(ValueError, match="missing"):
        PqIndex.load(tmp_path / "c", 16)


# --- through the gallery -------------------------------------------------------------


def records(rng: np.random.Generator, n: int, d: int = 16) -> list[FaceRecord]:
    return [FaceRecord(embedding=Embedding(vector=v, model_id=MODEL)) for v in unit_rows(rng, n, d)]


def fill(g: Gallery, rng: np.random.Generator, persons: int, faces: int = 2) -> None:
    for p in range(persons):
        g.add_faces(f"p{p:04d}", records(rng, faces))


def stored(g: Gallery) -> dict[int, NDArray[np.float32]]:
    """Every face's stored vector, read straight from SQLite."""
    rows = g._store._db.execute("SELECT id, embedding FROM faces").fetchall()
    return {int(i): np.frombuffer(b, dtype="<f4").astype(np.float32) for i, b in rows}


def assert_every_face_is_found(g: Gallery) -> None:
    faces = stored(g)
    for face_id, vector in faces.items():
        top = g.search(Embedding(vector=vector, model_id=MODEL), k=1)[0]
        assert top.face_id == face_id
        assert top.similarity == pytest.approx(1.0, abs=1e-5)


def test_saved_indexes_are_reused_on_reopen(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pq, "TRAIN_FROM", 650)
    rng = np.random.default_rng(7)
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.set_index("pq")
        fill(g, rng, 350)
        probe = Embedding(vector=unit_rows(rng, 1, 16)[0], model_id=MODEL)
        before = g.search(probe, k=5)
    state = json.loads((tmp_path / "g.db.index" / "state.json").read_text())
    assert state["seq"] == 700
    (stem,) = state["indexes"].values()
    assert (tmp_path / "g.db.index" / f"{stem}.codes").is_file()  # trained codes saved
    caplog.set_level(logging.INFO, logger="faceprint.gallery")
    caplog.clear()  # only what the reopened gallery logs
    with Gallery.open(path) as g:
        assert g.search(probe, k=5) == before
        assert not [r for r in caplog.records if "indexed" in r.getMessage()]  # no rebuild
        info = g.index_info()
        assert info["index"] == "pq" and info["collections"]["default"]["kind"] == "pq"
        g.add_faces("late", records(rng, 1))  # replayed, not rebuilt
        assert_every_face_is_found(g)
    with Gallery.open(path) as g:  # another index setting never loads the saved codes
        g.set_index("exact")
        assert g.index_info()["collections"]["default"]["kind"] == "exact"
        assert g.search(probe, k=5)[0].face_id == before[0].face_id


def test_a_damaged_or_foreign_saved_state_is_rebuilt(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        g.set_index("pq")
        fill(g, rng, 20)
        g.search(Embedding(vector=unit_rows(rng, 1, 16)[0], model_id=MODEL))
    folder = tmp_path / "g.db.index"
    (folder / "c99-g7.npz").write_bytes(b"half-written")  # a crash mid-save
    for saved in folder.glob("c*-g*.npz"):
        if saved.name != "c99-g7.npz":
            saved.write_bytes(b"not an index")
    with Gallery.open(path) as g:
        assert_every_face_is_found(g)
    # a backup of the file restored under a newer index: the index claims changes the
    # file does not have, so it is not trusted
    state_file = folder / "state.json"
    state = json.loads(state_file.read_text())
    state["seq"] = 10**6
    state_file.write_text(json.dumps(state))
    with Gallery.open(path) as g:
        assert_every_face_is_found(g)
        assert json.loads(state_file.read_text())["seq"] == 40


def test_writes_from_another_connection_are_replayed(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    path = tmp_path / "g.db"
    with Gallery.open(path) as reader, Gallery.open(path) as writer:
        reader.set_index("pq")
        fill(writer, rng, 30)
        assert_every_face_is_found(reader)
        writer.remove_person("p0003")
        ids = writer.add_faces("p9999", records(rng, 3))
        names = {m.person for m in reader.search(writer_face(writer, ids[0]), k=50)}
        assert "p0003" not in names and "p9999" in names
        writer.remove_collection("default")
        assert reader.search(probe_of(rng), k=5) == []


def writer_face(g: Gallery, face_id: int) -> Embedding:
    return Embedding(vector=stored(g)[face_id], model_id=MODEL)


def probe_of(rng: np.random.Generator) -> Embedding:
    return Embedding(vector=unit_rows(rng, 1, 16)[0], model_id=MODEL)


def test_auto_switches_to_pq_past_its_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "AUTO_PQ_FROM", 50)
    rng = np.random.default_rng(10)
    with Gallery.open(":memory:") as g:
        fill(g, rng, 10)
        g.search(probe_of(rng))
        assert g.index_info()["collections"]["default"]["kind"] == "exact"
        fill(g, rng, 30)
        assert_every_face_is_found(g)
        assert g.index_info()["collections"]["default"]["kind"] == "pq"


def test_the_log_is_pruned_once_a_saved_index_covers_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "PRUNE_FROM", 10)
    rng = np.random.default_rng(11)
    path = tmp_path / "g.db"
    with Gallery.open(path) as early, Gallery.open(path) as g:
        g.set_index("pq")
        fill(early, rng, 5)
        early.search(probe_of(rng))  # early's index reflects change 10
        fill(g, rng, 20)
        g.search(probe_of(rng))
        g._live.flush()  # type: ignore[union-attr]
        assert g._store.count_changes() == 0 and g._store.log_floor() == 50
        g.remove_person("p0001")
        # early's changes 11..50 are gone from the log: it reloads the saved index
        assert_every_face_is_found(early)
        assert len(stored(early)) == 46  # p0001 had 2 faces from each writer


_ENROLLER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from faceprint.gallery import FaceRecord, Gallery
    from faceprint.types import Embedding

    rng = np.random.default_rng(int(sys.argv[2]))
    g = Gallery.open(sys.argv[1])
    g.set_index("pq")
    i = 0
    while True:
        v = rng.standard_normal(16)
        g.add_faces(f"k{i:05d}", [FaceRecord(embedding=Embedding(vector=(v / np.linalg.norm(v)).astype(np.float32), model_id="fake-a"))])
        if i % 7 == 0:
            g.search(Embedding(vector=(v / np.linalg.norm(v)).astype(np.float32), model_id="fake-a"))
        if i % 50 == 0:
            g._live.flush()
        if i == 60:
            print("ready", flush=True)
        i += 1
    """
)


def test_kill_9_mid_enrollment_leaves_a_consistent_index(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    path = tmp_path / "g.db"
    with Gallery.open(path) as g:
        fill(g, rng, 10)
    proc = subprocess.Popen(
        [sys.executable, "-c", _ENROLLER, str(path), "13"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Gallery.open(path) as g:
        assert g.index_spec == "pq"
        faces = stored(g)
        assert len(faces) > 80
        assert_every_face_is_found(g)
        assert g.index_info()["change"] == g._store.last_change()


def test_torch_index_matches_the_exact_index() -> None:
    pytest.importorskip("torch")
    from faceprint.gallery.engines import DeviceIndex

    rng = np.random.default_rng(14)
    matrix = unit_rows(rng, 3000, 32)
    persons = rng.integers(0, 700, size=3000).astype(np.int64)
    exact = filled(ExactIndex(32), matrix, persons)
    device = filled(DeviceIndex(32, "cpu"), matrix, persons)  # float32 on the CPU: exact
    assert device.exact and len(device) == 3000
    device.remove(np.arange(1, 1001, dtype=np.int64))
    exact.remove(np.arange(1, 1001, dtype=np.int64))
    device.add(np.array([5000]), np.array([9999]), matrix[:1])
    exact.add(np.array([5000]), np.array([9999]), matrix[:1])
    for probe in unit_rows(rng, 10, 32):
        got, want = best_per_person(device, probe, 10), best_per_person(exact, probe, 10)
        assert [(h.person_id, h.face_id) for h in got] == [(h.person_id, h.face_id) for h in want]
        np.testing.assert_allclose(
            [h.similarity for h in got], [h.similarity for h in want], atol=1e-5
        )
    assert best_per_person(device, matrix[0], 1)[0].face_id == 5000  # removed 1, added 5000


def test_a_gallery_searches_on_a_torch_device() -> None:
    pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    with Gallery.open(":memory:", device="cpu") as g:
        fill(g, rng, 50)
        assert_every_face_is_found(g)
        assert g.index_info()["collections"]["default"]["kind"] == "torch"
