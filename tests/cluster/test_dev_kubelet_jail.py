"""A prisoner's dilemma trial on the development cluster plays its strategy in the jail container.

The operator and ``kubegym dev-cluster kubelet`` run as subprocesses; the kubelet runs the
sandbox pod's three programs: the sandbox server, the evaluator and the jail container's
``jail-serve``. The built-in baseline agent submits the starter strategy; the evaluator
forwards the strategy to the jail server, whose jail plays it. The run reaches Succeeded
with the evaluator's honest score, and the jail server's log shows the jail it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.devcluster import cluster
from tests.support.kube import wait_for

from .harness import G, OperatorProcess, V

pytestmark = pytest.mark.cluster
PD = "prisoners-dilemma"


def test_a_strategy_is_played_in_the_jail_container_end_to_end(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    operator_kubeconfig: Path,
    namespace: str,
    repo_root: Path,
    tmp_path: Path,
) -> None:
    from kubernetes import client

    from tests.tasks.conftest import prepared

    prepared(PD)  # the kubelet lays the data out from the prepared cache
    custom = client.CustomObjectsApi(api_client)
    operator = OperatorProcess(operator_kubeconfig, namespace, tmp_path / "operator.log").start()
    kubelet_log = tmp_path / "kubelet.log"
    env = {**os.environ, "KUBEGYM_TASK_PATH": ""}
    env.pop("KUBECONFIG", None)
    argv = [sys.executable, "-m", "kubegym", "--log-format", "json", "dev-cluster", "kubelet"]
    argv += ["--state-dir", dev_cluster.state_dir, "--namespace", namespace]
    with kubelet_log.open("wb") as out:
        kubelet = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        task: dict[str, Any] = yaml.safe_load(
            (repo_root / "task_images" / PD / "task.yaml").read_text()
        )
        task["spec"]["image"] = f"registry.invalid/kubegym/task-{PD}:0.1"
        task["spec"]["resources"] = {"cpu": "1", "memory": "2Gi"}
        run = {
            "apiVersion": f"{G}/{V}",
            "kind": "BenchmarkRun",
            "metadata": {"name": "jail"},
            "spec": {
                "tasks": {"names": [PD]},
                "agents": [{"name": "baseline", "builtin": "baseline"}],
                "seeds": 1,
                "store": {"local": {"path": str(tmp_path / "store")}},
            },
        }
        custom.create_namespaced_custom_object(G, V, namespace, "tasks", task)
        custom.create_namespaced_custom_object(G, V, namespace, "benchmarkruns", run)

        def finished() -> dict[str, Any] | None:
            assert kubelet.poll() is None, kubelet_log.read_text()[-3000:]
            body = custom.get_namespaced_custom_object(G, V, namespace, "benchmarkruns", "jail")
            status: dict[str, Any] = body.get("status") or {}
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        status = wait_for(finished, timeout=600, interval=1.0)
        listed: dict[str, Any] = custom.list_namespaced_custom_object(G, V, namespace, "trials")
        (trial,) = listed["items"]
        assert status["phase"] == "Succeeded", (trial["status"], kubelet_log.read_text()[-3000:])
        score = trial["status"]["score"]
        assert 0 < score <= 5, trial["status"]  # a real game's score, not a forged one
        work = Path(dev_cluster.state_dir) / "kubelet" / f"{trial['metadata']['name']}-a0"
        jail_log = (work / "jail.stderr").read_text()
        assert "jail_started" in jail_log and "adapter=builtin:call" in jail_log, jail_log
        assert work.stat().st_mode & 0o077 == 0, "the attempt's folder is the kubelet's alone"
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
