"""The CRDs are generated from the models, structural, valid, and their CEL agrees with Python."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import pydantic
import pytest
import yaml

from kubegym.api import common, crds, runs, tasks, trials

# What a structural schema node may hold (apiextensions.k8s.io/v1 JSONSchemaProps we use).
ALLOWED = {
    "type",
    "description",
    "default",
    "enum",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "anyOf",
    "nullable",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
    "x-kubernetes-map-type",
    "x-kubernetes-preserve-unknown-fields",
}


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", crds.KINDS, ids=lambda k: k.name)
def test_committed_crds_equal_the_generated_ones(kind: crds.Kind, repo: Path) -> None:
    committed = repo / "crds" / crds.file_name(kind)
    assert committed.read_text() == crds.render(kind), (
        f"{committed} is stale: run `kubegym crds --out crds`"
    )


def test_no_other_files_in_crds(repo: Path) -> None:
    assert sorted(p.name for p in (repo / "crds").iterdir()) == sorted(
        crds.file_name(k) for k in crds.KINDS
    )


@pytest.mark.parametrize("kind", crds.KINDS, ids=lambda k: k.name)
def test_schemas_are_structural(kind: crds.Kind) -> None:
    schema = crds.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in walk(schema):
        assert set(node) <= ALLOWED, (path, set(node) - ALLOWED)
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            continue
        assert "anyOf" not in node, path
        assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, (
            path
        )
        if "properties" in node:
            assert node["type"] == "object" and "additionalProperties" not in node, path
            assert set(node.get("required", [])) <= set(node["properties"]), path
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), path
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                # the API server insists that map keys are required or defaulted
                assert key in item.get("required", []) or "default" in item["properties"][key], path
        if node.get("exclusiveMinimum") is not None:
            assert isinstance(node["exclusiveMinimum"], bool), path
        for rule in node.get("x-kubernetes-validations", []):
            if "fieldPath" in rule:
                assert rule["fieldPath"].lstrip(".") in node["properties"], (path, rule)


@pytest.mark.parametrize("kind", crds.KINDS, ids=lambda k: k.name)
def test_schemas_carry_descriptions(kind: crds.Kind) -> None:
    schema = crds.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    undocumented = [
        path
        for path, node in walk(schema)
        if path.count(".") >= 2 and not path.endswith(("[]", "{}")) and not node.get("description")
    ]
    assert undocumented == []


@pytest.mark.parametrize("kind", crds.KINDS, ids=lambda k: k.name)
def test_printer_columns_point_at_fields(kind: crds.Kind) -> None:
    version = crds.crd(kind)["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".metadata"):
            continue
        node = schema
        for part in column["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        expected = {"integer": "integer", "number": "number", "string": "string"}[node["type"]]
        assert column["type"] == expected, column


def test_crds_validate_against_the_kubernetes_schema(repo: Path) -> None:
    files = sorted(str(p) for p in (repo / "crds").glob("*.yaml"))
    result = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_defaults_fill_nested_objects() -> None:
    schema = crds.structural_schema(tasks.TaskSpec)
    assert schema["properties"]["limits"]["default"] == {}
    assert schema["properties"]["limits"]["properties"]["maxSteps"]["default"] == 50
    assert schema["properties"]["network"]["enum"] == ["none", "egress"]
    assert schema["required"] == ["description", "evaluation"]


def test_status_subresource_and_names() -> None:
    run_crd = crds.crd(crds.kind("BenchmarkRun"))
    assert run_crd["metadata"]["name"] == "benchmarkruns.kubegym.io"
    assert run_crd["spec"]["versions"][0]["subresources"] == {"status": {}}
    assert run_crd["spec"]["names"]["categories"] == ["kubegym"]
    assert "subresources" not in crds.crd(crds.kind("Task"))["spec"]["versions"][0]


# --- CEL and Python say the same thing -------------------------------------------------

# (model, wire object, valid?) for every model that carries rules.
CASES: list[tuple[type[common.Model], dict[str, Any], bool]] = [
    (tasks.Dataset, {"name": "d", "path": "x.csv"}, True),
    (tasks.Dataset, {"name": "d", "pypi": {"requirement": "a==1", "path": "p"}}, True),
    (tasks.Dataset, {"name": "d", "path": "x.csv", "url": "https://e.org/x"}, False),
    (tasks.Dataset, {"name": "d"}, False),
    (
        tasks.Evaluation,
        {
            "script": "e.py",
            "metrics": [{"name": "a", "direction": "max"}],
            "primaryMetric": "a",
            "submission": {"path": "s"},
        },
        True,
    ),
    (
        tasks.Evaluation,
        {
            "script": "e.py",
            "metrics": [{"name": "a", "direction": "max"}],
            "primaryMetric": "b",
            "submission": {"path": "s"},
        },
        False,
    ),
    (runs.TaskSelection, {"names": ["a"]}, True),
    (runs.TaskSelection, {"suite": "mlgym-bench"}, True),
    (runs.TaskSelection, {"names": ["a"], "suite": "s"}, False),
    (runs.TaskSelection, {}, False),
    (runs.Agent, {"name": "a", "model": "m"}, True),
    (runs.Agent, {"name": "a", "model": "m", "image": "i"}, False),
    (runs.Agent, {"name": "a"}, False),
    (runs.Agent, {"name": "a", "builtin": "replay"}, False),
    (runs.Agent, {"name": "a", "builtin": "replay", "replayPath": "t.jsonl"}, True),
    (runs.Agent, {"name": "a", "builtin": "baseline"}, True),
    (runs.Store, {"local": {"path": "o"}}, True),
    (runs.Store, {"s3": {"bucket": "abc"}}, True),
    (runs.Store, {"s3": {"bucket": "abc"}, "local": {"path": "o"}}, False),
    (runs.Store, {}, False),
]

TASK_SPEC = {"description": "d", "evaluation": CASES[4][1]}
CASES += [
    (tasks.TaskSpec, {**TASK_SPEC, "baselineScores": {"a": 1.0}}, True),
    (tasks.TaskSpec, TASK_SPEC, True),
    (tasks.TaskSpec, {**TASK_SPEC, "baselineScores": {"b": 1.0}}, False),
    # Names are unique and task-folder paths stay inside the folder (issue 11, point 10).
    (tasks.TaskSpec, {**TASK_SPEC, "datasets": [{"name": "a", "path": "d/x"}]}, True),
    (tasks.TaskSpec, {**TASK_SPEC, "datasets": [{"name": "a", "path": "../x"}]}, False),
    (tasks.TaskSpec, {**TASK_SPEC, "datasets": [{"name": "a", "path": "/etc/x"}]}, False),
    (tasks.TaskSpec, {**TASK_SPEC, "validationData": [{"name": "a", "path": "a/../../x"}]}, False),
    (
        tasks.TaskSpec,
        {**TASK_SPEC, "datasets": [{"name": "a", "path": "x"}, {"name": "a", "path": "y"}]},
        False,
    ),
    (
        tasks.Evaluation,
        {**TASK_SPEC["evaluation"], "testData": [{"name": "t", "path": "h/t"}]},
        True,
    ),
    (
        tasks.Evaluation,
        {**TASK_SPEC["evaluation"], "testData": [{"name": "t", "path": "/t"}]},
        False,
    ),
    (
        tasks.Evaluation,
        {
            **TASK_SPEC["evaluation"],
            "metrics": [{"name": "a", "direction": "max"}, {"name": "a", "direction": "min"}],
        },
        False,
    ),
    (tasks.Preparation, {"script": "p.py", "sources": [{"name": "s", "path": "/abs/ok"}]}, True),
    (
        tasks.Preparation,
        {"script": "p.py", "sources": [{"name": "s", "path": "a"}, {"name": "s", "path": "b"}]},
        False,
    ),
    (runs.TaskSelection, {"names": ["a", "a"]}, False),
    (
        runs.BenchmarkRunSpec,
        {"tasks": {"names": ["t"]}, "agents": [{"name": "a", "model": "m"}]},
        True,
    ),
    (
        runs.BenchmarkRunSpec,
        {
            "tasks": {"names": ["t"]},
            "agents": [{"name": "a", "model": "m"}, {"name": "b", "model": "m"}],
        },
        True,
    ),
    (
        runs.BenchmarkRunSpec,
        {
            "tasks": {"names": ["t"]},
            "agents": [{"name": "a", "model": "m"}, {"name": "a", "builtin": "baseline"}],
        },
        False,
    ),
]


def models_with_rules() -> set[type[common.Model]]:
    seen: set[type[pydantic.BaseModel]] = set()
    todo: list[type[pydantic.BaseModel]] = [runs.BenchmarkRun, tasks.Task, trials.Trial]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for info in model.model_fields.values():
            stack = [info.annotation]
            while stack:
                t = stack.pop()
                if isinstance(t, type) and issubclass(t, pydantic.BaseModel):
                    todo.append(t)
                stack.extend(getattr(t, "__args__", ()))
    return {m for m in seen if issubclass(m, common.Model) and m.rules}


def test_every_rule_has_cases() -> None:
    assert models_with_rules() == {model for model, _, _ in CASES}
    for model in models_with_rules():
        outcomes = {valid for m, _, valid in CASES if m is model}
        assert outcomes == {True, False}, model


@pytest.mark.parametrize(("model", "wire", "valid"), CASES)
def test_cel_and_python_agree(model: type[common.Model], wire: dict[str, Any], valid: bool) -> None:
    env = celpy.Environment()
    activation = {"self": celpy.json_to_cel(wire)}
    cel_ok = all(bool(env.program(env.compile(r.cel)).evaluate(activation)) for r in model.rules)
    try:
        model.model_validate(wire)
        python_ok = True
    except pydantic.ValidationError as exc:
        assert all(e["type"] == "kubegym_rule" for e in exc.errors()), exc
        python_ok = False
    assert (cel_ok, python_ok) == (valid, valid)


def test_rules_reach_the_crd() -> None:
    in_crds = set()
    for k in crds.KINDS:
        schema = yaml.safe_load(crds.render(k))["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for _, node in walk(schema):
            in_crds |= {(v["rule"], v["message"]) for v in node.get("x-kubernetes-validations", [])}
    for model in models_with_rules():
        for rule in model.rules:
            assert (rule.cel, rule.message) in in_crds, rule
