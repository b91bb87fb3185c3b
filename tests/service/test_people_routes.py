"""The ``/v1/people`` routes on a real clustering folder of the sample photos.

The folder is clustered once per module (real models) and copied for every test, so
each test reviews its own copy.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from tests.service.conftest import image
from tests.service.test_routes import ok, problem
from tests.shared_paths import SAMPLES

pytestmark = pytest.mark.integration

OBAMA = ("known/barack_obama/obama.jpg", "known/barack_obama/obama2.jpg", "probes/obama1.jpg")
BIDEN = ("known/joe_biden/biden.jpg",)
KIT = ("known/kit_harington/john1.jpeg", "known/kit_harington/john2.jpeg")
ROSE = ("known/rose_leslie/img1.jpg", "known/rose_leslie/img2.jpg")


@pytest.fixture(scope="module")
def clustered(tmp_path_factory: pytest.TempPathFactory, pipeline) -> Path:
    """The sample photos clustered into a folder (never edited: tests copy it)."""
    from faceprint.people import cluster_photos

    if not SAMPLES.is_dir():
        pytest.skip(f"sample photos not found under {SAMPLES}")
    folder = tmp_path_factory.mktemp("people-master") / "people"
    run = cluster_photos(pipeline, [SAMPLES], folder, sheets=False)
    assert run.outputs.counts["images"] == 21 and run.outputs.counts["faces"] == 36
    return folder


@pytest.fixture()
def folder(clustered: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "people"
    shutil.copytree(clustered, copy)
    return copy


@pytest.fixture()
def people(make_service, folder: Path):
    return make_service(people=folder)


@pytest.fixture()
def admin(people) -> dict[str, str]:
    return people.key("*:write")


def clusters(service, headers, **params) -> dict:
    return ok(service.client.get("/v1/people/clusters", headers=headers, params=params))


def holding(body: dict, photo: str) -> dict:
    """The cluster of ``body`` with a face of ``photo``."""
    found = [c for c in body["clusters"] if any(m["photo"] == photo for m in c["members"])]
    assert len(found) == 1, (photo, [c["id"] for c in found])
    return found[0]


def photos(cluster: dict) -> set[str]:
    return {m["photo"] for m in cluster["members"]}


def face_of(cluster: dict, photo: str) -> int:
    (face,) = [m["face_id"] for m in cluster["members"] if m["photo"] == photo]
    return int(face)


# --- reading ------------------------------------------------------------------------------


def test_lists_the_clusters_of_the_sample_photos(people, folder: Path) -> None:
    body = clusters(people, people.key("*:read"))
    assert (body["model_id"], body["images"], body["faces"]) == ("sface", 21, 36)
    assert body["named"] == 0 and body["total"] == len(body["clusters"]) + body["singletons"]
    assert body["singletons"] >= 1  # Lin-Manuel Miranda has one photo

    obama = holding(body, OBAMA[0])
    assert set(OBAMA) <= photos(obama)
    assert "groups/two_people.jpg" in photos(obama)
    assert obama["name"] is None and not obama["reviewed"]
    assert obama["size"] == len(obama["members"]) >= 6
    rep = [m for m in obama["members"] if m["face_id"] == obama["representative"]]
    assert rep and rep[0]["similarity"] == pytest.approx(1.0)
    sims = [m["similarity"] for m in obama["members"]]
    assert sims == sorted(sims, reverse=True)
    assert all(m["similarity"] > 0.6 for m in obama["members"])

    biden = holding(body, BIDEN[0])
    assert biden["id"] != obama["id"] and "groups/two_people.jpg" in photos(biden)
    assert not (photos(biden) & set(OBAMA))
    kit = holding(body, KIT[0])
    assert set(KIT) <= photos(kit) and "probes/johnsnow_test1.jpg" in photos(kit)

    member = obama["members"][0]
    assert set(member) == {
        "face_id", "photo", "sha256", "box", "quality", "reasons", "how", "similarity"
    }  # fmt: skip
    assert len(member["sha256"]) == 64 and member["box"]["x2"] > member["box"]["x1"]
    # photos are named relative to the clustered folder, never by a server path
    assert str(SAMPLES) not in json.dumps(body) and str(folder) not in json.dumps(body)
    assert not any(m["photo"].startswith("/") for c in body["clusters"] for m in c["members"])

    everything = clusters(people, people.key("*:read"), singletons="true")
    assert len(everything["clusters"]) == everything["total"]
    lin = holding(everything, "known/lin_manuel_miranda/lin-manuel-miranda.png")
    assert lin["size"] == 1
    assert not any(c["id"] == lin["id"] for c in body["clusters"])


def test_thumbnail_is_a_112px_jpeg(people, admin) -> None:
    obama = holding(clusters(people, admin), OBAMA[0])
    res = people.client.get(f"/v1/people/faces/{obama['representative']}/thumbnail", headers=admin)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "image/jpeg"
    assert "no-store" in res.headers["cache-control"]
    assert res.content[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(res.content)) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (112, 112)
    problem(people.client.get("/v1/people/faces/999999/thumbnail", headers=admin), 404, "not_found")
    problem(
        people.client.get("/v1/people/faces/abc/thumbnail", headers=admin), 422, "invalid_request"
    )


# --- reviews ------------------------------------------------------------------------------


def test_name_then_unname(people, admin, folder: Path) -> None:
    obama = holding(clusters(people, admin), OBAMA[0])
    done = ok(
        people.client.post(
            f"/v1/people/clusters/{obama['id']}/name",
            headers=admin,
            json={"person": "Barack Obama"},
        )
    )
    assert done["cluster"]["id"] == obama["id"] and done["merged"] == []
    assert done["cluster"]["name"] == "Barack Obama" and done["cluster"]["reviewed"]
    assert photos(done["cluster"]) == photos(obama)
    assert {m["how"] for m in done["cluster"]["members"]} == {"pinned"}

    body = clusters(people, admin)
    assert body["named"] == 1 and body["clusters"][0]["name"] == "Barack Obama"  # named first
    written = json.loads((folder / "clusters.json").read_text())  # the outputs follow the edit
    assert [c["name"] for c in written["clusters"] if c["id"] == obama["id"]] == ["Barack Obama"]

    # Naming a second cluster with the same name merges it into the first.
    biden = holding(body, BIDEN[0])
    same = ok(
        people.client.post(
            f"/v1/people/clusters/{biden['id']}/name",
            headers=admin,
            json={"person": "Barack Obama"},
        )
    )
    assert same["cluster"]["id"] == obama["id"] and same["merged"] == [biden["id"]]
    assert same["cluster"]["size"] == obama["size"] + biden["size"]

    undone = ok(people.client.post(f"/v1/people/clusters/{obama['id']}/unname", headers=admin))
    assert undone["cluster"]["name"] is None and not undone["cluster"]["reviewed"]
    assert clusters(people, admin)["named"] == 0


def test_merge_two_clusters(people, admin) -> None:
    body = clusters(people, admin)
    kit, rose = holding(body, KIT[0]), holding(body, ROSE[0])
    done = ok(
        people.client.post(
            "/v1/people/clusters/merge", headers=admin, json={"clusters": [kit["id"], rose["id"]]}
        )
    )
    assert done["cluster"]["id"] == kit["id"] and done["merged"] == [rose["id"]]
    assert done["cluster"]["size"] == kit["size"] + rose["size"]
    assert photos(done["cluster"]) == photos(kit) | photos(rose)
    after = clusters(people, admin)
    assert not any(c["id"] == rose["id"] for c in after["clusters"])
    assert after["total"] == body["total"] - 1

    # the merged-away cluster is gone; one id, or the same one twice, is no merge
    problem(
        people.client.post(
            f"/v1/people/clusters/{rose['id']}/name", headers=admin, json={"person": "Rose"}
        ),
        404,
        "not_found",
    )
    problem(
        people.client.post("/v1/people/clusters/merge", headers=admin, json={"clusters": [1]}),
        422,
        "invalid_request",
    )
    message = problem(
        people.client.post(
            "/v1/people/clusters/merge", headers=admin, json={"clusters": [kit["id"], kit["id"]]}
        ),
        400,
        "usage_error",
    )
    assert "two or more" in message
    problem(
        people.client.post(
            "/v1/people/clusters/merge", headers=admin, json={"clusters": [kit["id"], 999999]}
        ),
        404,
        "not_found",
    )


def test_split_and_remove_faces(people, admin) -> None:
    obama = holding(clusters(people, admin), OBAMA[0])
    face = face_of(obama, "known/barack_obama/obama2.jpg")
    split = ok(
        people.client.post(
            f"/v1/people/clusters/{obama['id']}/split", headers=admin, json={"faces": [face]}
        )
    )
    new = split["new_cluster"]
    assert new is not None and new["id"] != obama["id"]
    assert [m["face_id"] for m in new["members"]] == [face] and new["reviewed"]
    assert split["cluster"]["size"] == obama["size"] - 1
    assert "known/barack_obama/obama2.jpg" not in photos(split["cluster"])
    listed = clusters(people, admin)
    assert holding(listed, "known/barack_obama/obama2.jpg")["id"] == new["id"]  # reviewed: listed

    probe = face_of(obama, "probes/obama1.jpg")
    removed = ok(
        people.client.post(
            f"/v1/people/clusters/{obama['id']}/remove", headers=admin, json={"faces": [probe]}
        )
    )
    assert removed["removed"] == [probe] and removed["new_cluster"] is None
    assert removed["cluster"]["size"] == obama["size"] - 2
    assert "probes/obama1.jpg" not in photos(removed["cluster"])
    alone = holding(clusters(people, admin, singletons="true"), "probes/obama1.jpg")
    assert alone["size"] == 1 and alone["id"] not in (obama["id"], new["id"])

    # a face of another cluster; every face of the cluster; no faces; an unknown cluster
    biden = holding(listed, BIDEN[0])
    url = f"/v1/people/clusters/{obama['id']}"
    problem(
        people.client.post(
            f"{url}/split", headers=admin, json={"faces": [biden["members"][0]["face_id"]]}
        ),
        404,
        "not_found",
    )
    rest = [m["face_id"] for m in removed["cluster"]["members"]]
    assert "nothing would remain" in problem(
        people.client.post(f"{url}/remove", headers=admin, json={"faces": rest}), 400, "usage_error"
    )
    problem(
        people.client.post(f"{url}/split", headers=admin, json={"faces": []}),
        422,
        "invalid_request",
    )
    problem(
        people.client.post("/v1/people/clusters/999999/split", headers=admin, json={"faces": [1]}),
        404,
        "not_found",
    )


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/people/clusters/999999/name", {"person": "Nobody"}),
        ("/v1/people/clusters/999999/unname", None),
        ("/v1/people/clusters/999999/remove", {"faces": [1]}),
    ],
)
def test_unknown_cluster_is_404(people, admin, path: str, body) -> None:
    message = problem(people.client.post(path, headers=admin, json=body), 404, "not_found")
    assert "999999" in message


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/people/clusters/{id}/name", {"person": ""}),
        ("/v1/people/clusters/{id}/name", {"person": "a/b"}),
        ("/v1/people/clusters/{id}/name", {"person": "x" * 129}),
        ("/v1/people/clusters/{id}/name", {"name": "Barack Obama"}),
        ("/v1/people/clusters/{id}/name", None),
        ("/v1/people/clusters/abc/name", {"person": "Barack Obama"}),
        ("/v1/people/clusters/0/name", {"person": "Barack Obama"}),
        ("/v1/people/clusters/{id}/split", {"faces": ["x"]}),
        ("/v1/people/clusters/merge", {"clusters": "1,2"}),
        ("/v1/people/enroll", {"collection": "a/b"}),
        ("/v1/people/enroll", {"clusters": []}),
    ],
)
def test_bad_input_is_422(people, admin, path: str, body) -> None:
    obama = holding(clusters(people, admin), OBAMA[0])
    url = path.replace("{id}", str(obama["id"]))
    problem(people.client.post(url, headers=admin, json=body), 422, "invalid_request")
    assert clusters(people, admin)["named"] == 0  # nothing was changed


def test_keys_need_a_wildcard_scope(people) -> None:
    problem(people.client.get("/v1/people/clusters"), 401, "unauthorized")
    scoped = people.key("default:write")
    assert "'*:read'" in problem(
        people.client.get("/v1/people/clusters", headers=scoped), 403, "forbidden"
    )
    reader = people.key("*:read")
    obama = holding(clusters(people, reader), OBAMA[0])
    assert "'*:write'" in problem(
        people.client.post(
            f"/v1/people/clusters/{obama['id']}/name", headers=reader, json={"person": "B"}
        ),
        403,
        "forbidden",
    )
    # a reader may not enroll into a collection it cannot write
    problem(people.client.post("/v1/people/enroll", headers=reader, json={}), 403, "forbidden")


def test_unconfigured_and_empty_folders_say_so(make_service, tmp_path: Path) -> None:
    service = make_service()
    headers = service.key("*:write")
    message = problem(service.client.get("/v1/people/clusters", headers=headers), 404, "not_found")
    assert "no clustering folder configured" in message and "--people" in message
    problem(service.client.post("/v1/people/enroll", headers=headers, json={}), 404, "not_found")
    problem(service.client.get("/v1/people/faces/1/thumbnail", headers=headers), 404, "not_found")

    empty = tmp_path / "not-clustered-yet"
    service = make_service(people=empty)
    message = problem(
        service.client.get("/v1/people/clusters", headers=service.key("*:read")), 404, "not_found"
    )
    assert "faceprint cluster" in message and str(empty) not in message
    assert not empty.exists()  # looking never creates the folder


# --- enrollment ---------------------------------------------------------------------------


def test_enroll_named_clusters_then_search_finds_the_person(people, admin) -> None:
    problem(people.client.post("/v1/people/enroll", headers=admin, json={}), 400, "usage_error")

    obama = holding(clusters(people, admin), OBAMA[0])
    probe = face_of(obama, "probes/obama1.jpg")  # keep the probe out of the gallery
    ok(
        people.client.post(
            f"/v1/people/clusters/{obama['id']}/remove", headers=admin, json={"faces": [probe]}
        )
    )
    named = ok(
        people.client.post(
            f"/v1/people/clusters/{obama['id']}/name",
            headers=admin,
            json={"person": "Barack Obama"},
        )
    )["cluster"]
    usable = [m for m in named["members"] if not m["reasons"]]

    biden = holding(clusters(people, admin), BIDEN[0])
    assert "has no name" in problem(
        people.client.post("/v1/people/enroll", headers=admin, json={"clusters": [biden["id"]]}),
        400,
        "usage_error",
    )

    done = ok(people.client.post("/v1/people/enroll", headers=admin))  # no body: every named
    assert done["collection_id"] == "default"
    assert done["clusters"] == [
        {
            "cluster": obama["id"],
            "person": "Barack Obama",
            "added": len(usable),
            "already": 0,
            "low_quality": named["size"] - len(usable),
        }
    ]
    assert done["added"] == len(usable) >= 5

    person = ok(people.client.get("/v1/collections/default/persons/Barack Obama", headers=admin))
    assert person["faces"] == len(usable)
    assert str(SAMPLES) not in json.dumps(person)  # enrolled sources name no server path

    found = ok(
        people.client.post(
            "/v1/collections/default/search",
            headers=admin,
            files={"image": image("probes/obama1.jpg")},
        )
    )
    assert found["gallery_size"] == len(usable)
    (face,) = found["faces"]
    assert face["decision"] == "known" and face["person_id"] == "Barack Obama"
    assert found["threshold"] < face["similarity"] < 0.99  # a photo not in the gallery

    again = ok(
        people.client.post("/v1/people/enroll", headers=admin, json={"collection": "default"})
    )
    assert again["added"] == 0 and again["clusters"][0]["already"] == len(usable)

    other = ok(
        people.client.post(
            "/v1/people/enroll",
            headers=admin,
            json={"clusters": [obama["id"]], "collection": "team"},
        )
    )
    assert other["collection_id"] == "team" and other["added"] == len(usable)
    team = ok(people.client.get("/v1/collections/team", headers=admin))
    assert (team["persons"], team["faces"]) == (1, len(usable))


def test_the_folder_setting_comes_from_the_environment(tmp_path: Path) -> None:
    from faceprint.environment import Environment
    from faceprint.service import ServiceSettings

    env = Environment.read({"FACEPRINT_HOME": str(tmp_path), "FACEPRINT_PEOPLE": "~/people"})
    assert ServiceSettings.from_env(env).people == Path("~/people").expanduser()
    assert (
        ServiceSettings.from_env(Environment.read({"FACEPRINT_HOME": str(tmp_path)})).people is None
    )
    given = ServiceSettings.from_env(env, people=tmp_path / "other")  # `serve --people` wins
    assert given.people == tmp_path / "other"
