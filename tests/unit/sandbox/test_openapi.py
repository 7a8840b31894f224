"""openapi.yaml describes exactly the server's routes, and its schemas fit the examples and live answers."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from importlib import resources
from typing import Any

import pytest
import yaml

from kubegym.sandbox import server as sandbox_server
from kubegym.sandbox.client import ServerProcess
from tests.unit.sandbox.conftest import TOKEN

jsonschema = pytest.importorskip("jsonschema")


def _spec() -> dict[str, Any]:
    text = resources.files("kubegym.sandbox").joinpath("openapi.yaml").read_text()
    spec: dict[str, Any] = yaml.safe_load(text)
    return spec


def _validate(spec: dict[str, Any], schema: dict[str, Any], instance: object) -> None:
    # OpenAPI 3.1 schemas are JSON Schema 2020-12; refs point into the document's components.
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    root["components"] = spec["components"]
    jsonschema.Draft202012Validator(root).validate(instance)


def _response(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    response: dict[str, Any] = spec["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def test_the_document_lists_exactly_the_served_routes() -> None:
    spec = _spec()
    assert spec["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert documented == set(sandbox_server.ROUTES)
    for (method, path), _ in sandbox_server.ROUTES.items():
        operation = spec["paths"][path][method.lower()]
        is_open = operation.get("security") == []
        assert is_open == (path == "/healthz"), path
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_example_fits_its_schema() -> None:
    spec = _spec()
    jsonschema.Draft202012Validator.check_schema({"components": spec["components"]})
    checked = 0
    for item in spec["paths"].values():
        for operation in item.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body and "example" in body:
                _validate(spec, body["schema"], body["example"])
                checked += 1
    for response in spec["components"]["responses"].values():
        content = response["content"]["application/json"]
        _validate(spec, content["schema"], content["example"])
        checked += 1
    for path, item in spec["paths"].items():
        for method in item:
            content = _response(spec, method, path, 200)["content"]["application/json"]
            _validate(spec, content["schema"], content["example"])
            checked += 1
    assert checked > 15


def _call(server: ServerProcess, method: str, path: str, body: object = None) -> tuple[int, object]:
    port = int(server.address.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={"Authorization": f"Bearer {TOKEN}"})
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, answer


def test_live_answers_fit_the_schemas(tcp_server: ServerProcess) -> None:
    spec = _spec()
    content = base64.b64encode(b"\x00\x01 data").decode()
    calls: list[tuple[str, str, object]] = [
        ("GET", "/healthz", None),
        ("POST", "/v1/exec", {"command": "echo hi; exit 3"}),
        ("POST", "/v1/exec", {"command": "sleep 5", "timeout": 0.2}),
        ("POST", "/v1/exec", {}),
        ("POST", "/v1/files/write", {"path": "d/f.bin", "content_b64": content}),
        ("POST", "/v1/files/read", {"path": "d/f.bin"}),
        ("POST", "/v1/files/read", {"path": "missing"}),
        ("POST", "/v1/files/list", {"path": ".", "recursive": True}),
        ("POST", "/v1/files/list", {"path": "nowhere"}),
        ("POST", "/v1/session/restart", {}),
    ]
    for method, path, body in calls:
        status, answer = _call(tcp_server, method, path, body)
        schema = _response(spec, method, path, status)["content"]["application/json"]["schema"]
        _validate(spec, schema, answer)
    # 409 while a command runs
    worker = threading.Thread(
        target=_call, args=(tcp_server, "POST", "/v1/exec", {"command": "sleep 0.6"})
    )
    worker.start()
    time.sleep(0.2)
    status, answer = _call(tcp_server, "POST", "/v1/exec", {"command": "true"})
    worker.join()
    assert status == 409
    _validate(
        spec,
        _response(spec, "POST", "/v1/exec", 409)["content"]["application/json"]["schema"],
        answer,
    )
