"""The real node itself: Ready, pulling by digest from the loopback registry, DNS and Services."""

from __future__ import annotations

from typing import Any

import pytest

from kubegym.devcluster import realnode
from tests.support.kube import wait_for

from .conftest import NodeCluster
from .pods import python_pod, run_pod

pytestmark = pytest.mark.node


def test_the_node_is_ready_with_a_real_runtime(node_cluster: NodeCluster, node_api: Any) -> None:
    from kubernetes import client

    node = client.CoreV1Api(node_api).read_node(realnode.NODE)
    assert node.metadata.labels.items() >= realnode.LABELS.items()
    assert node.status.node_info.container_runtime_version.startswith("containerd://")
    addresses = {a.type: a.address for a in node.status.addresses}
    assert addresses["InternalIP"] == realnode.NODE_IP


def test_a_pod_runs_the_locked_image_by_digest(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    """The kubelet pulls by digest from the registry; imageID names the lock's digest."""
    reference = node_cluster.images["kubegym"]
    code = "import os, sys; print(os.getuid(), sys.version_info[:2])"
    status = run_pod(node_api, node_namespace, python_pod("digest", reference, code))
    assert status["phase"] == "Succeeded", status
    assert status["logs"].split()[0] == "1000"
    (container,) = status["containerStatuses"]
    assert container["imageID"].endswith("@" + node_cluster.lock.image("kubegym").digest)


def test_pods_resolve_services_and_reach_the_apiserver_through_its_service(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    """CoreDNS answers the cluster's names; kube-proxy carries the `kubernetes` Service."""
    code = (
        "import os, socket, ssl\n"
        "address = socket.gethostbyname('kubernetes.default.svc.cluster.local')\n"
        "host = os.environ['KUBERNETES_SERVICE_HOST']\n"
        "socket.create_connection((host, 443), timeout=5).close()\n"
        "try:\n"
        "    socket.gethostbyname('pypi.org')\n"
        "    outside = 'resolved'\n"
        "except OSError:\n"
        "    outside = 'unresolved'\n"
        "print(address, host, outside)\n"
    )
    status = run_pod(
        node_api, node_namespace, python_pod("dns", node_cluster.images["kubegym"], code)
    )
    assert status["phase"] == "Succeeded", status
    assert status["logs"].split() == ["10.0.0.1", "10.0.0.1", "unresolved"]


def test_a_missing_image_is_a_pull_error_with_its_reason(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    from kubernetes import client

    core = client.CoreV1Api(node_api)
    missing = f"{node_cluster.info.real_node['registry']}/kubegym/absent@sha256:{'0' * 64}"  # type: ignore[index]
    core.create_namespaced_pod(node_namespace, python_pod("absent", missing, "pass"))

    def waiting_reason() -> str | None:
        statuses = core.read_namespaced_pod("absent", node_namespace).status.container_statuses
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.reason if waiting and waiting.reason != "ContainerCreating" else None

    assert wait_for(waiting_reason, 60) in ("ErrImagePull", "ImagePullBackOff")
