"""openapi.yaml describes exactly the server's routes, and its schemas fit the examples and live answers."""

from __future__ import annotations

import base64
import http.client
import json
import threading
import time
from typing import Any

import pytest

from kubegym.sandbox import server as sandbox_server
from kubegym.sandbox.client import ServerProcess
from tests.support import openapi
from tests.unit.sandbox.conftest import TOKEN

jsonschema = pytest.importorskip("jsonschema")


def _spec() -> dict[str, Any]:
    return openapi.load("kubegym.sandbox")


def test_the_document_lists_exactly_the_served_routes() -> None:
    openapi.assert_documents_exactly(_spec(), sandbox_server.ROUTES)


def test_every_example_fits_its_schema() -> None:
    spec = _spec()
    jsonschema.Draft202012Validator.check_schema({"components": spec["components"]})
    checked = 0
    for item in spec["paths"].values():
        for operation in item.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body and "example" in body:
                openapi.validate(spec, body["schema"], body["example"])
                checked += 1
    for response in spec["components"]["responses"].values():
        content = response["content"]["application/json"]
        openapi.validate(spec, content["schema"], content["example"])
        checked += 1
    for path, item in spec["paths"].items():
        for method in item:
            content = openapi.response(spec, method, path, 200)["content"]["application/json"]
            openapi.validate(spec, content["schema"], content["example"])
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
        schema = openapi.response(spec, method, path, status)["content"]["application/json"][
            "schema"
        ]
        openapi.validate(spec, schema, answer)
    # 409 while a command runs
    worker = threading.Thread(
        target=_call, args=(tcp_server, "POST", "/v1/exec", {"command": "sleep 0.6"})
    )
    worker.start()
    time.sleep(0.2)
    status, answer = _call(tcp_server, "POST", "/v1/exec", {"command": "true"})
    worker.join()
    assert status == 409
    openapi.validate(
        spec,
        openapi.response(spec, "POST", "/v1/exec", 409)["content"]["application/json"]["schema"],
        answer,
    )
