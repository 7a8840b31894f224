"""kubegym's CRDs on a real apiserver: they install, the example applies, bad runs are refused."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import wait_for

pytestmark = pytest.mark.cluster

GROUP, VERSION = "kubegym.io", "v1alpha1"
PLURALS = {"Task": "tasks", "BenchmarkRun": "benchmarkruns", "Trial": "trials"}


@pytest.fixture(scope="session")
def kubegym_crds(api_client: Any, repo_root: Path) -> Iterator[list[str]]:
    """kubegym's CRDs from crds/, applied and Established; their names."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ext = client.ApiextensionsV1Api(api_client)
    names = []
    for path in sorted((repo_root / "crds").glob("*.yaml")):
        body = yaml.safe_load(path.read_text())
        name = body["metadata"]["name"]
        try:
            ext.create_custom_resource_definition(body)
        except ApiException as exc:
            if exc.status != 409:
                raise
            body["metadata"]["resourceVersion"] = ext.read_custom_resource_definition(
                name
            ).metadata.resource_version
            ext.replace_custom_resource_definition(name, body)
        names.append(name)

    def established(name: str) -> bool:
        conditions = ext.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    for name in names:
        wait_for(lambda name=name: established(name))
    yield names


def _create(api_client: Any, namespace: str, doc: dict[str, Any]) -> dict[str, Any]:
    from kubernetes import client

    api = client.CustomObjectsApi(api_client)
    plural = PLURALS[doc["kind"]]
    result: dict[str, Any] = api.create_namespaced_custom_object(
        GROUP, VERSION, namespace, plural, doc
    )
    return result


def _toy_run(repo_root: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((repo_root / "examples" / "toy-run.yaml").read_text()))


def test_the_crds_become_established(kubegym_crds: list[str]) -> None:
    assert sorted(kubegym_crds) == [
        "benchmarkruns.kubegym.io",
        "tasks.kubegym.io",
        "trials.kubegym.io",
    ]


def test_the_toy_run_applies(
    api_client: Any, kubegym_crds: list[str], namespace: str, repo_root: Path
) -> None:
    from kubernetes import client

    for doc in _toy_run(repo_root):
        _create(api_client, namespace, doc)
    run = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        GROUP, VERSION, namespace, "benchmarkruns", "toy"
    )
    assert run["spec"]["seeds"] == 2
    assert run["spec"]["tasks"]["names"] == ["toy-regression"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"seeds": 0}, ["spec.seeds", "should be greater than or equal to 1"], id="schema"
        ),
        pytest.param(
            {"store": {"local": {"path": "out"}, "s3": {"bucket": "kubegym-runs"}}},
            ["spec.store", "choose exactly one store"],
            id="cel",
        ),
    ],
)
def test_a_malformed_run_is_rejected_naming_the_field(
    api_client: Any,
    kubegym_crds: list[str],
    namespace: str,
    repo_root: Path,
    change: dict[str, Any],
    expected: list[str],
) -> None:
    from kubernetes.client.exceptions import ApiException

    run = copy.deepcopy(next(d for d in _toy_run(repo_root) if d["kind"] == "BenchmarkRun"))
    run["spec"].update(change)
    with pytest.raises(ApiException) as caught:
        _create(api_client, namespace, run)
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    for text in expected:
        assert text in message, message
