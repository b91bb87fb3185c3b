"""The encrypted-search endpoints: register public keys, search with an encrypted probe,
decrypt the answer on the client; scopes and refusals as problem JSON."""

from __future__ import annotations

import pytest
from tests.service.conftest import image
from tests.service.test_routes import enroll, ok, problem
from tests.shared_paths import SAMPLES

pytest.importorskip("tenseal")


def test_private_search_names_the_person_only_the_client_can_read(service, pipeline) -> None:
    from faceprint.batch import analyze_images
    from faceprint.privacy.ckks import KeySet

    admin = service.key("*:write")
    enroll(service, admin, "team", "barack_obama", "joe_biden")
    keys = KeySet.generate(128)
    octets = {"Content-Type": "application/octet-stream"}
    reader = service.key("team:read")
    registered = ok(
        service.client.put(
            "/v1/privacy/keys", headers={**reader, **octets}, content=keys.public().to_bytes()
        ),
        201,
    )
    assert registered == {"key_id": keys.key_id, "dim": 128}
    secret = service.client.put(
        "/v1/privacy/keys", headers={**reader, **octets}, content=keys.to_bytes()
    )
    assert "secret key file" in problem(secret, 400, "usage_error")

    name, data = image("probes/obama1.jpg")
    (result,) = list(analyze_images(pipeline, [SAMPLES / "probes" / "obama1.jpg"], embed="primary"))
    probe = keys.encrypt_probe(result.primary_face.embedding.vector)
    answer = service.client.post(
        "/v1/collections/team/private-search", headers={**reader, **octets}, content=probe
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["x-faceprint-mode"] == "decision"
    assert answer.headers["x-faceprint-gallery-size"] == "4"
    found = keys.decrypt_result(answer.content)
    assert found.matched_persons() == ["barack_obama"]
    assert found.threshold == pytest.approx(
        float(answer.headers["x-faceprint-threshold"]), abs=1e-6
    )

    refused = service.client.post(
        "/v1/collections/team/private-search?mode=scores",
        headers={**reader, **octets},
        content=probe,
    )
    problem(refused, 403, "forbidden")  # raw scores are for the gallery's owners
    scores = service.client.post(
        "/v1/collections/team/private-search?mode=scores",
        headers={**admin, **octets},
        content=probe,
    )
    plain = ok(
        service.client.post(
            "/v1/collections/team/search?k=1", headers=reader, files={"image": (name, data)}
        )
    )
    best = keys.decrypt_result(scores.content)
    assert max(best.values) == pytest.approx(
        plain["faces"][0]["matches"][0]["similarity"], abs=0.01
    )

    stranger = service.key("other:read")
    hidden = service.client.post(
        "/v1/collections/team/private-search", headers={**stranger, **octets}, content=probe
    )
    problem(hidden, 404, "not_found")
    damaged = service.client.post(
        "/v1/collections/team/private-search", headers={**reader, **octets}, content=probe[:1000]
    )
    problem(damaged, 400, "usage_error")
    unknown = KeySet.generate(128).encrypt_probe(result.primary_face.embedding.vector)
    unregistered = service.client.post(
        "/v1/collections/team/private-search", headers={**reader, **octets}, content=unknown
    )
    assert "registered" in problem(unregistered, 404, "not_found")
