"""The cluster tests' kubelet: `kubegym.devcluster.kubelet.ProcessKubelet` over one namespace.

KWOK binds pods and says they run; nothing runs. The end-to-end tests call
`run_attempt` themselves for each agent pod KWOK made Running (`running_agents`),
so a test decides when an attempt runs; `harness.Kubelet`'s pod listing, OOM kill
and eviction stay at hand. Task folders come from the repository's
``examples/tasks``; ``kubegym dev-cluster kubelet`` is the same code as a loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubegym.devcluster import kubelet

from .harness import Kubelet


class ProcessKubelet(kubelet.ProcessKubelet):
    """Runs attempts' programs locally in ``namespace``; tasks from ``repo``'s examples."""

    def __init__(self, api_client: Any, namespace: str, repo: Path, workdir: Path) -> None:
        super().__init__(
            api_client, workdir, namespace=namespace, folders=[repo / "examples" / "tasks"]
        )
        self._harness = Kubelet(api_client, namespace)

    def pods(self, selector: str = "") -> list[dict[str, Any]]:
        return self._harness.pods(selector)

    def oom_kill(self, pod: dict[str, Any], container: str = "sandbox") -> None:
        self._harness.oom_kill(pod, container)

    def evict(self, pod: dict[str, Any]) -> None:
        self._harness.evict(pod)
