"""A pod's status written as a kubelet writes it: a container that ended, merged into the
status the API holds (retried when KWOK writes at the same time).

Called by `kubegym.devcluster.kubelet.runner.ProcessKubelet` when an attempt's containers
end, and by the cluster tests' harness, which ends containers the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def replace_pod_status(core: Any, pod: Mapping[str, Any], status: Mapping[str, Any]) -> None:
    """Merge ``status`` into the pod's status as a kubelet writes it (retried on conflicts)."""
    from kubernetes.client.exceptions import ApiException

    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    for _ in range(20):  # KWOK writes statuses too: retry on a conflict, like a kubelet
        current = core.read_namespaced_pod_status(name, namespace)
        body = core.api_client.sanitize_for_serialization(current)
        body["status"].update(status)
        try:
            core.replace_namespaced_pod_status(name, namespace, body)
            return
        except ApiException as exc:
            if exc.status != 409:
                raise
            time.sleep(0.1)
    raise RuntimeError(f"could not update the status of pod {namespace}/{name}")


def terminated_status(
    pod: Mapping[str, Any], container: str, code: int, reason: str, message: str = ""
) -> dict[str, Any]:
    """A container status saying ``container`` of ``pod`` ended now with ``code``."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    image = next(c["image"] for c in pod["spec"]["containers"] if c["name"] == container)
    terminated: dict[str, Any] = {
        "exitCode": code,
        "reason": reason,
        "startedAt": now,
        "finishedAt": now,
    }
    if message:
        terminated["message"] = message
    return {
        "name": container,
        "image": image,
        "imageID": "",
        "ready": False,
        "restartCount": 0,
        "state": {"terminated": terminated},
    }
