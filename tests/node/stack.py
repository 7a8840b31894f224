"""kubegym installed on the real node the way a user installs it: `helm install`, then `kubectl apply`.

The chart runs the operator as a real pod from the locked kubegym image (pinned by
digest, with its ServiceAccount, probes and read-only root); runs are applied as
custom resources and every trial's pods run in containers. A model agent talks to
a scripted OpenAI-protocol server on the node's address (`tests.support.openai_server`),
so the whole agent stack runs in its pod and the agent's own commands, which the
server hands out, probe the sandbox container from inside.
"""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.devcluster import helm as helm_bin
from kubegym.devcluster import realnode
from tests.support import kube
from tests.support.kube import wait_for

from .conftest import NodeCluster

REPO = Path(__file__).resolve().parents[2]
RELEASE = "kubegym"
RELEASE_NAMESPACE = "kubegym-system"
G, V = "kubegym.io", "v1alpha1"
KEY_SECRET = "model-key"


def reply(thought: str, command: str) -> str:
    """A model reply in the agent's format: a thought, then one command in a code block."""
    return f"{thought}\n```\n{command}\n```"


#: The honest polyfit solution (as in tests/unit/agent_e2e): edits, a run, validate, submit.
SOLVE = [
    'open "baseline.py"',
    "edit 8:10\nfeatures = np.stack([x**k for k in range(10)], axis=1)\n"
    "coef, *_ = np.linalg.lstsq(features, y, rcond=None)\nend_of_edit",
    "edit 13:13\npredictions = np.stack([xs**k for k in range(10)], axis=1) @ coef\nend_of_edit",
    "python baseline.py",
    "validate",
    "submit",
]


def helm(node: NodeCluster, *args: str) -> str:
    result = subprocess.run(
        [str(helm_bin.ensure_helm()), "--kubeconfig", str(node.kubeconfig), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        try:
            state = release_state(node)
        except Exception as exc:  # the API server is down too: helm's own error still shows
            state = f"(the release's state could not be read: {exc!r})"
        pytest.fail(f"helm {' '.join(args)}:\n{result.stderr}\n{state}", pytrace=False)
    return result.stdout


def release_state(node: NodeCluster) -> str:
    """The release namespace's pods (`describe`) and its latest Events, what the node has
    allocatable, and the ends of the kubelet's, containerd's and the NetworkPolicy
    controller's logs: why an install that timed out is not Ready."""
    from kubernetes import client

    with kube.admin_client(node.kubeconfig) as api:
        core: Any = client.CoreV1Api(api)
        pods = describe(api, RELEASE_NAMESPACE)
        events = sorted(
            core.list_namespaced_event(RELEASE_NAMESPACE).items,
            key=lambda e: str(e.last_timestamp or e.event_time or ""),
        )[-25:]
        nodes = [
            f"{n.metadata.name}: allocatable {n.status.allocatable}" for n in core.list_node().items
        ]
        everywhere = [
            f"{p.metadata.namespace}/{p.metadata.name} {p.status.phase}"
            for p in core.list_pod_for_all_namespaces().items
        ]
    logs = Path(node.info.state_dir) / "logs"
    tails = [
        f"{name}.log, its last lines:\n"
        + "\n".join(path.read_text(errors="replace").splitlines()[-20:])
        for name in ("kubelet", "containerd", "netpol")
        if (path := logs / f"{name}.log").is_file()
    ]
    return "\n".join(
        [
            "pods: " + pods,
            "events:",
            *(f"  {e.involved_object.name} {e.reason}: {e.message}" for e in events),
            *nodes,
            "every pod: " + ", ".join(everywhere),
            *tails,
        ]
    )


def install(node: NodeCluster, api: Any) -> dict[str, Any]:
    """`helm install` with the locked image; wait until the operator pod is Ready."""
    from kubernetes import client

    reference = node.images["kubegym"]
    repository, _, digest = reference.partition("@")
    helm(
        node,
        "upgrade", "--install", RELEASE, str(REPO / "helm" / "kubegym"),
        "--namespace", RELEASE_NAMESPACE, "--create-namespace", "--wait", "--timeout", "180s",
        "--set", f"image.repository={repository}", "--set", f"image.digest={digest}",
        "--set", "operator.logFormat=console",
    )  # fmt: skip
    core = client.CoreV1Api(api)

    def operator_pod() -> Any:
        pods = core.list_namespaced_pod(
            RELEASE_NAMESPACE, label_selector="app.kubernetes.io/component=operator"
        ).items
        ready = [
            p
            for p in pods
            if p.status.phase == "Running"
            and all(c.ready for c in p.status.container_statuses or [])
        ]
        return ready[0] if ready else None

    pod = wait_for(operator_pod, 180)
    return dict(api.sanitize_for_serialization(pod))


def polyfit_task(node: NodeCluster) -> dict[str, Any]:
    """examples/tasks/polyfit as a Task on the node: its task and data images by digest."""
    task: dict[str, Any] = yaml.safe_load(
        (REPO / "examples" / "tasks" / "polyfit" / "task.yaml").read_text()
    )
    task["spec"]["image"] = node.images["task-polyfit"]
    task["spec"]["dataImage"] = node.images["task-polyfit-data"]
    return task


def model_run(name: str, base_url: str, *, tasks: list[str], **spec: Any) -> dict[str, Any]:
    """A BenchmarkRun of one scripted model agent, whose pod may reach only the model server."""
    port = urllib.parse.urlsplit(base_url).port
    agent = {
        "name": "scripted",
        "model": "openai/scripted-model",
        "apiBase": base_url,
        "apiKeySecret": {"name": KEY_SECRET, "key": "api-key"},
        "egress": [{"cidr": f"{realnode.NODE_IP}/32", "ports": [port]}],
        "pricing": {"inputUsdPerMillionTokens": 1.0, "outputUsdPerMillionTokens": 2.0},
        "historyWindow": 2,
    }
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "BenchmarkRun",
        "metadata": {"name": name},
        "spec": {
            "tasks": {"names": tasks},
            "agents": [agent],
            "seeds": 1,
            "retryPolicy": {"infraRetries": 1, "backoffSeconds": 0},
            **spec,
        },
    }


def apply(api: Any, namespace: str, *objects: dict[str, Any]) -> None:
    """Create the objects (a Secret, Tasks, a BenchmarkRun) in ``namespace``."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api)
    core = client.CoreV1Api(api)
    for obj in objects:
        if obj["kind"] == "Secret":
            core.create_namespaced_secret(namespace, obj)
        else:
            plural = {"Task": "tasks", "BenchmarkRun": "benchmarkruns"}[obj["kind"]]
            custom.create_namespaced_custom_object(G, V, namespace, plural, obj)


def key_secret() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": KEY_SECRET},
        "stringData": {"api-key": f"sk-{uuid.uuid4().hex}"},
    }


def trials_of(api: Any, namespace: str, run: str) -> list[dict[str, Any]]:
    from kubernetes import client

    found = client.CustomObjectsApi(api).list_namespaced_custom_object(
        G, V, namespace, "trials", label_selector=f"kubegym.io/run={run}"
    )
    return list(found["items"])


def wait_for_run(api: Any, namespace: str, run: str, timeout: float = 420) -> dict[str, Any]:
    """Wait until the run ends; return its status."""
    from kubernetes import client

    custom = client.CustomObjectsApi(api)

    def ended() -> dict[str, Any] | None:
        status = custom.get_namespaced_custom_object(G, V, namespace, "benchmarkruns", run).get(
            "status", {}
        )
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    status: dict[str, Any] = wait_for(ended, timeout, interval=1.0)
    return status


def observations(requests: list[Any]) -> list[str]:
    """What the agent was shown after each of its commands, from the model server's log."""
    shown = []
    for request in requests[1:]:
        user = [m for m in request.messages if m.get("role") == "user"]
        shown.append(str(user[-1]["content"]) if user else "")
    return shown


def describe(api: Any, namespace: str) -> str:
    """The namespace's pods (node, phase, conditions, containers' states), for an
    assertion's message."""
    from kubernetes import client

    pods = client.CoreV1Api(api).list_namespaced_pod(namespace).items
    return json.dumps(
        [
            {
                "pod": p.metadata.name,
                "node": p.spec.node_name,
                "phase": p.status.phase,
                "conditions": [
                    f"{c.type}={c.status} {c.reason or ''} {c.message or ''}".strip()
                    for c in p.status.conditions or []
                ],
                "containers": api.sanitize_for_serialization(p.status.container_statuses),
            }
            for p in pods
        ],
        indent=1,
        default=str,
    )[:8000]


def run_scripted(
    node: NodeCluster,
    api: Any,
    namespace: str,
    name: str,
    commands: list[str],
    *,
    task: dict[str, Any] | None = None,
    timeout: float = 420,
    **spec: Any,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Run one trial of a model agent that types ``commands``; return (run status, trial, what
    it was shown after each command)."""
    from tests.support.openai_server import serve_openai

    task = task or polyfit_task(node)
    with serve_openai(host=realnode.NODE_IP, default=reply("Done.", "submit")) as server:
        for command in commands:
            server.reply(reply("Next step.", command))
        apply(
            api,
            namespace,
            key_secret(),
            task,
            model_run(name, server.base_url, tasks=[task["metadata"]["name"]], **spec),
        )
        status = wait_for_run(api, namespace, name, timeout=timeout)
        shown = observations(server.requests)
    (trial,) = trials_of(api, namespace, name)
    return status, trial, shown
