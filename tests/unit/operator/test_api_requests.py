"""The operator counts its own requests to the Kubernetes API by verb, resource and status
code, named as the API server's ``apiserver_request_total`` names them, so the two can be
set side by side (bench/operator_scale.py tells the operator's writes from everyone else's)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from kubegym import metrics
from kubegym.operator import kube

H = "https://10.0.0.1:6443"


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("POST", f"{H}/api/v1/namespaces/a/pods", ("POST", "pods")),
        ("DELETE", f"{H}/api/v1/namespaces/a/pods/t-a0-agent", ("DELETE", "pods")),
        ("GET", f"{H}/api/v1/namespaces/a/pods/p", ("GET", "pods")),
        ("GET", f"{H}/api/v1/namespaces/a/pods?labelSelector=x&limit=500", ("LIST", "pods")),
        ("GET", f"{H}/api/v1/pods?labelSelector=kubegym.io%2Fmanaged-by", ("LIST", "pods")),
        ("get", f"{H}/api/v1/namespaces/a/events?fieldSelector=x", ("LIST", "events")),
        ("GET", f"{H}/api/v1/namespaces/a", ("GET", "namespaces")),
        ("GET", f"{H}/api/v1/namespaces", ("LIST", "namespaces")),
        ("POST", f"{H}/api/v1/namespaces/a/services", ("POST", "services")),
        (
            "PATCH",
            f"{H}/apis/kubegym.io/v1alpha1/namespaces/a/trials/t/status",
            ("PATCH", "kubegym.io/trials/status"),
        ),
        (
            "PATCH",
            f"{H}/apis/kubegym.io/v1alpha1/namespaces/a/benchmarkruns/r",
            ("PATCH", "kubegym.io/benchmarkruns"),
        ),
        (
            "GET",
            f"{H}/apis/kubegym.io/v1alpha1/trials?limit=500",
            ("LIST", "kubegym.io/trials"),
        ),
        (
            "POST",
            f"{H}/apis/networking.k8s.io/v1/namespaces/a/networkpolicies",
            ("POST", "networking.k8s.io/networkpolicies"),
        ),
        (
            "PUT",
            f"{H}/apis/coordination.k8s.io/v1/namespaces/a/leases/kubegym",
            ("PUT", "coordination.k8s.io/leases"),
        ),
        ("GET", f"{H}/apis", ("GET", "other")),
        ("GET", f"{H}/api/v1", ("GET", "other")),
        ("GET", f"{H}/version", ("GET", "other")),
    ],
)
def test_a_request_is_named_as_the_api_server_names_it(
    method: str, url: str, expected: tuple[str, str]
) -> None:
    assert kube.request_kind(method, url) == expected


def sample(verb: str, resource: str, code: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "kubegym_operator_api_requests_total",
        {"verb": verb, "resource": resource, "code": code},
    )
    return value or 0.0


class Answer:
    status = 201


def test_every_request_is_counted_once_whatever_its_answer() -> None:
    url = f"{H}/api/v1/namespaces/counted/secrets"
    outcomes: list[Any] = [Answer(), ApiException(status=409), ConnectionResetError("reset")]

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    before = {code: sample("POST", "secrets", code) for code in ("201", "409", "error")}
    count = kube.counted(request)
    assert count("POST", url, body={}).status == 201
    with pytest.raises(ApiException):
        count("POST", url, body={})
    with pytest.raises(ConnectionResetError):
        count("POST", url, body={})
    after = {code: sample("POST", "secrets", code) for code in ("201", "409", "error")}
    assert {code: after[code] - before[code] for code in after} == {
        "201": 1.0,
        "409": 1.0,
        "error": 1.0,
    }
