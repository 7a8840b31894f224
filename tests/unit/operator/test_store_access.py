"""The agent pod reaches the run's store with what the store's backend asks for (its Secret keys
as variables, its ports), and only kubegym's own agent runner gets it: the operator knows no
backend by name."""

from __future__ import annotations

from typing import Any

import pytest

from kubegym.api import runs
from kubegym.operator import objects
from kubegym.store import backends
from kubegym.store import s3 as s3_store
from tests.unit.operator.builders import attempt, run_spec

MINIO = {
    "s3": {"bucket": "results", "endpoint": "http://minio.store:9000", "credentialsSecret": "c"}
}


def secret_vars(pod: dict[str, Any]) -> dict[str, tuple[str, str]]:
    (container,) = pod["spec"]["containers"]
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "valueFrom" in e and e["valueFrom"]["secretKeyRef"]["name"] != pod_secret(pod)
    }


def pod_secret(pod: dict[str, Any]) -> str:
    return str(pod["metadata"]["name"]).removesuffix("-agent")


def store_rules(a: objects.Attempt) -> list[dict[str, Any]]:
    return [rule for rule in objects.agent_egress(a.agent, a.run, a.settings) if "to" not in rule]


def test_an_s3_store_gives_the_runner_its_backends_keys_and_ports() -> None:
    a = attempt(run=run_spec(store=MINIO))
    assert secret_vars(objects.agent_pod(a)) == {
        "AWS_ACCESS_KEY_ID": ("c", "AWS_ACCESS_KEY_ID"),
        "AWS_SECRET_ACCESS_KEY": ("c", "AWS_SECRET_ACCESS_KEY"),
    }
    assert store_rules(a) == [{"ports": [{"protocol": "TCP", "port": 9000}]}]


def test_a_folder_store_gives_the_agent_pod_nothing() -> None:
    a = attempt(run=run_spec(store={"local": {"path": "/data/out"}}))
    assert objects.store_access(a.agent, a.run, a.settings) == backends.PodAccess()
    assert secret_vars(objects.agent_pod(a)) == {} and store_rules(a) == []


def test_an_external_image_gets_no_store_access_whatever_the_backend_asks() -> None:
    run = run_spec(agents=[{"name": "ext", "image": "registry.example/agent:1"}], store=MINIO)
    a = attempt(run=run, agent="ext")
    assert secret_vars(objects.agent_pod(a)) == {} and store_rules(a) == []


def test_the_operator_asks_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[runs.Store] = []

    def pod_access(self: object, spec: runs.Store) -> backends.PodAccess:
        asked.append(spec)
        return backends.PodAccess(env=(backends.SecretEnv("TOKEN", "vault", "t"),), ports=(8200,))

    monkeypatch.setattr(s3_store.S3Backend, "pod_access", pod_access)
    a = attempt(run=run_spec(store=MINIO))
    assert secret_vars(objects.agent_pod(a)) == {"TOKEN": ("vault", "t")}
    assert store_rules(a) == [{"ports": [{"protocol": "TCP", "port": 8200}]}]
    assert asked and asked[0].s3 is not None and asked[0].s3.bucket == "results"
