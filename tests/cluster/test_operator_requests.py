"""The operator's count of its own API requests against the real API server: each create,
refused create and delete of something gone is counted once, under the verb, resource and
status code the API server itself reports for it."""

from __future__ import annotations

from pathlib import Path

from kubegym import metrics
from kubegym.operator import kube, labels


def count(verb: str, resource: str, code: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "kubegym_operator_api_requests_total",
        {"verb": verb, "resource": resource, "code": code},
    )
    return value or 0.0


def test_the_operator_counts_each_request_it_makes(
    operator_kubeconfig: Path, namespace: str
) -> None:
    api = kube.connect(str(operator_kubeconfig))
    calls = kube.Kube(api)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "counted",
            "namespace": namespace,
            "labels": {labels.MANAGED_BY: "kubegym", labels.TRIAL: "t"},
        },
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/x:1"}]},
    }
    asked = [("POST", "pods", "201"), ("POST", "pods", "409"), ("DELETE", "pods", "404")]
    asked += [("DELETE", "pods", "200"), ("LIST", "pods", "200")]
    before = {key: count(*key) for key in asked}
    try:
        assert calls.create(pod) is True
        assert calls.create(pod) is False  # exists: a 409, counted as one
        calls.delete("Pod", namespace, "never-made")  # gone already: a 404, counted as one
        calls.delete("Pod", namespace, "counted")
        calls.list_keys("pods", namespace)
    finally:
        api.close()
    assert {key: count(*key) - before[key] for key in asked} == dict.fromkeys(asked, 1.0)
