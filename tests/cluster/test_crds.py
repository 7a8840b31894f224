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


def test_kubectl_applies_the_example_and_names_the_field_of_a_bad_run(
    dev_cluster: Any, kubegym_crds: list[str], namespace: str, repo_root: Path, tmp_path: Path
) -> None:
    import subprocess

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        command = [dev_cluster.kubectl, f"--kubeconfig={dev_cluster.kubeconfig}", "-n", namespace]
        return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)

    applied = kubectl("apply", "-f", str(repo_root / "examples" / "toy-run.yaml"))
    assert applied.returncode == 0, applied.stderr
    assert "benchmarkrun.kubegym.io/toy created" in applied.stdout
    docs = _toy_run(repo_root)
    run = next(d for d in docs if d["kind"] == "BenchmarkRun")
    run["metadata"]["name"] = "broken"
    run["spec"]["parallelism"] = 0
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(run))
    refused = kubectl("apply", "-f", str(tmp_path / "broken.yaml"))
    assert refused.returncode != 0
    assert "spec.parallelism" in refused.stderr, refused.stderr


def _toy_task(repo_root: Path) -> dict[str, Any]:
    return next(d for d in _toy_run(repo_root) if d["kind"] == "Task")


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = doc
    for key in path[:-1]:
        node = node[key] if isinstance(key, int) else node.setdefault(key, {})
    node[path[-1]] = value


@pytest.mark.parametrize(
    ("kind", "path", "value", "expected"),
    [
        pytest.param(
            "BenchmarkRun",
            ("spec", "agents"),
            [{"name": "twin", "builtin": "baseline"}, {"name": "twin", "builtin": "baseline"}],
            ["spec.agents"],
            id="two-agents-one-name",
        ),
        pytest.param(
            "BenchmarkRun",
            ("spec", "tasks", "names"),
            ["toy-regression", "toy-regression"],
            ["spec.tasks.names"],
            id="a-task-twice",
        ),
        pytest.param(
            "Task",
            ("spec", "evaluation", "script"),
            "../../evaluate.py",
            ["spec.evaluation.script"],
            id="script-dotdot",
        ),
        pytest.param(
            "Task",
            ("spec", "starterCode", "path"),
            "/etc",
            ["spec.starterCode.path"],
            id="starter-absolute",
        ),
        pytest.param(
            "Task",
            ("spec", "datasets"),
            [{"name": "d", "path": "data/../../../secret"}],
            ["spec.datasets", "must be relative and stay inside the task's folder"],
            id="dataset-dotdot",
        ),
        pytest.param(
            "Task", ("spec", "resources", "cpu"), "-1", ["spec.resources.cpu"], id="cpu-negative"
        ),
        pytest.param(
            "Task",
            ("spec", "resources", "memory"),
            -1,
            ["spec.resources.memory", "must be a positive quantity"],
            id="memory-negative-integer",
        ),
    ],
)
def test_the_api_server_refuses_bad_run_files_naming_the_field(
    api_client: Any,
    kubegym_crds: list[str],
    namespace: str,
    repo_root: Path,
    kind: str,
    path: tuple[str | int, ...],
    value: Any,
    expected: list[str],
) -> None:
    """Issue 11 point 10 at admission: what `kubegym validate` refuses, the CRDs refuse too
    (schema patterns, list keys and CEL), naming the field."""
    from kubernetes.client.exceptions import ApiException

    doc = copy.deepcopy(_toy_task(repo_root) if kind == "Task" else _toy_run(repo_root)[-1])
    assert doc["kind"] == kind
    _set(doc, path, value)
    with pytest.raises(ApiException) as caught:
        _create(api_client, namespace, doc)
    assert caught.value.status == 422
    message = json.loads(caught.value.body)["message"]
    for text in expected:
        assert text in message, message
