"""Fixtures of the real-node tests: one development cluster whose node runs real containers.

The cluster is `kubegym dev-cluster up --real-node`'s (`kubegym.devcluster.cluster.up`
with ``real_node=True``): the control plane, a kubelet with containerd and runc, CNI,
kube-proxy, CoreDNS and kubegym's NetworkPolicy controller, and the images of
``make node-images`` pushed to the loopback registry by digest. The tests skip, with
the reason, on a machine that cannot run a node (not root, no usable cgroup
controllers, Debian's container packages missing) or build images; set
``KUBEGYM_SKIP_NODE_TESTS=1`` to skip them anyway.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubegym import images
from kubegym.devcluster import build, cluster, realnode
from tests.support import kube


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = _cannot_run()
    if reason:
        for item in items:
            if "node" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


def _cannot_run() -> str | None:
    if os.environ.get("KUBEGYM_SKIP_NODE_TESTS"):
        return "KUBEGYM_SKIP_NODE_TESTS is set"
    problem = realnode.probe() or images.cannot_build()
    if problem:
        return f"this machine cannot run a real node: {problem}"
    return None


@dataclass(frozen=True)
class NodeCluster:
    """The running cluster, its kubectl, and the node's images by digest."""

    info: cluster.ClusterInfo
    #: Each node image as the node pulls it: ``127.0.0.1:5100/kubegym/<name>@sha256:…``.
    images: dict[str, str]
    lock: images.Lock

    @property
    def kubeconfig(self) -> Path:
        return Path(self.info.kubeconfig)


@pytest.fixture(scope="session")
def node_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeCluster]:
    """A development cluster with the real node only (no KWOK nodes), down at session end."""
    build.ensure_node_binaries()
    lock = images.ensure_node_images()
    state = tmp_path_factory.mktemp("node-cluster")
    info = cluster.up(
        cluster.ClusterOptions(cpu_nodes=0, gpu_nodes=0, state_dir=state, real_node=True)
    )
    try:
        assert info.real_node is not None
        yield NodeCluster(info=info, images=dict(info.real_node["images"]), lock=lock)
    finally:
        cluster.down(state)


@pytest.fixture(scope="session")
def node_api(node_cluster: NodeCluster) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` logged in as the cluster's admin."""
    with kube.admin_client(node_cluster.kubeconfig) as client:
        yield client


@pytest.fixture
def node_namespace(node_api: Any) -> Iterator[str]:
    """A fresh namespace (with its default service account), deleted after the test."""
    with kube.fresh_namespace(node_api, "n", grace_period_seconds=0) as name:
        yield name
