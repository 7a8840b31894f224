"""Fixtures for the cluster tests: one development cluster per session, a fresh namespace per test.

The cluster is started by `kubegym.devcluster.cluster.up`, the code behind
``kubegym dev-cluster up``; the first run builds the binaries (minutes), later runs
start in seconds. Set ``KUBEGYM_SKIP_CLUSTER_TESTS=1`` to skip these tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.devcluster import build, cluster
from tests.support import kube

from . import harness


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = None
    if os.environ.get("KUBEGYM_SKIP_CLUSTER_TESTS"):
        reason = "KUBEGYM_SKIP_CLUSTER_TESTS is set"
    elif not build.is_built() and shutil.which("go") is None:
        reason = "the development cluster's binaries are not cached and Go is missing to build them"
    if reason:
        for item in items:
            if "cluster" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[cluster.ClusterInfo]:
    """A running development cluster: 2 CPU nodes and 2 GPU nodes, stopped at session end."""
    state = tmp_path_factory.mktemp("dev-cluster")
    info = cluster.up(cluster.ClusterOptions(cpu_nodes=2, gpu_nodes=2, state_dir=state))
    try:
        yield info
    finally:
        cluster.down(state)


@pytest.fixture(scope="session")
def api_client(dev_cluster: cluster.ClusterInfo) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` logged in as the cluster's admin."""
    with kube.admin_client(dev_cluster.kubeconfig) as client:
        yield client


@pytest.fixture
def namespace(api_client: Any) -> Iterator[str]:
    """A fresh namespace with its default service account, deleted after the test."""
    with kube.fresh_namespace(api_client, "t") as name:
        yield name


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder (session-scoped twin of the `repo` fixture)."""
    return Path(__file__).resolve().parents[2]


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
        kube.wait_for(lambda name=name: established(name))
    yield names


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real S3 server (MinIO, built once from its Go module) for the session."""
    from kubegym.devcluster import minio

    if not minio.is_built() and not minio.can_build():
        pytest.skip("MinIO is not built and Go is missing to build it")
    state = tmp_path_factory.mktemp("minio")
    server = minio.start(state)
    try:
        yield server
    finally:
        minio.stop(state)


@pytest.fixture(scope="session")
def cluster_role(api_client: Any, kubegym_crds: list[str], repo_root: Path) -> dict[str, Any]:
    """operator/rbac.yaml's ClusterRole, applied once (with the CRDs it names)."""
    return harness.apply_cluster_role(api_client, repo_root)


@pytest.fixture
def operator_kubeconfig(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    cluster_role: dict[str, Any],
    namespace: str,
    tmp_path: Path,
) -> Path:
    """A kubeconfig with the token of the operator's ServiceAccount bound in `namespace`."""
    return harness.operator_kubeconfig(
        api_client, Path(dev_cluster.kubeconfig), namespace, tmp_path / "operator.kubeconfig"
    )


@pytest.fixture
def operator(
    operator_kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[harness.OperatorProcess]:
    """`kubegym operator` as a subprocess watching `namespace`; its log's tail printed at the end."""
    process = harness.OperatorProcess(
        operator_kubeconfig, namespace, tmp_path / "operator.log"
    ).start()
    try:
        yield process
    finally:
        process.stop()
        print(process.log()[-5000:])


@pytest.fixture
def kubelet(api_client: Any, namespace: str) -> harness.Kubelet:
    """Plays the kubelet's part KWOK leaves out: ends agent containers, OOM-kills, evicts."""
    return harness.Kubelet(api_client, namespace)


@pytest.fixture
def custom(api_client: Any) -> Any:
    """The CustomObjectsApi of the admin client."""
    from kubernetes import client

    return client.CustomObjectsApi(api_client)
