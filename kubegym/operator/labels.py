"""The labels and annotations the operator puts on the objects it creates.

One place for every key, so selectors, the Helm chart's NetworkPolicy and the
Grafana dashboards agree on them. (This folder is the `kubegym.operator`
package; it has no `__init__.py` on purpose: a regular package named
`operator` at the repository root would shadow the standard library's
`operator` module for any `python -m …` started there.)
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "kubegym.io"

RUN: Final = f"{PREFIX}/run"
"""The BenchmarkRun a Trial or pod belongs to."""

TRIAL: Final = f"{PREFIX}/trial"
"""The Trial a pod, Service, Secret or NetworkPolicy belongs to."""

TASK: Final = f"{PREFIX}/task"
"""The Task of a Trial."""

AGENT: Final = f"{PREFIX}/agent"
"""The agent (its name in the run) of a Trial."""

SEED: Final = f"{PREFIX}/seed"
"""The seed of a Trial."""

ROLE: Final = f"{PREFIX}/role"
"""What a pod is: `sandbox` or `agent` (NetworkPolicies select on it)."""

ATTEMPT: Final = f"{PREFIX}/attempt"
"""The attempt number of a Trial's pods (it grows on every infrastructure retry)."""

NETWORK: Final = f"{PREFIX}/network"
"""A sandbox pod's network: `none`, `allowlist` or `open` (the run's NetworkPolicies select on it)."""

SHARD: Final = f"{PREFIX}/shard"
"""Which of its run's headless Services names a sandbox pod (`objects.service_shard`)."""

VIEWER: Final = f"{PREFIX}/viewer"
"""Annotation: the Trial's page in the installation's viewer (`kubegym view`), when it has one."""

MANAGED_BY: Final = "app.kubernetes.io/managed-by"
"""Set to `kubegym` on everything the operator creates."""


def for_trial(
    run: str, trial: str, task: str, agent: str, seed: int, attempt: int
) -> dict[str, str]:
    """The labels every object of one trial attempt carries."""
    return {
        RUN: run,
        TRIAL: trial,
        TASK: task,
        AGENT: agent,
        SEED: str(seed),
        ATTEMPT: str(attempt),
        MANAGED_BY: "kubegym",
    }
