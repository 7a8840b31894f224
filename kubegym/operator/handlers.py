"""The kopf side: watch BenchmarkRuns, Trials, Tasks and kubegym's pods, and enqueue keys.

Every handler is a `kopf.on.event` handler that only puts a key in a work
queue (`kubegym.operator.workqueue`), or a `kopf.index` that keeps the
object in the controller's cache (`kubegym.operator.informer`); the reconcilers
in `kubegym.operator.controller` do the work from that cache, level-triggered. Event handlers keep
no progress annotations on the objects (kopf's change-detection handlers
would), so the operator writes nothing but what the decisions say; kopf's
initial listing after a (re)start enqueues every object once, which is how a
restarted operator picks everything up. A Trial admitted and not started yet is
enqueued as urgent: its start goes ahead of the trials waiting to be noted running
or finished. Pods are watched with a server-side label selector, so the operator
never lists other people's pods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any, cast

import kopf
import structlog

from kubegym.api import common
from kubegym.operator import heap, informer, leanjson, trials
from kubegym.operator import labels as keys
from kubegym.operator.controller import Controller, Key
from kubegym.operator.workqueue import WorkQueue

log = structlog.get_logger()

G, V = common.GROUP, common.VERSION


#: How often the cache is checked against a fresh LIST (deletions a broken watch missed).
RESYNC_SECONDS = 120.0
#: The least time between two reconciles of one run: a run hears of every change of every
#: trial, and one reconcile sees them all (its status is written once per interval at most).
RUN_INTERVAL_SECONDS = 1.0
#: ... and at least 4 times its last reconcile's duration: a run of 10,000 trials (a second
#: or two to roll up) takes at most a fifth of one worker, however busy its trials are;
#: but never more than `RUN_MAX_WAIT` (a reconcile that creates a chunk of Trials is long).
RUN_BUSY_FACTOR = 4.0
RUN_MAX_WAIT = 10.0
#: How long kopf keeps an object's worker after its last watch event (kopf's default: 5 s).
#: The idle worker holds that event, the whole decoded body with its managedFields, while
#: it waits: while a run starts, every new pod and Trial has one, and at 1,000 trials those
#: bodies lifted the operator's RSS by 40 MiB at its peak (bench/README.md). The indexers
#: take what they keep at once (`informer.slim_pod`), so a worker has nothing left to do;
#: the next event starts a new one.
WORKER_IDLE_SECONDS = 0.5


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's diff base for an operator without change or daemon handlers: none at all.

    On every watch event kopf builds the object's "essence" (a deep copy of the body
    less its status and system fields) and diffs it with the last one stored, which only
    change handlers (`kopf.on.update`…) and daemons read. This operator has neither (only
    `kopf.on.event` and `kopf.index`, as `registry` makes them), and those copies were
    16 % of its samples while a run of 1,000 trials started (py-spy, bench/README.md).
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


def tune(settings: kopf.OperatorSettings) -> None:
    """kopf's settings for this operator (at start-up, before any watch)."""
    # No CRD or namespace scanning: the resources are known, and the RBAC stays small.
    settings.scanning.disabled = True
    # kopf's own events only for problems; kubegym posts its transitions itself.
    settings.posting.level = logging.WARNING
    settings.watching.label_selectors[("v1", "pods")] = f"{keys.MANAGED_BY}=kubegym"
    settings.watching.server_timeout = 300
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.queueing.idle_timeout = WORKER_IDLE_SECONDS
    # Watch events decoded without their managedFields (`leanjson`); kopf has no setting.
    from kopf._cogs.clients import api as kopf_api

    if not leanjson.install(kopf_api):
        log.warning("kopf_watch_json_unchanged", decoded="whole, managedFields and all")


class Queues:
    """The operator's two work queues."""

    def __init__(self, controller: Controller, workers: int) -> None:
        self.controller = controller
        self.trials: WorkQueue[Key] = WorkQueue("trial", controller.reconcile_trial, workers)
        self.runs: WorkQueue[Key] = WorkQueue(
            "run",
            controller.reconcile_run,
            max(2, workers // 4),
            min_interval=RUN_INTERVAL_SECONDS,
            busy_factor=RUN_BUSY_FACTOR,
            max_busy_delay=RUN_MAX_WAIT,
        )

    async def close(self) -> None:
        await self.trials.close()
        await self.runs.close()
        self.controller.close()


async def resync_forever(controller: Controller, queues: Queues) -> None:
    """Every `RESYNC_SECONDS`, check the cache against a LIST and reconcile what it forgot.
    A failed LIST (the API server restarting) is tried again at the next round."""
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(RESYNC_SECONDS)
        try:
            trials, runs = await loop.run_in_executor(None, controller.resync)
        except Exception as exc:  # the next round tries again
            log.warning("cache_resync_failed", error=f"{type(exc).__name__}: {exc}")
            continue
        for key in trials:
            queues.trials.add(key)
        for key in runs:
            queues.runs.add(key)


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
    state: dict[str, Any] = {}

    @kopf.on.startup(registry=reg)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        tune(settings)
        # kopf logs every handled watch event at INFO: thousands of lines per run.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        state["queues"] = Queues(controller, workers)
        state["resync"] = asyncio.create_task(resync_forever(controller, state["queues"]))
        state["trim"] = asyncio.create_task(heap.trim_forever())

    @kopf.on.login(registry=reg)
    def login(**_: Any) -> kopf.ConnectionInfo:
        # kopf's watches use the same credentials as the controller's client.
        return connection_info(controller.kube.api_client.configuration)

    @kopf.on.cleanup(registry=reg)
    async def stop(**_: Any) -> None:
        for name in ("resync", "trim"):
            if name in state:
                state[name].cancel()
        if "queues" in state:
            await state["queues"].close()

    # The cache (`kubegym.operator.informer`) is filled by kopf indexers: they see every
    # object as it comes (deletions aside), and kopf holds every handler below until each
    # watched kind's initial listing has been indexed — no reconcile on a half-filled cache.
    # They return None: kopf's own index stays empty; the cache is kubegym's. They are
    # coroutines, so kopf runs them in its event loop. A plain function would go to kopf's
    # thread pool: a hand-off per watch event for a copy that takes a fraction of a
    # millisecond, and each cached copy made in whichever pool thread's malloc arena.
    cache = controller.cache

    @kopf.index(G, V, "benchmarkruns", registry=reg)
    async def cache_run(body: kopf.Body, **_: Any) -> None:
        cache.upsert(informer.RUNS, body)

    @kopf.index(G, V, "trials", registry=reg)
    async def cache_trial(body: kopf.Body, **_: Any) -> None:
        cache.upsert(informer.TRIALS, body)

    @kopf.index(G, V, "tasks", registry=reg)
    async def cache_task(body: kopf.Body, **_: Any) -> None:
        cache.upsert(informer.TASKS, body)

    @kopf.index("v1", "pods", registry=reg)
    async def cache_pod(body: kopf.Body, **_: Any) -> None:
        cache.upsert(informer.PODS, body)

    @kopf.on.event(G, V, "benchmarkruns", registry=reg)
    async def run_event(namespace: str | None, name: str, type: str, uid: str, **_: Any) -> None:
        assert namespace is not None  # kubegym's kinds are namespaced
        if type == "DELETED":
            cache.remove(informer.RUNS, namespace, name, uid)
        state["queues"].runs.add((namespace, name))

    @kopf.on.event(G, V, "trials", registry=reg)
    async def trial_event(
        namespace: str | None, name: str, spec: Any, type: str, uid: str, body: Any, **_: Any
    ) -> None:
        queues = state["queues"]
        assert namespace is not None
        if type == "DELETED":
            cache.remove(informer.TRIALS, namespace, name, uid)
        else:
            queues.trials.add((namespace, name), urgent=trials.waits_to_start(body))
        run = spec.get("run") if spec else None
        if run:
            queues.runs.add((namespace, run))

    @kopf.on.event("v1", "pods", registry=reg)
    async def pod_event(
        namespace: str | None, name: str, labels: Any, type: str, uid: str, body: Any, **_: Any
    ) -> None:
        if namespace and type == "DELETED":
            cache.remove(informer.PODS, namespace, name, uid, final=body)
        trial = (labels or {}).get(keys.TRIAL)
        if trial and namespace:
            state["queues"].trials.add((namespace, trial))

    @kopf.on.event(G, V, "tasks", registry=reg)
    async def task_event(namespace: str | None, name: str, type: str, uid: str, **_: Any) -> None:
        if namespace is None:
            return
        if type == "DELETED":
            cache.remove(informer.TASKS, namespace, name, uid)
        queues = state["queues"]
        for ns, run in cache.keys(informer.RUNS):
            if ns == namespace:
                queues.runs.add((ns, run))

    return reg
