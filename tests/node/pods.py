"""Running one-shot pods on the real node and reading what they printed."""

from __future__ import annotations

from typing import Any

from tests.support.kube import wait_for


def run_pod(api: Any, namespace: str, spec: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """Create a pod (``restartPolicy: Never``), wait until it ends; return its status.

    Returns:
        The pod's ``status`` as a dict, with ``logs`` (the first container's output) added.
    """
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = spec["metadata"]["name"]
    spec.setdefault("spec", {}).setdefault("restartPolicy", "Never")
    core.create_namespaced_pod(namespace, spec)

    def ended() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        return pod if pod.status.phase in ("Succeeded", "Failed") else None

    pod = wait_for(ended, timeout)
    status: dict[str, Any] = api.sanitize_for_serialization(pod.status)
    container = spec["spec"]["containers"][0]["name"]
    status["logs"] = core.read_namespaced_pod_log(name, namespace, container=container)
    return status


def python_pod(name: str, image: str, code: str, **container: Any) -> dict[str, Any]:
    """A pod running ``python -c code`` in ``image``, as uid 1000 with no capabilities."""
    security = {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "main",
                    "image": image,
                    "command": ["python", "-c", code],
                    "securityContext": security,
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                    **container,
                }
            ],
        },
    }
