"""Scheduling onto KWOK's fake nodes: GPU pods land on GPU nodes and run, CPU pods never do."""

from __future__ import annotations

from typing import Any

import pytest

from kubegym.devcluster import nodes
from tests.support.kube import wait_for

pytestmark = pytest.mark.cluster


def _pod(name: str, limits: dict[str, str], tolerate_gpu: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "main",
                "image": "busybox",
                "resources": {"limits": limits, "requests": limits},
            }
        ],
        "automountServiceAccountToken": False,
    }
    if tolerate_gpu:
        spec["tolerations"] = [
            {"key": nodes.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        ]
    return {"metadata": {"name": name}, "spec": spec}


def _running_pod(core: Any, name: str, namespace: str) -> Any:
    def running() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase == "Running" else None

    return wait_for(running, timeout=60)


def test_a_gpu_pod_lands_on_a_gpu_node_and_runs(api_client: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    limits = {"cpu": "1", "memory": "1Gi", nodes.GPU_RESOURCE: "1"}
    core.create_namespaced_pod(namespace, _pod("gpu", limits, tolerate_gpu=True))
    pod = _running_pod(core, "gpu", namespace)
    node = core.read_node(pod.spec.node_name)
    assert node.metadata.labels[nodes.GPU_PRODUCT_LABEL] == nodes.GPU_PRODUCT
    assert node.status.allocatable[nodes.GPU_RESOURCE] == str(nodes.GPUS_PER_NODE)


def test_cpu_pods_never_land_on_a_gpu_node(api_client: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    names = [f"cpu-{i}" for i in range(6)]
    for name in names:
        core.create_namespaced_pod(namespace, _pod(name, {"cpu": "1", "memory": "1Gi"}, False))
    for name in names:
        pod = _running_pod(core, name, namespace)
        assert pod.spec.node_name.startswith("kwok-cpu-"), pod.spec.node_name
