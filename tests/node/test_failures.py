"""Failures on a real kubelet are attributed as the security model says: no free re-rolls.

Each test is one run of a scripted model agent on polyfit, through the chart's
operator pod (tests/node/test_trials.py's ``release``). The agent's own doings — an
OOM kill of its sandbox by the real cgroup, killing the sandbox's server, filling
its disk past the pod's ephemeral-storage limit — end its trial as the agent's
failure on attempt 0; what the platform does — an image that cannot be pulled, a
node drained mid-trial — is an infrastructure failure, retried.
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

import pytest

from kubegym.devcluster import realnode
from tests.support.kube import wait_for

from . import stack
from .conftest import NodeCluster
from .test_trials import release  # noqa: F401  (the chart's operator, installed once)

pytestmark = [pytest.mark.node, pytest.mark.usefixtures("release")]


def small_polyfit(node: NodeCluster, **resources: str) -> dict[str, Any]:
    """polyfit with a small CPU request (two trials fit the node) and ``resources``."""
    task = stack.polyfit_task(node)
    task["spec"]["resources"] = {"cpu": "250m", "memory": "512Mi", **resources}
    return task


def assert_agents_failure(trial: dict[str, Any], reason: str) -> None:
    status = trial["status"]
    assert (status.get("exitReason"), status.get("failureClass")) == (reason, "agent"), status
    assert status["attempt"] == 0 and not status.get("infraFailures"), "a free re-roll"
    assert status.get("score") is None


def test_a_memory_hog_is_killed_by_the_real_cgroup_and_cannot_take_the_server_along(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    """The kernel's OOM killer, at the container's memory limit, kills the hog — even after
    the agent raised the server's (PID 1's) OOM score to the maximum, since the kubelet
    already gave every process of the container a high one. The agent is shown exit 137;
    its trial goes on (its own doing, no retry) and scores what it submits."""
    hog = (
        "echo 1000 > /proc/1/oom_score_adj; cat /proc/1/oom_score_adj; "
        "python -c 'b = [bytearray(64 * 2**20) for _ in range(64)]'; echo exit=$?"
    )
    _, trial, shown = stack.run_scripted(
        node_cluster, node_api, node_namespace, "hog", [hog, "echo still-serving", *stack.SOLVE],
        task=small_polyfit(node_cluster),
    )  # fmt: skip
    assert "1000" in shown[0] and "exit=137" in shown[0], shown[0]
    assert "still-serving" in shown[1], shown[1]
    status = trial["status"]
    assert status["exitReason"] == "submitted" and status["attempt"] == 0, status
    assert not status.get("infraFailures") and status["score"] > 0.9


def test_the_sandbox_server_survives_sigkill_and_stopping_it_is_the_agents_failure(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    """The server is its container's PID 1: the kernel drops a SIGKILL sent from inside
    the container, and a SIGTERM stops it cleanly — which ends the trial as the agent's."""
    commands = ["kill -9 1; echo kill=$?", "echo still-serving", "kill -TERM 1", "ls"]
    _, trial, shown = stack.run_scripted(
        node_cluster, node_api, node_namespace, "kill", commands,
        task=small_polyfit(node_cluster),
    )  # fmt: skip
    assert "still-serving" in shown[1], shown
    assert_agents_failure(trial, "sandbox_killed")


@pytest.fixture(scope="module")
def disk_trial(
    node_cluster: NodeCluster,
    node_api: Any,
    release: dict[str, Any],  # noqa: F811  (the module fixture imported above)
) -> dict[str, Any]:
    """A trial whose agent fills its workspace past the pod's 200Mi ephemeral-storage limit."""
    from kubernetes import client

    namespace = f"disk-{int(time.time())}"
    client.CoreV1Api(node_api).create_namespace({"metadata": {"name": namespace}})
    time.sleep(2)  # the namespace's default service account
    fill = "head -c 400000000 /dev/urandom > big.bin; ls -la big.bin; sleep 100"
    _, trial, _ = stack.run_scripted(
        node_cluster, node_api, namespace, "disk", ["python baseline.py", fill],
        task=small_polyfit(node_cluster, ephemeralStorage="200Mi"),
    )  # fmt: skip
    return trial


def test_filling_the_disk_past_the_pods_limit_is_the_agents_failure(
    disk_trial: dict[str, Any],
) -> None:
    """The kubelet's eviction manager measures the workspace emptyDir and evicts the pod:
    the trial ends as the agent's failure on attempt 0 (no free re-roll)."""
    status = disk_trial["status"]
    assert status.get("failureClass") == "agent", status
    assert status["attempt"] == 0 and not status.get("infraFailures")
    assert status.get("score") is None


def test_filling_the_disk_is_named_storage_limit(disk_trial: dict[str, Any]) -> None:
    """The pod turns Succeeded before its Evicted reason can land (its servers exit 0 on
    the kubelet's SIGTERM); the operator reads the kubelet's Evicted event instead."""
    status = disk_trial["status"]
    assert status["exitReason"] == "storage_limit", status
    assert "its own storage limit" in status["message"], status["message"]


def test_an_image_that_cannot_be_pulled_is_an_infrastructure_failure_naming_it(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    task = small_polyfit(node_cluster)
    absent = f"{node_cluster.info.real_node['registry']}/kubegym/absent@sha256:{'0' * 64}"  # type: ignore[index]
    task["spec"]["image"] = absent
    status, trial, _ = stack.run_scripted(
        node_cluster, node_api, node_namespace, "pull", ["submit"], task=task
    )
    assert status["phase"] == "Failed"
    trial_status = trial["status"]
    assert trial_status["failureClass"] == "infra", trial_status
    failures = trial_status["infraFailures"]
    assert len(failures) == 2  # the first attempt and the one retry the run allows
    assert all(f["reason"] == "ImagePullFailed" and absent in f["message"] for f in failures)
    pulled = {i["container"]: i for i in trial_status["images"]}
    assert pulled["workspace"].get("digest") is None


def test_a_node_drained_mid_trial_is_retried_as_infrastructure(
    node_cluster: NodeCluster, node_api: Any, node_namespace: str
) -> None:
    """`kubectl drain` evicts the trial's pods (through the Eviction API); after `uncordon`
    the retry runs and scores."""
    from kubernetes import client

    core = client.CoreV1Api(node_api)
    kubectl = [node_cluster.info.kubectl, "--kubeconfig", str(node_cluster.kubeconfig)]

    def drain_when_running() -> None:
        def agent_running() -> bool:
            pods = core.list_namespaced_pod(node_namespace, label_selector="kubegym.io/role=agent")
            return any(p.status.phase == "Running" for p in pods.items)

        wait_for(agent_running, 180)
        time.sleep(2)
        subprocess.run(
            [*kubectl, "drain", realnode.NODE, "--force", "--delete-emptydir-data",
             "--ignore-daemonsets", "--pod-selector=kubegym.io/role", "--timeout=120s"],
            check=True, capture_output=True, timeout=150,
        )  # fmt: skip
        subprocess.run([*kubectl, "uncordon", realnode.NODE], check=True, capture_output=True)

    drainer = threading.Thread(target=drain_when_running, daemon=True)
    drainer.start()
    try:
        # The first attempt sleeps long enough to be drained; the retry gets a fresh script.
        status, trial, _ = stack.run_scripted(
            node_cluster, node_api, node_namespace, "drain",
            ["sleep 30", "sleep 30", *stack.SOLVE, *stack.SOLVE],
            task=small_polyfit(node_cluster),
        )  # fmt: skip
    finally:
        drainer.join(timeout=200)
        subprocess.run([*kubectl, "uncordon", realnode.NODE], capture_output=True, check=False)
    trial_status = trial["status"]
    assert status["phase"] == "Succeeded", trial_status
    assert trial_status["attempt"] == 1
    (failure,) = trial_status["infraFailures"]
    assert failure["attempt"] == 0, failure
