"""schemathesis against /openapi.json: generated requests to every operation, real models.

Every response must be non-5xx, declared in the spec, and match its schema; every
error must be problem JSON. Bounded: a fixed number of examples per operation, valid (positive) and invalid
(negative) requests both.
``positive_data_acceptance`` is left out: random bytes satisfy ``format: binary`` but
are not images, so a 415/422 for them is the right answer, not a failure.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from faceprint.service import ServiceSettings, create_app  # noqa: E402
from faceprint.service.keys import KeyStore  # noqa: E402

pytestmark = pytest.mark.integration

EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory, pipeline):
    from fastapi.testclient import TestClient

    root = tmp_path_factory.mktemp("fuzz")
    store = KeyStore.open(root / "keys.db")
    _, token = store.create("fuzz", ["*:write"], rate_limit="100000/second")
    store.close()
    settings_ = ServiceSettings(
        gallery_path=root / "gallery.db", keys_path=root / "keys.db", inference_threads=2
    )
    app = create_app(settings_, pipeline=pipeline)
    with TestClient(app) as client:  # runs the lifespan: models and gallery are ready
        client.post(
            "/v1/collections",
            headers={"Authorization": f"Bearer {token}"},
            json={"collection_id": "fuzz"},
        )
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        yield schema, {"Authorization": f"Bearer {token}"}


def test_api_conforms_and_never_fails(fuzz_target) -> None:
    schema, auth = fuzz_target
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    calls = 0
    strategies = [
        (mode, operation.as_strategy(generation_mode=mode))
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    for mode, strategy in strategies:

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case) -> None:
            nonlocal calls
            calls += 1
            response = case.call_and_validate(
                headers=auth, excluded_checks=[positive_data_acceptance]
            )
            assert response.status_code < 500, response.text
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error", "request_id"} and body["error"]["code"], body

        try:
            check()
        except Unsatisfiable:  # nothing invalid to send (e.g. GET /v1/health)
            assert mode is GenerationMode.NEGATIVE
    print(f"schemathesis: {calls} generated requests over {len(operations)} operations")
    assert calls >= len(operations) * EXAMPLES
