"""values.schema.json refuses wrong values before anything renders, naming the field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import CHART, run_helm

SCHEMA = json.loads((CHART / "values.schema.json").read_text())

# (--set arguments, the field helm's message must name, words it must hold)
BAD_VALUES = [
    (["store.s3.bucket=My_Bucket"], "/store/s3/bucket", "does not match pattern"),
    (["store.s3.endpoint=minio:9000"], "/store/s3/endpoint", "does not match pattern"),
    (["operator.healthPort=0"], "/operator/healthPort", "minimum"),
    (["operator.metricsPort=70000"], "/operator/metricsPort", "maximum"),
    (["operator.logFormat=text"], "/operator/logFormat", "json"),
    (["operator.watchNamespace=Team_A"], "/operator/watchNamespace", "pattern"),
    (["operator.workerz=3"], "/operator", "workerz"),
    (["image.pullPolicy=Sometimes"], "/image/pullPolicy", "IfNotPresent"),
    (["image.digest=latest"], "/image/digest", "pattern"),
    (["dashboards.labelValue=1"], "/dashboards/labelValue", "want string"),
    (["kueue.localQueue.create=true"], "/kueue/localQueue/clusterQueue", "minLength"),
    (
        ["gpu.products.A100.tolerations[0].effect=Never"],
        "/gpu/products/A100/tolerations/0/effect",
        "NoSchedule",
    ),
    (["secrets.Bad_Name.key=v"], "/secrets", "Bad_Name"),
    (["metrics.serviceMonitor.interval=often"], "/metrics/serviceMonitor/interval", "pattern"),
]


@pytest.mark.parametrize(("sets", "field", "words"), BAD_VALUES, ids=[b[1] for b in BAD_VALUES])
def test_wrong_values_are_refused_naming_the_field(
    helm: Path, sets: list[str], field: str, words: str
) -> None:
    args = ["template", "kubegym", str(CHART)]
    for item in sets:
        args += ["--set", item]
    result = run_helm(helm, *args, check=False)
    assert result.returncode != 0, f"{sets} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert f"at '{field}'" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def test_the_full_values_file_and_the_defaults_are_accepted(helm: Path) -> None:
    run_helm(helm, "lint", str(CHART), "--values", str(CHART / "ci" / "full-values.yaml"))


def _property(path: str) -> dict[str, Any]:
    node: dict[str, Any] = SCHEMA
    for part in path.split("."):
        node = node["properties"][part]
    return node


def test_the_store_checks_agree_with_the_run_model() -> None:
    """The default store becomes a run's `S3Store`: the schema refuses what the model refuses."""
    from kubegym.api import common, runs

    model = runs.S3Store.model_json_schema(by_alias=True)["properties"]
    bucket = model["bucket"]["pattern"]  # ^…$; the chart also allows "" (no default store)
    assert _property("store.s3.bucket")["pattern"] == f"^({bucket[1:-1]})?$"
    assert _property("store.s3.bucket")["maxLength"] == model["bucket"]["maxLength"]
    endpoint = model["endpoint"]["anyOf"][0]["pattern"]
    assert _property("store.s3.endpoint")["pattern"] == f"^({endpoint[1:]}.*)?$"
    dns = common.DNS_LABEL_PATTERN
    assert _property("store.s3.credentialsSecret")["pattern"] == f"^({dns[1:-1]})?$"
    assert _property("kueue.defaultQueueName")["pattern"] == f"^({dns[1:-1]})?$"


def test_gpu_tolerations_agree_with_the_task_model() -> None:
    from kubegym.api import tasks

    model = tasks.Toleration.model_json_schema(by_alias=True)["properties"]
    chart = _property("gpu.products")["additionalProperties"]["properties"]["tolerations"]["items"]
    assert set(chart["properties"]) == set(model)
    assert chart["properties"]["operator"]["enum"] == model["operator"]["enum"]
    assert chart["properties"]["effect"]["enum"] == model["effect"]["anyOf"][0]["enum"]


def test_every_value_has_a_schema_and_a_comment() -> None:
    """values.yaml and the schema list the same keys, and each key has a `# --` comment."""
    import yaml

    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)

    def walk(node: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        for key, value in node.items():
            assert key in schema.get("properties", {}), f"{path}{key} has no schema"
            child = schema["properties"][key]
            if isinstance(value, dict) and value and "properties" in child:
                walk(value, child, f"{path}{key}.")

    walk(values, SCHEMA, "")
    lines = text.splitlines()
    stack: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    for index, line in enumerate(lines):
        match = re.match(r"^( *)([\w.-]+):", line)
        if not match:
            continue
        indent = len(match.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        comments = []
        for above in reversed(lines[:index]):
            if not above.strip().startswith("#"):
                break
            comments.append(above.strip())
        documented = any(c.startswith("# --") for c in comments)
        inside_documented = any(d for _, d in stack)
        rest = [x for x in lines[index + 1 :] if x.strip() and not x.strip().startswith("#")]
        group = (
            line.rstrip().endswith(":")
            and bool(rest)
            and len(rest[0]) - len(rest[0].lstrip()) > indent
        )
        assert documented or inside_documented or group, (
            f"values.yaml:{index + 1} {line.strip()} has no '# --' comment"
        )
        stack.append((indent, documented))
