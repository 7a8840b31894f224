"""What the operator tests need around the real control plane: the operator and a kubelet.

`OperatorProcess` runs ``kubegym operator`` as a subprocess (so a test can kill
it mid-run) with a token of the ServiceAccount bound to ``operator/rbac.yaml``'s
ClusterRole in the test's namespace — never as admin. `Kubelet` plays the
kubelet's part that KWOK leaves out: KWOK moves bound pods to Running, and the
test then ends containers the way a real node would (a terminated agent
container with its termination message, an OOMKilled sandbox, an eviction).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from kubegym.api.summary import EvaluatorRecord, TrialSummary
from kubegym.devcluster import kubelet
from kubegym.devcluster.processes import free_port

G, V = "kubegym.io", "v1alpha1"
SA = "kubegym-operator"


def apply_cluster_role(api_client: Any, repo_root: Path) -> dict[str, Any]:
    """Create (or update) the ClusterRole of operator/rbac.yaml; return its manifest."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    docs = list(yaml.safe_load_all((repo_root / "operator" / "rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    rbac = client.RbacAuthorizationV1Api(api_client)
    try:
        rbac.create_cluster_role(role)
    except ApiException as exc:
        if exc.status != 409:
            raise
        rbac.replace_cluster_role(role["metadata"]["name"], role)
    return role


def operator_kubeconfig(
    api_client: Any, admin_kubeconfig: Path, namespace: str, out: Path, account: str = SA
) -> Path:
    """A kubeconfig for the operator's ServiceAccount in `namespace`, bound to the ClusterRole.

    `account` names another ServiceAccount with the same rights, for a second operator
    whose token a test revokes alone (deleting the account ends its tokens).
    """
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    client.RbacAuthorizationV1Api(api_client).create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SA},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        account, namespace, {"spec": {"expirationSeconds": 7200}}
    ).status.token
    config = yaml.safe_load(admin_kubeconfig.read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
        context["context"]["namespace"] = namespace
    out.write_text(yaml.safe_dump(config))
    return out


class OperatorProcess:
    """``kubegym operator --namespace NS`` in a subprocess, logging to a file."""

    def __init__(
        self,
        kubeconfig: Path,
        namespace: str,
        log_path: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.extra_env = dict(env or {})
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.log_path = log_path
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        env = {
            **os.environ,
            "KUBEGYM_AGENT_IMAGE": "registry.invalid/kubegym:test",
            "KUBEGYM_LOG_FORMAT": "json",
            **self.extra_env,
        }
        env.pop("KUBECONFIG", None)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kubegym",
                "operator",
                "--namespace",
                self.namespace,
                "--kubeconfig",
                str(self.kubeconfig),
                "--health-port",
                str(self.health_port),
                "--metrics-port",
                str(self.metrics_port),
                "--workers",
                "4",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the operator exited: {self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.health_port}/healthz", timeout=1
                ):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the operator never became healthy: {self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye, as when a node dies."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as answer:
            return str(answer.read().decode())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Kubelet:
    """Ends containers on KWOK's fake nodes the way a kubelet would report it."""

    def __init__(self, api_client: Any, namespace: str) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.namespace = namespace

    def pods(self, selector: str = "") -> list[dict[str, Any]]:
        answer = self.core.list_namespaced_pod(
            self.namespace, label_selector=selector, _preload_content=False
        )
        items: list[dict[str, Any]] = json.loads(answer.data)["items"]
        return items

    def running_agents(self) -> list[dict[str, Any]]:
        """Agent pods that run (KWOK made them Running) and have not ended yet."""
        return [
            p
            for p in self.pods("kubegym.io/role=agent")
            if p["status"].get("phase") == "Running"
            and p["metadata"].get("deletionTimestamp") is None
        ]

    def _replace_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        kubelet.replace_pod_status(self.core, pod, status)

    def finish_agent(
        self,
        pod: dict[str, Any],
        summary: TrialSummary,
        exit_code: int = 0,
        record: EvaluatorRecord | None = None,
    ) -> None:
        """The agent container ends and leaves its summary as the termination message; first
        the evaluator ends with `record` (by default the honest record of what the summary
        reports), since the operator takes the trial's scores from it alone."""
        if record is None:
            submitted = any(s.action == "submit" for s in summary.scores)
            record = EvaluatorRecord(
                end="submitted" if submitted else "finished",
                scores=summary.scores,
                final=summary.final,
                validations=sum(1 for s in summary.scores if s.action == "validate"),
            )
        self.finish_evaluator(pod, record)
        self.terminate_agent(pod, summary.to_message(), exit_code)

    def finish_evaluator(self, agent_pod: dict[str, Any], record: EvaluatorRecord) -> None:
        """The evaluator container of `agent_pod`'s attempt ends, its record the message."""
        name = agent_pod["metadata"]["name"].removesuffix("-agent") + "-sandbox"
        (sandbox,) = [
            p for p in self.pods("kubegym.io/role=sandbox") if p["metadata"]["name"] == name
        ]
        others = [
            s for s in sandbox["status"].get("containerStatuses") or [] if s["name"] != "evaluator"
        ]
        ended = kubelet.terminated_status(sandbox, "evaluator", 0, "Completed", record.to_message())
        self._replace_status(sandbox, {"containerStatuses": [*others, ended]})

    def terminate_agent(self, pod: dict[str, Any], message: str, exit_code: int = 0) -> None:
        """The agent container ends with `message` as its termination message."""
        reason = "Completed" if exit_code == 0 else "Error"
        status = kubelet.terminated_status(pod, "agent", exit_code, reason, message)
        self._replace_status(
            pod,
            {"phase": "Succeeded" if exit_code == 0 else "Failed", "containerStatuses": [status]},
        )

    def oom_kill(self, pod: dict[str, Any], container: str = "sandbox") -> None:
        statuses = [kubelet.terminated_status(pod, container, 137, "OOMKilled")]
        self._replace_status(pod, {"phase": "Failed", "containerStatuses": statuses})

    def evict(self, pod: dict[str, Any]) -> None:
        self._replace_status(
            pod,
            {
                "phase": "Failed",
                "reason": "Evicted",
                "message": "The node was low on resource: memory.",
            },
        )
