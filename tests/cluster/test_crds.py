"""kubegym's CRDs on a real apiserver: they install, the example applies, bad runs are refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.cluster

GROUP, VERSION = "kubegym.io", "v1alpha1"
PLURALS = {"Task": "tasks", "BenchmarkRun": "benchmarkruns", "Trial": "trials"}


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
