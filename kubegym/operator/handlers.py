"""The kopf side: watch BenchmarkRuns, Trials, Tasks and kubegym's pods, and enqueue keys.

Every handler is a `kopf.on.event` handler that only puts a key in a work
queue (`kubegym.operator.workqueue`); the reconcilers in
`kubegym.operator.controller` do the work, level-triggered. Event handlers keep
no progress annotations on the objects (kopf's change-detection handlers
would), so the operator writes nothing but what the decisions say; kopf's
initial listing after a (re)start enqueues every object once, which is how a
restarted operator picks everything up. Pods are watched with a server-side
label selector, so the operator never lists other people's pods.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import kopf
import structlog

from kubegym.api import common
from kubegym.operator import labels as keys
from kubegym.operator.controller import Controller, Key
from kubegym.operator.workqueue import WorkQueue

log = structlog.get_logger()

G, V = common.GROUP, common.VERSION


class Queues:
    """The operator's two work queues and the runs it knows per namespace."""

    def __init__(self, controller: Controller, workers: int) -> None:
        self.trials: WorkQueue[Key] = WorkQueue("trial", controller.reconcile_trial, workers)
        self.runs: WorkQueue[Key] = WorkQueue("run", controller.reconcile_run, max(2, workers // 4))
        self.known_runs: defaultdict[str, set[str]] = defaultdict(set)

    async def close(self) -> None:
        await self.trials.close()
        await self.runs.close()


def connection_info(configuration: Any) -> kopf.ConnectionInfo:
    """kopf's connection from a `kubernetes.client.Configuration` (token or client certificate)."""
    header = (configuration.api_key or {}).get("authorization") or (
        configuration.api_key or {}
    ).get("BearerToken")
    token = header.split(" ", 1)[1] if header and " " in header else header
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        token=token,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def registry(controller: Controller, workers: int = 8) -> kopf.OperatorRegistry:
    """A kopf registry with kubegym's handlers, bound to `controller`."""
    reg = kopf.OperatorRegistry()
    state: dict[str, Queues] = {}

    @kopf.on.startup(registry=reg)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # No CRD or namespace scanning: the resources are known, and the RBAC stays small.
        settings.scanning.disabled = True
        # kopf's own events only for problems; kubegym posts its transitions itself.
        settings.posting.level = logging.WARNING
        # kopf logs every handled watch event at INFO: thousands of lines per run.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        settings.watching.label_selectors[("v1", "pods")] = f"{keys.MANAGED_BY}=kubegym"
        settings.watching.server_timeout = 300
        state["queues"] = Queues(controller, workers)

    @kopf.on.login(registry=reg)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # kopf's watches use the same credentials as the controller's client.
        return connection_info(controller.kube.api_client.configuration)

    @kopf.on.cleanup(registry=reg)
    async def stop(**_: Any) -> None:
        if "queues" in state:
            await state["queues"].close()

    @kopf.on.event(G, V, "benchmarkruns", registry=reg)
    async def run_event(namespace: str | None, name: str, type: str, **_: Any) -> None:
        queues = state["queues"]
        assert namespace is not None  # kubegym's kinds are namespaced
        if type == "DELETED":
            queues.known_runs[namespace].discard(name)
            return
        queues.known_runs[namespace].add(name)
        queues.runs.add((namespace, name))

    @kopf.on.event(G, V, "trials", registry=reg)
    async def trial_event(namespace: str | None, name: str, spec: Any, type: str, **_: Any) -> None:
        queues = state["queues"]
        assert namespace is not None
        if type != "DELETED":
            queues.trials.add((namespace, name))
        run = spec.get("run") if spec else None
        if run:
            queues.runs.add((namespace, run))

    @kopf.on.event("v1", "pods", registry=reg)
    async def pod_event(namespace: str | None, labels: Any, **_: Any) -> None:
        trial = (labels or {}).get(keys.TRIAL)
        if trial and namespace:
            state["queues"].trials.add((namespace, trial))

    @kopf.on.event(G, V, "tasks", registry=reg)
    async def task_event(namespace: str | None, **_: Any) -> None:
        queues = state["queues"]
        if namespace is None:
            return
        for run in list(queues.known_runs[namespace]):
            queues.runs.add((namespace, run))

    return reg
