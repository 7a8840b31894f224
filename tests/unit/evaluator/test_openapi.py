"""openapi.yaml describes exactly the evaluator server's routes; examples and live answers fit it."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubegym.api import trials
from kubegym.evaluator import server as evaluator_server
from tests.support import openapi, trial_pod
from tests.unit.evaluator.conftest import StartEvaluator

jsonschema = pytest.importorskip("jsonschema")


def _spec() -> dict[str, Any]:
    return openapi.load("kubegym.evaluator")


def test_the_document_lists_exactly_the_served_routes() -> None:
    openapi.assert_documents_exactly(_spec(), evaluator_server.ROUTES)


def test_the_score_schema_names_the_model_fields_but_the_hidden_ones() -> None:
    documented = set(_spec()["components"]["schemas"]["Score"]["properties"])
    fields = set(trials.Score.model_json_schema(by_alias=True)["properties"])
    assert documented == fields - {"testMetrics"}
    assert _spec()["components"]["schemas"]["Score"]["additionalProperties"] is False


def test_every_example_fits_its_schema() -> None:
    spec = _spec()
    checked = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                openapi.validate(spec, body["schema"], body["example"])
                checked += 1
            content = openapi.response(spec, method, path, 200)["content"]["application/json"]
            openapi.validate(spec, content["schema"], content["example"])
            checked += 1
    for response in spec["components"]["responses"].values():
        content = response["content"]["application/json"]
        openapi.validate(spec, content["schema"], content["example"])
        checked += 1
    assert checked >= 8


def test_live_answers_fit_the_schemas(start_evaluator: StartEvaluator) -> None:
    spec = _spec()
    evaluator, _ = start_evaluator(max_validations=1)
    parts = urlsplit(evaluator.url)
    calls: list[tuple[str, str, object, str | None]] = [
        ("GET", "/healthz", None, None),
        ("POST", "/v1/validate", {"step": 1}, trial_pod.EVALUATOR_TOKEN),
        ("POST", "/v1/validate", {}, trial_pod.EVALUATOR_TOKEN),
        ("POST", "/v1/validate", {"step": 1}, "wrong"),
        ("POST", "/v1/validate", {"step": 2}, trial_pod.EVALUATOR_TOKEN),
        ("POST", "/v1/submit", {"step": 2}, trial_pod.EVALUATOR_TOKEN),
        ("POST", "/v1/validate", {"step": 3}, trial_pod.EVALUATOR_TOKEN),
        ("POST", "/v1/finish", {}, trial_pod.EVALUATOR_TOKEN),
    ]
    statuses = []
    for method, path, body, token in calls:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = json.dumps(body) if body is not None else None
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        answer = json.loads(response.read())
        conn.close()
        statuses.append(response.status)
        schema = openapi.response(spec, method, path, response.status)["content"][
            "application/json"
        ]
        openapi.validate(spec, schema["schema"], answer)
    assert statuses == [200, 200, 400, 401, 429, 200, 409, 200]
