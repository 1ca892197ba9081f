"""schemathesis against the app's own OpenAPI schema, in process and bounded: whatever it
sends (bad queries, missing or odd files, any generated body), no answer is a server
error and every refusal is the API's JSON error."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tests.serve.conftest import make_app, wait_ready

EXAMPLES = 5  # per operation (7 operations): about 10 s


@pytest.mark.slow
def test_no_server_errors(model_dir, serve_params):
    app = make_app(model_dir, serve_params)
    checked = []
    with TestClient(app) as client:  # the lifespan loads the model
        wait_ready(client)
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case):
                response = case.call()
                where = f"{case.method} {case.formatted_path}"
                assert response.status_code < 500, f"{where}: {response.text}"
                if response.status_code >= 400:
                    assert set(response.json()) == {"error", "detail", "request_id"}, where
                checked.append(where)

            check()
    assert {"POST /predict", "POST /predict/stack", "GET /model"} <= set(checked)
