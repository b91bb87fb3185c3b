"""Every route through the app (TestClient), on real models and real faces."""

from __future__ import annotations

import base64
import threading

import pytest
from tests.bad_images import bad_images, noise_jpeg
from tests.service.conftest import image, person_images

pytestmark = pytest.mark.integration


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def problem(response, status: int, code: str) -> str:
    """Assert a problem-JSON error; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return body["error"]["message"]


def enroll(service, headers, collection: str, *persons: str) -> None:
    ok(
        service.client.post("/v1/collections", headers=headers, json={"collection_id": collection}),
        201,
    )
    for person in persons:
        body = ok(
            service.client.post(
                f"/v1/collections/{collection}/persons/{person}/faces",
                headers=headers,
                files=person_images(person),
            )
        )
        assert body["accepted"] and not body["rejected"], body


# --- service and auth -------------------------------------------------------------------


def test_health_needs_no_key_but_everything_else_does(service) -> None:
    assert ok(service.client.get("/v1/health"))["status"] == "ok"
    message = problem(service.client.get("/v1/models"), 401, "unauthorized")
    assert "faceprint keys create" in message
    bad = {"Authorization": "Bearer fp_000000000000_" + "x" * 43}
    problem(service.client.get("/v1/models", headers=bad), 401, "unauthorized")
    problem(
        service.client.get("/v1/collections", headers={"X-API-Key": "nonsense"}),
        401,
        "unauthorized",
    )


def test_models_names_the_default_permissive_pipeline(service) -> None:
    body = ok(service.client.get("/v1/models", headers=service.key("*:read")))
    assert (body["detector"], body["embedder"], body["model_id"]) == ("yunet", "sface", "sface")
    assert body["embedding_dim"] == 128
    assert body["licences"] == {
        "yunet": "MIT",
        "landmarks-0009": "Apache-2.0",
        "sface": "Apache-2.0",
    }
    assert body["verification_threshold"]["fmr"] == pytest.approx(1e-3)
    assert body["verification_threshold"]["similarity"] == pytest.approx(0.3722, abs=1e-3)


def test_revoked_key_is_refused_on_the_next_request(service) -> None:
    from faceprint.service.keys import KeyStore

    headers = service.key("*:read")
    ok(service.client.get("/v1/collections", headers=headers))
    store = KeyStore.open(service.keys_path)
    key_id = headers["Authorization"].split("_")[1]
    store.revoke(key_id)
    store.close()
    problem(service.client.get("/v1/collections", headers=headers), 401, "unauthorized")


def test_rate_limit_answers_429_with_retry_after(service) -> None:
    headers = service.key("*:read", rate_limit="3/minute")
    for _ in range(3):
        ok(service.client.get("/v1/collections", headers=headers))
    response = service.client.get("/v1/collections", headers=headers)
    problem(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60
    other = service.key("*:read", rate_limit="3/minute")  # limits are per key
    ok(service.client.get("/v1/collections", headers=other))


def test_request_id_is_echoed_or_made(service) -> None:
    response = service.client.get("/v1/health", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    made = service.client.get("/v1/health", headers={"X-Request-ID": "bad id\twith tab"})
    assert len(made.headers["x-request-id"]) == 32


def test_unknown_route_and_method_are_problem_json(service) -> None:
    problem(service.client.get("/v1/nope"), 404, "not_found")
    problem(service.client.put("/v1/health"), 405, "method_not_allowed")


# --- faces ---------------------------------------------------------------------------------


def test_detect_multipart_and_base64_agree(service) -> None:
    headers = service.key("*:read")
    name, data = image("groups/two_people.jpg")
    multipart = ok(
        service.client.post("/v1/detect", headers=headers, files={"image": (name, data)})
    )
    as_json = ok(
        service.client.post(
            "/v1/detect", headers=headers, json={"image": base64.b64encode(data).decode()}
        )
    )
    assert multipart == as_json
    assert (multipart["width"], multipart["height"]) == (1126, 661)
    assert len(multipart["faces"]) == 2
    for face in multipart["faces"]:
        assert face["score"] > 0.9 and len(face["landmarks"]) == 5
        assert face["box"]["x2"] > face["box"]["x1"] and face["box"]["y2"] > face["box"]["y1"]


def test_analyze_flags_a_screen_replay_and_passes_a_live_face(service, shared) -> None:
    headers = service.key("*:read")
    for name, live in (("real_T1.jpg", True), ("spoof_replay_F2.jpg", False)):
        data = (shared / "datasets" / "antispoof" / name).read_bytes()
        body = ok(
            service.client.post("/v1/analyze", headers=headers, files={"image": (name, data)})
        )
        face = body["faces"][0]
        assert face["liveness"]["is_live"] is live, (name, face["liveness"])
        assert face["quality"]["score"] >= 0 and face["attributes"]["gender"] in ("male", "female")
    body = ok(
        service.client.post(
            "/v1/analyze?liveness=false&attributes=false&quality=false",
            headers=headers,
            files={"image": image("groups/two_people.jpg")},
        )
    )
    assert all(f["liveness"] is None and f["attributes"] is None for f in body["faces"])


@pytest.mark.parametrize(
    ("probe", "match", "low", "high"),
    [
        ("probes/obama1.jpg", True, 0.75, 0.90),
        ("probes/obama3.jpg", True, 0.70, 0.88),
        ("known/joe_biden/biden.jpg", False, -0.1, 0.25),
    ],
)
def test_verify_decides_at_the_calibrated_threshold(service, probe, match, low, high) -> None:
    body = ok(
        service.client.post(
            "/v1/verify",
            headers=service.key("*:read"),
            files={"image_a": image("known/barack_obama/obama.jpg"), "image_b": image(probe)},
        )
    )
    assert body["is_match"] is match
    assert low <= body["similarity"] <= high
    assert body["similarity"] == round(body["similarity"], 2)  # score_decimals = 2 by default
    assert body["fmr"] == pytest.approx(1e-3)


def test_verify_full_precision_and_explicit_threshold(make_service) -> None:
    service = make_service(score_decimals=None)
    body = ok(
        service.client.post(
            "/v1/verify?threshold=0.95",
            headers=service.key("*:read"),
            files={
                "image_a": image("known/barack_obama/obama.jpg"),
                "image_b": image("probes/obama1.jpg"),
            },
        )
    )
    assert body["similarity"] != round(body["similarity"], 2)
    assert body["threshold"] == 0.95 and body["is_match"] is False
    assert body["fmr"] <= 1e-5  # the calibrated FMR at that similarity


def test_verify_without_a_face_names_the_image(service) -> None:
    message = problem(
        service.client.post(
            "/v1/verify",
            headers=service.key("*:read"),
            files={"image_a": image("probes/obama1.jpg"), "image_b": ("noise.jpg", noise_jpeg())},
        ),
        422,
        "no_face",
    )
    assert "noise.jpg" in message


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("empty.jpg", 422, "empty_image"),
        ("truncated.jpg", 422, "corrupt_image"),
        ("text.jpg", 415, "unsupported_image"),
        ("one_pixel.png", 422, "image_too_small"),
        ("bomb.png", 413, "image_too_large"),
    ],
)
def test_bad_uploads_get_4xx_problem_json(service, name, status, code) -> None:
    data = bad_images()[name]
    message = problem(
        service.client.post(
            "/v1/detect", headers=service.key("*:read"), files={"image": (name, data)}
        ),
        status,
        code,
    )
    assert name in message


def test_body_over_the_limit_is_refused_before_reading(make_service) -> None:
    service = make_service(max_request_bytes=64 * 1024)
    headers = service.key("*:read")
    _, data = image("groups/two_people.jpg")
    assert len(data) > 64 * 1024
    problem(
        service.client.post("/v1/detect", headers=headers, files={"image": ("big.jpg", data)}),
        413,
        "payload_too_large",
    )

    def chunks():  # no Content-Length: the cap applies while streaming
        for start in range(0, len(data), 8192):
            yield data[start : start + 8192]

    response = service.client.post(
        "/v1/detect", headers={**headers, "content-type": "application/json"}, content=chunks()
    )
    problem(response, 413, "payload_too_large")


def test_megapixel_limit_applies_before_decoding(make_service) -> None:
    service = make_service(max_image_pixels=500_000)
    message = problem(
        service.client.post(
            "/v1/detect",
            headers=service.key("*:read"),
            files={"image": image("groups/two_people.jpg")},
        ),
        413,
        "image_too_large",
    )
    assert "500,000" in message


def test_malformed_requests(service) -> None:
    headers = service.key("*:read")
    problem(
        service.client.post("/v1/detect", headers=headers, json={"image": "%%%"}),
        422,
        "invalid_base64",
    )
    problem(
        service.client.post("/v1/detect", headers=headers, json={"img": "AAAA"}),
        422,
        "missing_image",
    )
    problem(service.client.post("/v1/detect", headers=headers, json=[1, 2]), 422, "invalid_request")
    problem(
        service.client.post(
            "/v1/detect", headers={**headers, "content-type": "text/plain"}, content=b"x"
        ),
        415,
        "unsupported_media_type",
    )
    problem(
        service.client.post(
            "/v1/detect", headers={**headers, "content-type": "application/json"}, content=b"{"
        ),
        422,
        "invalid_request",
    )
    problem(
        service.client.post(
            "/v1/detect",
            headers=headers,
            data={"image": "not a file"},
            files={"other": ("a.jpg", b"x")},
        ),
        422,
        "invalid_request",
    )
    problem(
        service.client.post("/v1/verify?fmr=2", headers=headers, json={}), 422, "invalid_request"
    )


# --- collections, persons, faces, search -------------------------------------------------------


def test_collection_person_and_face_lifecycle(service) -> None:
    headers = service.key("*:write")
    c = service.client
    created = ok(c.post("/v1/collections", headers=headers, json={"collection_id": "team"}), 201)
    assert (created["collection_id"], created["persons"], created["faces"]) == ("team", 0, 0)
    problem(
        c.post("/v1/collections", headers=headers, json={"collection_id": "team"}),
        409,
        "already_exists",
    )
    person = ok(
        c.post("/v1/collections/team/persons", headers=headers, json={"person_id": "rose"}), 201
    )
    assert person == {**person, "person_id": "rose", "faces": 0}
    problem(
        c.post("/v1/collections/team/persons", headers=headers, json={"person_id": "rose"}),
        409,
        "already_exists",
    )

    files = [
        *person_images("barack_obama"),
        ("images", ("noise.jpg", noise_jpeg())),
        ("images", ("text.jpg", b"hi")),
    ]
    added = ok(
        c.post("/v1/collections/team/persons/barack_obama/faces", headers=headers, files=files)
    )
    assert [a["filename"] for a in added["accepted"]] == ["obama.jpg", "obama2.jpg"]
    assert [(r["index"], r["filename"], r["code"]) for r in added["rejected"]] == [
        (2, "noise.jpg", "no_face"),
        (3, "text.jpg", "unsupported_image"),
    ]
    detail = ok(c.get("/v1/collections/team/persons/barack_obama", headers=headers))
    assert [f["face_id"] for f in detail["enrolled_faces"]] == [
        a["face_id"] for a in added["accepted"]
    ]
    assert detail["enrolled_faces"][0]["source"] == "obama.jpg"
    listed = ok(c.get("/v1/collections/team/persons", headers=headers))["persons"]
    assert [(p["person_id"], p["faces"]) for p in listed] == [("barack_obama", 2), ("rose", 0)]
    assert ok(c.get("/v1/collections/team", headers=headers))["faces"] == 2

    first = added["accepted"][0]["face_id"]
    problem(
        c.delete(f"/v1/collections/team/persons/rose/faces/{first}", headers=headers),
        404,
        "not_found",
    )
    assert ok(
        c.delete(f"/v1/collections/team/persons/barack_obama/faces/{first}", headers=headers)
    )["removed"]
    assert (
        ok(c.delete("/v1/collections/team/persons/barack_obama", headers=headers))["faces_removed"]
        == 1
    )
    problem(c.get("/v1/collections/team/persons/barack_obama", headers=headers), 404, "not_found")
    assert ok(c.delete("/v1/collections/team", headers=headers))["faces_removed"] == 0
    problem(c.get("/v1/collections/team", headers=headers), 404, "not_found")


def test_adding_faces_to_a_missing_collection_is_404(service) -> None:
    problem(
        service.client.post(
            "/v1/collections/ghost/persons/x/faces",
            headers=service.key("*:write"),
            files=person_images("joe_biden"),
        ),
        404,
        "not_found",
    )


def test_search_names_both_people_and_leaves_a_stranger_unknown(indexed_service) -> None:
    service = indexed_service
    headers = service.key("*:write")
    enroll(service, headers, "team", "barack_obama", "joe_biden")
    body = ok(
        service.client.post(
            "/v1/collections/team/search?k=2",
            headers=headers,
            files={"image": image("probes/obama_and_biden.jpg")},
        )
    )
    assert body["gallery_size"] == 4 and body["fpir"] == pytest.approx(0.01)
    decisions = [(f["decision"], f["person_id"]) for f in body["faces"]]
    assert ("known", "barack_obama") in decisions and ("known", "joe_biden") in decisions
    assert ("unknown", None) in decisions  # the third person in the photo is not enrolled
    for face in body["faces"]:
        assert len(face["matches"]) == 2
        if face["decision"] == "known":
            assert face["similarity"] >= body["threshold"] + 0.2
        else:
            assert face["similarity"] < body["threshold"]
    one = ok(
        service.client.post(
            "/v1/collections/team/search?max_faces=1&k=1",
            headers=headers,
            files={"image": image("groups/two_people.jpg")},
        )
    )
    assert len(one["faces"]) == 1 and len(one["faces"][0]["matches"]) == 1


def test_search_in_an_empty_collection_is_all_unknown(indexed_service) -> None:
    service = indexed_service
    headers = service.key("*:write")
    ok(
        service.client.post("/v1/collections", headers=headers, json={"collection_id": "empty"}),
        201,
    )
    body = ok(
        service.client.post(
            "/v1/collections/empty/search",
            headers=headers,
            files={"image": image("probes/obama1.jpg")},
        )
    )
    assert [f["decision"] for f in body["faces"]] == ["unknown"]
    assert body["faces"][0]["matches"] == [] and body["faces"][0]["similarity"] is None


def test_keys_never_see_other_collections(indexed_service) -> None:
    service = indexed_service
    admin = service.key("*:write")
    enroll(service, admin, "a", "barack_obama")
    enroll(service, admin, "b", "joe_biden")
    key_a = service.key("a:write")
    c = service.client
    assert [
        x["collection_id"] for x in ok(c.get("/v1/collections", headers=key_a))["collections"]
    ] == ["a"]
    problem(c.get("/v1/collections/b", headers=key_a), 404, "not_found")
    problem(c.get("/v1/collections/b/persons", headers=key_a), 404, "not_found")
    problem(c.get("/v1/collections/b/persons/joe_biden", headers=key_a), 404, "not_found")
    probe = {"image": image("probes/obama_and_biden.jpg")}
    problem(c.post("/v1/collections/b/search", headers=key_a, files=probe), 404, "not_found")
    problem(c.delete("/v1/collections/b", headers=key_a), 404, "not_found")
    problem(c.delete("/v1/collections/b/persons/joe_biden", headers=key_a), 404, "not_found")
    problem(
        c.post(
            "/v1/collections/b/persons/x/faces", headers=key_a, files=person_images("joe_biden")
        ),
        404,
        "not_found",
    )
    problem(c.post("/v1/collections", headers=key_a, json={"collection_id": "b"}), 403, "forbidden")
    # the same answers as for a collection that does not exist: no existence oracle
    problem(c.get("/v1/collections/nope", headers=key_a), 404, "not_found")
    # a search in "a" never returns people of "b"
    found = ok(c.post("/v1/collections/a/search", headers=key_a, files=probe))
    assert {m["person_id"] for f in found["faces"] for m in f["matches"]} == {"barack_obama"}
    # read-only keys can search but not change
    reader = service.key("b:read")
    ok(c.post("/v1/collections/b/search", headers=reader, files=probe))
    problem(c.delete("/v1/collections/b", headers=reader), 403, "forbidden")
    problem(c.delete("/v1/collections/b/persons/joe_biden", headers=reader), 403, "forbidden")
    assert ok(c.get("/v1/collections/b", headers=admin))["faces"] == 2


def test_faces_and_persons_of_other_collections_are_not_found(service) -> None:
    admin = service.key("*:write")
    enroll(service, admin, "a", "barack_obama")
    enroll(service, admin, "b", "joe_biden")
    c = service.client
    theirs = ok(c.get("/v1/collections/b/persons/joe_biden", headers=admin))["enrolled_faces"]
    face_id = theirs[0]["face_id"]
    key_a = service.key("a:write")
    for person in ("joe_biden", "barack_obama"):
        message = problem(
            c.delete(f"/v1/collections/a/persons/{person}/faces/{face_id}", headers=key_a),
            404,
            "not_found",
        )
        assert message == f"no face {face_id} of {person!r} in collection 'a'"
    message = problem(c.get("/v1/collections/a/persons/joe_biden", headers=key_a), 404, "not_found")
    assert message == "no person 'joe_biden' in collection 'a'"
    assert ok(c.get("/v1/collections/b", headers=admin))["faces"] == len(theirs)


def test_concurrent_enrollments_and_searches_lose_nothing(indexed_service) -> None:
    service = indexed_service
    headers = service.key("*:write")
    enroll(service, headers, "load", "joe_biden")
    obama = person_images("barack_obama")
    accepted: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def writer(worker: int) -> None:
        for i in range(4):
            r = service.client.post(
                f"/v1/collections/load/persons/p{worker}_{i}/faces?allow_shared_images=true",
                headers=headers,
                files=obama,
            )
            with lock:
                if r.status_code == 200:
                    accepted.extend(a["face_id"] for a in r.json()["accepted"])
                else:
                    errors.append(r.text)

    def reader() -> None:
        for _ in range(6):
            r = service.client.post(
                "/v1/collections/load/search",
                headers=headers,
                files={"image": image("probes/obama1.jpg")},
            )
            if r.status_code != 200:
                with lock:
                    errors.append(r.text)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors
    assert len(accepted) == len(set(accepted)) == 3 * 4 * 2
    info = ok(service.client.get("/v1/collections/load", headers=headers))
    assert (info["persons"], info["faces"]) == (1 + 12, 2 + 24)


def test_web_page_and_openapi_are_served(service) -> None:
    page = service.client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "faceprint" in page.text.lower()
    spec = ok(service.client.get("/openapi.json"))
    assert "/v1/collections/{collection_id}/search" in spec["paths"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


def test_error_messages_leak_no_server_path_or_other_collections(service) -> None:
    headers = service.key("*:write")
    ok(
        service.client.post("/v1/collections", headers=headers, json={"collection_id": "secret"}),
        201,
    )
    message = problem(
        service.client.post("/v1/collections", headers=headers, json={"collection_id": "secret"}),
        409,
        "already_exists",
    )
    assert "gallery" not in message and "/" not in message
    scoped = service.key("mine:write")
    ok(service.client.post("/v1/collections", headers=scoped, json={"collection_id": "mine"}), 201)
    message = problem(
        service.client.post(
            "/v1/collections/mine/persons/nobody/faces/1",
            headers=scoped,
        ),
        405,
        "method_not_allowed",
    )
    message = problem(
        service.client.delete("/v1/collections/mine/persons/nobody", headers=scoped),
        404,
        "not_found",
    )
    assert "secret" not in message and "/" not in message


def test_resending_an_enrollment_never_duplicates_faces(service) -> None:
    headers = service.key("team:write")
    enroll(service, headers, "team", "barack_obama")
    url = "/v1/collections/team/persons/{}/faces"
    again = ok(
        service.client.post(
            url.format("barack_obama"), headers=headers, files=person_images("barack_obama")
        )
    )
    assert again["accepted"] == []
    assert {r["code"] for r in again["rejected"]} == {"already_enrolled"}
    other = ok(
        service.client.post(
            url.format("someone"), headers=headers, files=person_images("barack_obama")
        )
    )
    assert other["accepted"] == []
    assert {r["code"] for r in other["rejected"]} == {"enrolled_as_other_person"}
    assert "barack_obama" in other["rejected"][0]["message"]
    shared = ok(
        service.client.post(
            url.format("someone") + "?allow_shared_images=true",
            headers=headers,
            files=person_images("barack_obama"),
        )
    )
    assert len(shared["accepted"]) == 2
    info = ok(service.client.get("/v1/collections/team", headers=headers))
    assert (info["persons"], info["faces"]) == (2, 4)
