"""Reading kubegym's OpenAPI documents in tests: the document, a response, schema checks.

The sandbox server and the evaluator server each ship an ``openapi.yaml`` next to
their code; their tests check the served routes and live answers against it the
same way, through these helpers.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any

import yaml


def load(package: str) -> dict[str, Any]:
    """The ``openapi.yaml`` shipped in ``package`` (as installed: package data)."""
    text = resources.files(package).joinpath("openapi.yaml").read_text()
    spec: dict[str, Any] = yaml.safe_load(text)
    return spec


def validate(spec: dict[str, Any], schema: dict[str, Any], instance: object) -> None:
    """Check ``instance`` against ``schema``, whose refs point into the document's components."""
    import jsonschema

    # OpenAPI 3.1 schemas are JSON Schema 2020-12.
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    root["components"] = spec["components"]
    jsonschema.Draft202012Validator(root).validate(instance)


def response(spec: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    """The documented response of ``method path`` with ``status``, its ``$ref`` resolved."""
    found: dict[str, Any] = spec["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in found:
        found = spec["components"]["responses"][found["$ref"].rsplit("/", 1)[1]]
    return found


def assert_documents_exactly(spec: dict[str, Any], routes: Iterable[tuple[str, str]]) -> None:
    """The document lists exactly ``routes``; only ``/healthz`` is open; the rest need a bearer."""
    served = set(routes)
    assert spec["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert documented == served
    for method, path in served:
        is_open = spec["paths"][path][method.lower()].get("security") == []
        assert is_open == (path == "/healthz"), path
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
