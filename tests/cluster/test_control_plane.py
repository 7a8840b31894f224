"""The control plane itself: the apiserver serves, tokens are issued, the garbage collector runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubegym.cli.dev_cluster import dev_cluster as dev_cluster_cli
from kubegym.devcluster import cluster, controlplane
from tests.support.kube import wait_for

pytestmark = pytest.mark.cluster


def test_the_apiserver_serves_and_reports_its_release(
    dev_cluster: cluster.ClusterInfo, api_client: Any
) -> None:
    from kubernetes import client

    assert dev_cluster.apiserver.startswith("https://127.0.0.1:")
    version = client.VersionApi(api_client).get_code()
    assert version.git_version == "v1.34.2"
    nodes = client.CoreV1Api(api_client).list_node().items
    assert sorted(n.metadata.name for n in nodes) == [
        "kwok-cpu-0",
        "kwok-cpu-1",
        "kwok-gpu-0",
        "kwok-gpu-1",
    ]


def test_status_says_up_with_the_kubeconfig(dev_cluster: cluster.ClusterInfo) -> None:
    result = CliRunner().invoke(dev_cluster_cli, ["status", "--state-dir", dev_cluster.state_dir])
    assert result.exit_code == 0, result.output
    assert f'"kubeconfig": "{dev_cluster.kubeconfig}"' in result.output
    assert set(dev_cluster.pids) == set(controlplane.COMPONENTS)


def test_status_of_an_empty_state_dir_says_down(tmp_path: Path) -> None:
    result = CliRunner().invoke(dev_cluster_cli, ["status", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert '"up": false' in result.output


def test_a_service_account_token_is_issued(api_client: Any, namespace: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "runner"}})
    request = {"spec": {"audiences": [], "expirationSeconds": 600}}
    token = core.create_namespaced_service_account_token("runner", namespace, request)
    assert token.status.token.count(".") == 2  # a signed JWT
    review = client.AuthenticationV1Api(api_client).create_token_review(
        {"spec": {"token": token.status.token}}
    )
    assert review.status.authenticated
    assert review.status.user.username == f"system:serviceaccount:{namespace}:runner"


def test_deleting_an_owner_deletes_its_dependents(api_client: Any, namespace: str) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "owner",
        "uid": owner.metadata.uid,
    }
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "dependent", "ownerReferences": [ref]}}
    )
    core.delete_namespaced_config_map("owner", namespace)

    def dependent_gone() -> bool:
        try:
            core.read_namespaced_config_map("dependent", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    wait_for(dependent_gone, timeout=60)
