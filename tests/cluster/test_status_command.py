"""`kubegym status` against the real control plane: a run's state, read as a person would.

A small run (one task, two agents, one seed) played to its end by the operator,
then `kubegym status` in a subprocess (not a terminal: printed once): as the
admin, and as a ServiceAccount that may only get and list runs and trials; a run
that does not exist, or an account without those rights, is one line and exit 1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.devcluster import cluster

from .harness import Kubelet, OperatorProcess
from .resources import apply, benchmark_run, phase_is, play, summary_for, task

pytestmark = pytest.mark.cluster


def _status(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubegym", "status", *args, "--kubeconfig", kubeconfig],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )


def _account_kubeconfig(
    api_client: Any, admin: Path, namespace: str, account: str, out: Path, rules: list[Any]
) -> str:
    """A kubeconfig for a new ServiceAccount of `namespace` holding only ``rules``."""
    from kubernetes import client

    core: Any = client.CoreV1Api(api_client)
    rbac: Any = client.RbacAuthorizationV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    if rules:
        rbac.create_namespaced_role(namespace, {"metadata": {"name": account}, "rules": rules})
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": account},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": account,
                },
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
            },
        )
    token = core.create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    config = yaml.safe_load(admin.read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"].update(user=account, namespace=namespace)
    out.write_text(yaml.safe_dump(config))
    return str(out)


def test_status_prints_a_cluster_runs_state(
    operator: OperatorProcess,
    kubelet: Kubelet,
    custom: Any,
    api_client: Any,
    namespace: str,
    dev_cluster: cluster.ClusterInfo,
    tmp_path: Path,
) -> None:
    apply(
        custom,
        namespace,
        task("alpha"),
        benchmark_run("shown", ["alpha"], ["a1", "a2"], seeds=1, parallelism=2, budgetUsd=4),
    )
    play(
        kubelet,
        phase_is(custom, namespace, "shown", "Succeeded", "Failed"),
        lambda pod: kubelet.finish_agent(pod, summary_for(0.8)),
    )
    shown = _status(dev_cluster.kubeconfig, "shown", "-n", namespace)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "kubegym status shown" in text and "Succeeded" in text and "finished" in text
    assert "trials 2/2" in text and "done 2" in text and "queued 0" in text
    assert "spend $0.50 of $4.00 (12%)" in text  # 0.25 per trial (summary_for)
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["a1"][1] == "1" and rows["a2"][1] == "1"  # one finished trial each
    assert "AUP" in text

    missing = _status(dev_cluster.kubeconfig, "nope", "-n", namespace)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"error: BenchmarkRun 'nope' not found in namespace '{namespace}'"
    )

    # Reading runs and trials is all it takes; the namespace comes from the context.
    admin = Path(dev_cluster.kubeconfig)
    reader = _account_kubeconfig(
        api_client,
        admin,
        namespace,
        "status-reader",
        tmp_path / "reader",
        [
            {
                "apiGroups": ["kubegym.io"],
                "resources": ["benchmarkruns", "trials"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    )
    by_reader = _status(reader, "shown")
    assert by_reader.returncode == 0, by_reader.stderr
    assert "trials 2/2" in by_reader.stdout and "Succeeded" in by_reader.stdout
    nobody = _account_kubeconfig(api_client, admin, namespace, "nobody", tmp_path / "nobody", [])
    refused = _status(nobody, "shown")
    assert refused.returncode == 1
    assert "not allowed to read BenchmarkRun 'shown'" in refused.stderr
    assert "get and list on benchmarkruns and trials" in refused.stderr
