"""Defences of the matching endpoints, through the app on real models and real faces:
decision-only keys, daily and per-person budgets (429 + audit log), the hill-climbing
detector and throttling, the high-security preset, 1:1 claims against enrolled people."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.service.conftest import image, person_images
from tests.shared_paths import SAMPLES

from faceprint.core.align import align
from faceprint.media.images import load_image
from faceprint.service.defences import read_events

pytestmark = pytest.mark.integration


def ok(response, status: int = 200):
    assert response.status_code == status, response.text
    return response.json()


def refused(response, code: str) -> dict:
    assert response.status_code == 429, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["error"]["code"] == code, body
    return body


def enroll(service, headers, collection: str, *persons: str) -> None:
    ok(
        service.client.post("/v1/collections", headers=headers, json={"collection_id": collection}),
        201,
    )
    for person in persons:
        ok(
            service.client.post(
                f"/v1/collections/{collection}/persons/{person}/faces",
                headers=headers,
                files=person_images(person),
            )
        )


def claim(service, headers, person: str, picture: tuple[str, bytes], query: str = ""):
    return service.client.post(
        f"/v1/collections/team/persons/{person}/verify{query}",
        headers=headers,
        files={"image": picture},
    )


def pair(service, headers, query: str = ""):
    return service.client.post(
        f"/v1/verify{query}",
        headers=headers,
        files={
            "image_a": image("known/barack_obama/obama.jpg"),
            "image_b": image("probes/obama1.jpg"),
        },
    )


OBAMA = image("probes/obama1.jpg")
BIDEN = image("known/joe_biden/biden.jpg")


def test_claims_decide_against_the_persons_enrolled_faces(service) -> None:
    headers = service.key("*:write")
    enroll(service, headers, "team", "barack_obama", "joe_biden")
    yes = ok(claim(service, headers, "barack_obama", OBAMA))
    no = ok(claim(service, headers, "joe_biden", OBAMA))
    assert yes["is_match"] is True and no["is_match"] is False
    assert yes["similarity"] > yes["threshold"] > no["similarity"]
    assert yes["fmr"] == pytest.approx(1e-3) and yes["similarity"] == round(yes["similarity"], 2)
    assert claim(service, headers, "nobody", OBAMA).status_code == 404


def test_decision_only_keys_never_see_a_similarity(service) -> None:
    owner = service.key("*:write")
    enroll(service, owner, "team", "barack_obama", "joe_biden")
    blind = service.key("team:read", responses="decision")
    body = ok(pair(service, blind))
    assert body["similarity"] is None and body["is_match"] is True
    said = ok(claim(service, blind, "barack_obama", OBAMA))
    assert said["similarity"] is None and said["is_match"] is True
    found = ok(
        service.client.post(
            "/v1/collections/team/search",
            headers=blind,
            files={"image": image("probes/obama_and_biden.jpg")},
        )
    )
    assert {f["person_id"] for f in found["faces"] if f["decision"] == "known"} == {
        "barack_obama",
        "joe_biden",
    }
    assert all(f["similarity"] is None and f["matches"] == [] for f in found["faces"])
    assert ok(pair(service, owner))["similarity"] is not None  # other keys: unchanged


def test_a_service_can_make_every_key_decision_only(make_service) -> None:
    service = make_service(responses="decision")
    assert ok(pair(service, service.key("*:read")))["similarity"] is None
    assert ok(pair(service, service.key("*:read", responses="scores")))["similarity"] > 0.5


def test_daily_budget_answers_429_and_logs_once(make_service, tmp_path) -> None:
    service = make_service(daily_budget=3)
    headers = service.key("*:write")
    for _ in range(3):
        ok(pair(service, headers))
    ok(service.client.post("/v1/detect", headers=headers, files={"image": OBAMA}))  # not matching
    body = refused(pair(service, headers), "budget_exhausted")
    assert "3 matching requests" in body["error"]["message"]
    refused(pair(service, headers), "budget_exhausted")
    ok(pair(service, service.key("*:read")))  # budgets are per key
    ok(pair(service, service.key("*:read", daily_budget=10)))  # …and a key may carry its own
    events = [e for e in read_events(tmp_path / "audit.jsonl") if e["event"] == "budget_exhausted"]
    assert len(events) == 1 and events[0]["endpoint"] == "verify"


def test_failed_claims_against_one_person_are_budgeted(make_service, tmp_path) -> None:
    service = make_service(target_budget=2)
    headers = service.key("*:write")
    enroll(service, headers, "team", "barack_obama", "joe_biden")
    for _ in range(3):  # matching claims spend nothing
        assert ok(claim(service, headers, "barack_obama", OBAMA))["is_match"]
    for _ in range(2):
        assert not ok(claim(service, headers, "joe_biden", OBAMA))["is_match"]
    refused(claim(service, headers, "joe_biden", BIDEN), "target_budget_exhausted")
    assert ok(claim(service, headers, "barack_obama", OBAMA))["is_match"]  # other persons open
    ok(claim(service, service.key("*:read"), "joe_biden", BIDEN))  # other keys open
    (event,) = [
        e for e in read_events(tmp_path / "audit.jsonl") if e["event"] == "target_budget_exhausted"
    ]
    assert event["person"] == "joe_biden" and event["collection"] == "team"


@pytest.fixture()
def morphs(pipeline) -> list[tuple[str, bytes]]:
    """Near-duplicate probes drifting from Biden towards Obama: aligned crops blended a
    little more each step, each step's blend jittered on its own (an optimiser's
    proposals scatter around its current point), on a grey canvas — what a climbing
    attacker sends."""
    crops = []
    for relative in ("known/joe_biden/biden.jpg", "known/barack_obama/obama.jpg"):
        pixels = load_image(SAMPLES / relative)
        detection = pipeline.primary_detection(pixels)
        crop, _ = align(pixels, detection.landmarks_array(), template="arcface_112")
        crops.append(crop.astype(np.float32))
    out = []
    jitter = np.random.default_rng(0).uniform(-0.1, 0.1, 48)
    for alpha in np.clip(np.linspace(0.0, 0.4, 48) + jitter, 0.0, 1.0):
        face = (1 - alpha) * crops[0] + alpha * crops[1]
        canvas = np.full((224, 224, 3), 128.0, dtype=np.float32)
        canvas[56:168, 56:168] = face
        buffer = io.BytesIO()
        Image.fromarray(canvas.round().astype(np.uint8)).save(buffer, format="PNG")
        out.append((f"step{len(out)}.png", buffer.getvalue()))
    return out


def test_hill_climbing_is_flagged_throttled_and_logged(make_service, tmp_path, morphs) -> None:
    service = make_service(target_budget=None, throttle_rate="1/hour")
    headers = service.key("*:write")
    enroll(service, headers, "team", "barack_obama", "joe_biden")
    scores = []
    for picture in morphs:
        response = claim(service, headers, "barack_obama", picture)
        if response.status_code == 429:
            break
        scores.append(ok(response)["similarity"])
    events = [
        e for e in read_events(tmp_path / "audit.jsonl") if e["event"] == "hill_climb_suspected"
    ]
    assert len(events) == 1, (str(scores), events)
    assert events[0]["person"] == "barack_obama" and events[0]["severity"] == "alert"
    assert events[0]["probes"] >= 32 and scores[-1] > scores[0]
    # throttled: one request an hour, then 429 — on every matching endpoint of that key
    answers = [claim(service, headers, "joe_biden", BIDEN) for _ in range(2)]
    answers.append(pair(service, headers))
    assert sum(a.status_code == 429 for a in answers) >= 2
    refused(answers[-1], "throttled")
    ok(pair(service, service.key("*:read")))  # other keys are not throttled


def test_repeating_one_failing_photo_is_not_hill_climbing(make_service, tmp_path) -> None:
    service = make_service(target_budget=None)
    headers = service.key("*:write")
    enroll(service, headers, "team", "barack_obama", "joe_biden")
    for _ in range(40):
        assert not ok(claim(service, headers, "joe_biden", OBAMA))["is_match"]
    assert not [e for e in read_events(tmp_path / "audit.jsonl")]


def test_high_security_preset(make_service) -> None:
    service = make_service()
    headers = service.key("*:read")
    default = ok(pair(service, headers))
    strict = ok(pair(service, headers, "?preset=high-security"))
    assert strict["fmr"] == pytest.approx(1e-5) and strict["threshold"] > default["threshold"]
    assert pair(service, headers, "?preset=lax").status_code == 422
    strict_service = make_service(verify_preset="high-security")
    body = ok(pair(strict_service, strict_service.key("*:read")))
    assert body["fmr"] == pytest.approx(1e-5)
    assert ok(pair(strict_service, strict_service.key("*:read"), "?fmr=0.001"))["fmr"] == 1e-3


def test_models_route_reports_what_keys_get_back(make_service) -> None:
    service = make_service(responses="decision", verify_preset="high-security")
    body = ok(service.client.get("/v1/models", headers=service.key("*:read")))
    assert body["responses"] == "decision" and body["verify_preset"] == "high-security"
    assert body["verification_threshold"]["fmr"] == pytest.approx(1e-5)
