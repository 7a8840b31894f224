"""The dev-cluster kubelet gives the sandbox server here what the sandbox container would
get: its trial's egress proxy variables, from the pod the operator built and its Secret."""

from __future__ import annotations

from typing import Any

from kubegym.devcluster.kubelet import attempts
from kubegym.operator import objects
from tests.unit.operator import builders
from tests.unit.operator.test_egress_objects import SETTINGS


def _built(hosts: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The sandbox container and the Secrets (name → data) of an attempt with ``hosts``."""
    a = builders.attempt(task_obj=builders.task(egress={"hosts": hosts}), settings=SETTINGS)
    manifests = objects.attempt_objects(a, clock=lambda: 1_700_000_000.0)
    secrets = {m["metadata"]["name"]: m["stringData"] for m in manifests if m["kind"] == "Secret"}
    (pod,) = [m for m in manifests if m["metadata"]["name"] == a.sandbox_pod]
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "sandbox"]
    return container, secrets


def test_the_sandbox_server_gets_its_trials_proxy() -> None:
    container, secrets = _built(["pypi.org"])
    env = attempts.sandbox_env(container, secrets.__getitem__)
    (url,) = {v for k, v in env.items() if k.lower().endswith("_proxy") and "no_" not in k.lower()}
    assert url == next(iter(secrets.values()))[objects.egress.PROXY_URL]
    assert set(env) == attempts.SANDBOX_VARIABLES  # HOME and the rest stay this machine's


def test_without_egress_hosts_it_gets_no_proxy() -> None:
    container, secrets = _built([])
    assert attempts.sandbox_env(container, secrets.__getitem__) == {}
