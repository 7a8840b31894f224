"""``kubegym dev-cluster kubelet`` finishes a run on the development cluster by itself.

The operator (as its ServiceAccount) and the dev-cluster kubelet run as
subprocesses; the test only applies a run of polyfit with the baseline and the
replay agents and waits: the kubelet runs every attempt's programs on this
machine and reports the agent containers' ends, and the run reaches Succeeded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kubegym.devcluster import cluster
from tests.support.kube import wait_for

from . import stack
from .harness import G, OperatorProcess, V

pytestmark = pytest.mark.cluster


def test_the_dev_cluster_kubelet_runs_a_run_to_its_end(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    operator_kubeconfig: Path,
    namespace: str,
    repo_root: Path,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    custom = client.CustomObjectsApi(api_client)
    operator = OperatorProcess(operator_kubeconfig, namespace, tmp_path / "operator.log").start()
    kubelet_log = tmp_path / "kubelet.log"
    env = {**os.environ, "KUBEGYM_TASK_PATH": ""}
    env.pop("KUBECONFIG", None)
    with kubelet_log.open("wb") as out:
        kubelet = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubegym",
                "--log-format",
                "json",
                "dev-cluster",
                "kubelet",
                "--state-dir",
                dev_cluster.state_dir,
                "--namespace",
                namespace,
                "--parallel",
                "2",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        store = {"local": {"path": str(tmp_path / "store")}}
        run = stack.polyfit_run("dev", repo_root, store)
        custom.create_namespaced_custom_object(
            G, V, namespace, "tasks", stack.polyfit_task(repo_root)
        )
        custom.create_namespaced_custom_object(G, V, namespace, "benchmarkruns", run)

        def finished() -> dict[str, Any] | None:
            assert kubelet.poll() is None, kubelet_log.read_text()[-3000:]
            body = custom.get_namespaced_custom_object(G, V, namespace, "benchmarkruns", "dev")
            status: dict[str, Any] = body.get("status") or {}
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        status = wait_for(finished, timeout=300, interval=1.0)
        trials = custom.list_namespaced_custom_object(G, V, namespace, "trials")["items"]
        outcomes = {t["metadata"]["name"]: t["status"].get("message") for t in trials}
        assert status["phase"] == "Succeeded", (outcomes, kubelet_log.read_text()[-3000:])
        scores = {t["spec"]["agent"]: t["status"]["score"] for t in trials}
        assert scores["replay"] > scores["baseline"] > 0, scores
        log = kubelet_log.read_text()
        assert log.count("kubelet_attempt_finished") == 2, log[-3000:]
        for trial in trials:
            work = Path(dev_cluster.state_dir) / "kubelet" / f"{trial['metadata']['name']}-a0"
            assert (work / "agent.stderr").is_file()
            assert (work / "evaluator.stderr").is_file()
    finally:
        if kubelet.poll() is None:
            kubelet.send_signal(signal.SIGINT)
            try:
                kubelet.wait(30)
            except subprocess.TimeoutExpired:
                kubelet.kill()
                kubelet.wait()
        operator.stop()
        print(operator.log()[-3000:])
        print(kubelet_log.read_text(errors="replace")[-3000:])
