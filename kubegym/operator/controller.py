"""The operator's reconcilers: read the state from the cache, decide, act.

A Trial reconcile reads the Trial, its run, its Task and its pods from the
watch-fed cache (`kubegym.operator.informer`), asks
`kubegym.operator.trials.decide` what to do, and does it in a crash-safe
order: an attempt's objects are created before the status says it started,
and a finished attempt's status is written before its objects are deleted, so
a kill between any two calls is repaired by the next reconcile. Status writes
carry the resourceVersion they were decided from: a decision made on a copy the
cache had not yet updated is refused and made again. A run reconcile does the
same with `kubegym.operator.runs.decide`, after making the run's own objects
(its Service and NetworkPolicies, `objects.run_objects`) once. Both are plain
synchronous functions run by the work queues (`kubegym.operator.workqueue`);
the kopf handlers (`kubegym.operator.handlers`) fill the cache and enqueue keys.
Events go through a rate-limited recorder (`kubegym.operator.events`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import structlog
from pydantic import ValidationError

from kubegym import metrics
from kubegym.api import runs as runs_api
from kubegym.api import tasks as tasks_api
from kubegym.errors import ConfigError, KubegymError
from kubegym.operator import (
    egress,
    events,
    informer,
    labels,
    objects,
    outcomes,
    rollups,
    runs,
    trials,
)
from kubegym.operator import kube as kube_mod
from kubegym.operator.settings import Settings

log = structlog.get_logger()

Key = tuple[str, str]  # (namespace, name)
#: How soon a reconcile whose status write met a newer object looks again (the watch
#: brings that object to the cache meanwhile).
CONFLICT_RETRY_SECONDS = 0.2
#: The run condition saying its rollups are in the store.
STORED = "Stored"
#: How long a finished run waits before trying an unreachable store again.
ROLLUP_RETRY_SECONDS = 30.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Controller:
    """Reconciles Trials and BenchmarkRuns.

    Args:
        kube: the API calls.
        settings: how pods are built.
        clock: the time now (a parameter for tests).
    """

    def __init__(
        self,
        kube: kube_mod.Kube,
        settings: Settings,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.kube = kube
        self.settings = settings
        self.clock = clock
        # Only tombstones that say who stopped a pod are ever read (`_with_tombstones`).
        self.cache = informer.Cache(keep_gone=outcomes.disrupted)
        if kube.observer is None:  # the operator's own writes reach its cache at once
            kube.observer = self.cache.observe
        self.events = events.Recorder(kube.event)
        self._planned: set[metrics.RunRef] = set()
        # Runs whose own objects (Service, NetworkPolicies) exist: (namespace, name, uid, tasks).
        self._run_objects: set[tuple[str, str, str, str]] = set()
        # Attempts a queue let go: (namespace, trial, attempt) → when first seen so.
        self._admitted: dict[tuple[str, str, int], dt.datetime] = {}
        self._rollups = runs.RollupCadence()

    def close(self) -> None:
        """Post the Events still queued."""
        self.events.close()

    def resync(self) -> tuple[set[Key], set[Key]]:
        """LIST every watched kind and make the cache agree (`informer.Cache.resync`): the
        trials and runs whose objects it forgot, to be reconciled again."""
        trial_keys: set[Key] = set()
        run_keys: set[Key] = set()
        namespace = self.settings.namespace
        for kind in (informer.TASKS, informer.RUNS, informer.TRIALS, informer.PODS):
            listed, version = self.kube.list_keys(kind, namespace)
            for body in self.cache.resync(kind, listed, version, namespace):
                meta = body.get("metadata") or {}
                found = meta.get("labels") or {}
                ns = str(meta.get("namespace") or "")
                if kind == informer.PODS and found.get(labels.TRIAL):
                    trial_keys.add((ns, found[labels.TRIAL]))
                elif kind == informer.TRIALS and found.get(labels.RUN):
                    run_keys.add((ns, found[labels.RUN]))
                elif kind == informer.RUNS:
                    run_keys.add((ns, str(meta.get("name"))))
        if trial_keys or run_keys:
            log.info("cache_resynced", trials=len(trial_keys), runs=len(run_keys))
        return trial_keys, run_keys

    def _run_view(self, namespace: str, name: str) -> runs.RunView | None:
        return self.cache.parsed(informer.RUNS, namespace, name, runs.RunView.from_body)

    # --- Trials ----------------------------------------------------------------------

    def reconcile_trial(self, key: Key) -> float | None:
        """Bring one Trial a step closer to its end; return when to look again."""
        with metrics.reconcile("Trial"):
            try:
                return self._reconcile_trial(key)
            except kube_mod.Conflict:
                return CONFLICT_RETRY_SECONDS

    def _reconcile_trial(self, key: Key) -> float | None:
        namespace, name = key
        body = self.cache.get(informer.TRIALS, namespace, name)
        trial = self.cache.parsed(informer.TRIALS, namespace, name, trials.TrialView.from_body)
        if body is None or trial is None:
            return None
        run = self._run_view(namespace, trial.spec.run)
        task = self._task(namespace, trial.spec.task)
        if task is not None and run is not None:
            # The Task under the run's suite profile. The run's reconcile creates no Trial
            # when the profile does not apply: failing here, it changed under the run.
            try:
                task = run.task(task)
            except ConfigError as exc:
                log.warning("trial_profile_unusable", trial=name, error=str(exc))
                task = None
        current, stale = _split_attempts(self.cache.pods(namespace, name), trial.attempt)
        if outcomes.needs_eviction_word(current.sandbox):
            assert current.sandbox is not None
            evicted = self.kube.kubelet_evictions(namespace, current.sandbox["metadata"]["name"])
            current = dataclasses.replace(
                current, sandbox=outcomes.with_eviction(current.sandbox, evicted)
            )
        if trial.phase == "Running":
            current = self._with_tombstones(trial, current)
        current = self._queue_admission(namespace, name, trial.attempt, current)
        for attempt in sorted(stale):
            self._delete_attempt(trial, attempt)
        decision = trials.decide(
            trial, current, task=task, run=run.spec if run else None, now=self.clock()
        )
        bound = log.bind(namespace=namespace, trial=name, attempt=trial.attempt)
        if decision.start is not None:
            assert task is not None and run is not None
            plan = objects.Attempt(
                namespace=namespace,
                trial=name,
                trial_uid=trial.uid,
                spec=trial.spec,
                attempt=decision.start,
                task=task,
                agent=next(a for a in run.spec.agents if a.name == trial.spec.agent),
                run=run.spec,
                settings=self.settings,
            )
            self._create_attempt(plan, current)
        closing: list[int] = []
        ending = decision.status is not None and decision.status.finished
        if ending and not trial.finished and task is not None and run is not None:
            closing = self._egress(trial, task, run.spec, decision, bound)
        if decision.status is not None:
            version = body["metadata"].get("resourceVersion")
            self.kube.patch_status("trials", namespace, name, decision.status, version)
        if closing:
            # Only once the status holds the records: a kill before this reads them again.
            self._close_egress(trial, closing, bound)
        if decision.delete_attempt is not None:
            self._delete_attempt(trial, decision.delete_attempt, current)
            self._admitted.pop((namespace, name, decision.delete_attempt), None)
        for event_type, reason, message in decision.events:
            self.events.event(body, "Trial", event_type, reason, message)
            _log(bound, event_type)("trial_" + _snake(reason), message=message)
        _observe_trial(trial, decision)
        return decision.requeue_after

    def _with_tombstones(
        self, trial: trials.TrialView, pods: trials.AttemptPods
    ) -> trials.AttemptPods:
        """A running attempt's pod that went away between two looks, as it was last seen
        (`informer.Cache.gone`), when that says who stopped it (Kueue's preemption, an
        eviction: `outcomes.disrupted`), which "missing" alone cannot. Without such word
        it stays missing (`PodDeleted`)."""
        base = f"{trial.name}-a{trial.attempt}"

        def last_seen(role: str) -> dict[str, Any] | None:
            found = self.cache.gone(trial.namespace, f"{base}-{role}")
            return found if found is not None and outcomes.disrupted(found) else None

        sandbox = pods.sandbox or last_seen("sandbox")
        agent = pods.agent or last_seen("agent")
        if sandbox is pods.sandbox and agent is pods.agent:
            return pods
        return dataclasses.replace(pods, sandbox=sandbox, agent=agent)

    def _queue_admission(
        self, namespace: str, name: str, attempt: int, pods: trials.AttemptPods
    ) -> trials.AttemptPods:
        """Pods a queue holds: when they were let go, as this process first saw it.

        Kept in memory, not in the status (one write less per trial): after a restart the
        operator counts from its first look, which only ever gives a queued trial longer.
        """
        key = (namespace, name, attempt)
        if not outcomes.queue_managed(pods.sandbox, pods.agent):
            return pods
        if outcomes.queued(pods.sandbox, pods.agent):
            self._admitted.pop(key, None)
            return pods
        if len(self._admitted) > 100_000:  # attempts long over
            self._admitted.clear()
        seen = self._admitted.setdefault(key, self.clock())
        return dataclasses.replace(pods, admitted=seen)

    def _create_attempt(self, plan: objects.Attempt, pods: trials.AttemptPods) -> None:
        """The attempt's objects that are not there yet (a start cut short made some), in
        `objects.attempt_objects`' order: its Secret (the pods mount it), the sandbox pod,
        then the agent pod. Never the agent without its sandbox: created side by side
        (b243deb), a refused sandbox left the agent pod running alone, its commands with
        nowhere to go, until a retry's backoff (up to seconds) made the sandbox
        (tests/cluster/test_operator.py, a start cut short by a one-pod quota)."""
        present = {p["metadata"]["name"] for p in (pods.sandbox, pods.agent) if p is not None}
        if pods.sandbox is not None:
            # The agent must name the sandbox's Service, not the one the run's parallelism
            # picks now (a pod without the label predates shards: the run's one Service).
            shard = (pods.sandbox["metadata"].get("labels") or {}).get(labels.SHARD, "0")
            plan = dataclasses.replace(plan, shard=int(shard) if shard.isdigit() else 0)
        for manifest in objects.attempt_objects(plan):
            if manifest["kind"] != "Pod" or manifest["metadata"]["name"] not in present:
                self.kube.create(manifest)

    def _egress(
        self,
        trial: trials.TrialView,
        task: tasks_api.Task,
        run: runs_api.BenchmarkRunSpec,
        decision: trials.Decision,
        bound: Any,
    ) -> list[int]:
        """A finishing trial's egress into its new status (`egress.finish`); the attempts
        to close at the proxy."""
        assert decision.status is not None
        ended = egress.finish(trial, decision.status.attempt, task, run, self.settings.egress)
        if ended.egress is not None:
            decision.status.egress = ended.egress
        if ended.problem is not None:
            decision.events.append(("Warning", "EgressRecordsIncomplete", ended.problem))
            bound.warning("trial_egress_records_unread", error=ended.problem)
        return ended.attempts

    def _close_egress(self, trial: trials.TrialView, attempts: list[int], bound: Any) -> None:
        """Refuse the attempts' credentials at the proxy from now on (it forgets their records)."""
        assert self.settings.egress is not None
        reader = egress.Records(self.settings.egress)
        try:
            for attempt in attempts:
                reader.close(trial.namespace, trial.name, attempt)
        except KubegymError as exc:
            # Their credentials still expire with the pods' deadline; the pods are going.
            bound.warning("trial_egress_not_closed", error=str(exc))

    def _task(self, namespace: str, name: str) -> tasks_api.Task | None:
        return self.cache.parsed(informer.TASKS, namespace, name, _parse_task)

    def _delete_attempt(
        self, trial: trials.TrialView, attempt: int, pods: trials.AttemptPods | None = None
    ) -> None:
        """Delete an attempt's Secret, then its pods (those not being deleted already).

        The Secret first: a kill in between leaves pods, which the next look deletes
        again, never a Secret no decision would come back for.
        """
        base = f"{trial.name}-a{attempt}"
        found = [pods.sandbox, pods.agent] if pods is not None else None
        if not _derives_credentials(found or []):  # else the attempt never had a Secret
            self.kube.delete("Secret", trial.namespace, base)
        for role in ("sandbox", "agent"):
            name = f"{base}-{role}"
            if found is not None and not any(
                p is not None
                and p["metadata"]["name"] == name
                and not p["metadata"].get("deletionTimestamp")
                for p in found
            ):
                continue
            self.kube.delete("Pod", trial.namespace, name)
            # Write-through: until the watch brings the pod being deleted, the next
            # reconcile must not delete it again.
            self.cache.deleting(informer.PODS, trial.namespace, name, self.clock().isoformat())

    # --- BenchmarkRuns ---------------------------------------------------------------

    def _fan_out(self, calls: list[Callable[[], Any]]) -> None:
        if len(calls) <= 1:
            for call in calls:
                call()
            return
        with ThreadPoolExecutor(max_workers=min(8, len(calls))) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()  # the first error is raised; the queue retries the run

    def reconcile_run(self, key: Key) -> float | None:
        """Create, admit and roll up a run's Trials; return when to look again."""
        with metrics.reconcile("BenchmarkRun"):
            return self._reconcile_run(key)

    def _reconcile_run(self, key: Key) -> float | None:
        namespace, name = key
        ref = metrics.RunRef(namespace, name)
        body = self.cache.get(informer.RUNS, namespace, name)
        run = self._run_view(namespace, name)
        if body is None or run is None:
            # Deleted: the garbage collector removes what it owned; its series go too.
            if ref in self._planned:
                self._planned.discard(ref)
                metrics.forget_run(ref)
            self._run_objects = {k for k in self._run_objects if k[:2] != key}
            self._rollups.forget(key)
            return None
        available = []
        for task_name in sorted(n for ns, n in self.cache.keys(informer.TASKS) if ns == namespace):
            try:
                task = self._task(namespace, task_name)
            except ValidationError as exc:
                log.warning("task_unreadable", task=task_name, error=str(exc))
                continue
            if task is not None:
                available.append(task)
        members = self.cache.trials_of(namespace, name, trials.TrialView.from_body)
        began, cpu = time.monotonic(), time.thread_time()
        decision = runs.decide(
            run,
            available,
            members,
            self.clock(),
            egress_proxy=self.settings.egress is not None,
            viewer_url=self.settings.viewer_url,
            rollup=self._rollups.due(key, began),
        )
        if decision.best_scores is not None:
            self._rollups.rolled_up(key, began, time.thread_time() - cpu)
            skipped = None
        else:  # look again when it is due, lest a quiet run's leaderboard stay behind
            skipped = self._rollups.wait(key, time.monotonic())
        if decision.chosen_tasks:
            self._ensure_run_objects(run, decision.chosen_tasks)
        stamp = self.clock().isoformat()
        # A big grid is thousands of independent writes: spread them over a few connections.
        calls: list[Callable[[], Any]] = [partial(self.kube.create, m) for m in decision.create]
        calls += [
            partial(self.kube.patch_status, "trials", namespace, trial_name, status)
            for trial_name, status in decision.cancel
        ]
        calls += [
            partial(self.kube.annotate, "trials", namespace, n, trials.ADMITTED, stamp)
            for n in decision.admit
        ]
        self._fan_out(calls)
        if decision.status is not None:
            version = body["metadata"].get("resourceVersion")
            try:
                self.kube.patch_status("benchmarkruns", namespace, name, decision.status, version)
            except kube_mod.Conflict:
                return CONFLICT_RETRY_SECONDS  # decided on an old copy: again, on the new one
        bound = log.bind(namespace=namespace, run=name)
        for event_type, reason, message in decision.events:
            self.events.event(body, "BenchmarkRun", event_type, reason, message)
            _log(bound, event_type)("run_" + _snake(reason), message=message)
        if decision.create or decision.admit:
            bound.info("run_progress", created=len(decision.create), admitted=len(decision.admit))
        self._observe_run(ref, run, available, decision)
        later = self._store_rollups(body, run, decision.status or run.status, available, members)
        if decision.delete:
            bound.info("run_expired", ttl=run.spec.ttl_seconds_after_finished)
            self.kube.delete_run(namespace, name)
            return None
        if decision.create:
            return 1.0  # the next chunk, and count the new Trials once they are there
        waits = [w for w in (later, decision.requeue_after, skipped) if w is not None]
        return min(waits) if waits else None

    def _ensure_run_objects(self, run: runs.RunView, chosen: list[tasks_api.Task]) -> None:
        """The run's Services and NetworkPolicies, made once per run, set of tasks and number
        of Service shards (a restarted operator asks again: creating what exists is harmless)."""
        plan = objects.RunObjects(
            namespace=run.namespace,
            run=run.name,
            run_uid=run.uid,
            spec=run.spec,
            tasks=chosen,
            settings=self.settings,
        )
        made = f"{','.join(sorted(t.name for t in chosen))}/{plan.shards}"
        key = (run.namespace, run.name, run.uid, made)
        if key in self._run_objects:
            return
        for manifest in objects.run_objects(plan):
            self.kube.create(manifest)
        self._run_objects.add(key)

    def _store_rollups(
        self,
        body: dict[str, Any],
        run: runs.RunView,
        status: runs_api.BenchmarkRunStatus,
        available: list[tasks_api.Task],
        members: list[trials.TrialView],
    ) -> float | None:
        """Once a run has finished, its rollups go to its store (once); None, or when to retry."""
        spec = run.spec.store or self.settings.store
        if spec is None or status.phase not in ("Succeeded", "Failed"):
            return None
        if any(c.type == STORED and c.status == "True" for c in status.conditions):
            return None
        chosen, _ = runs.select_tasks(run.spec.tasks, available)
        bound = log.bind(namespace=run.namespace, run=run.name)
        try:
            written = rollups.write(spec, run, status, chosen, members)
        except KubegymError as exc:
            # The trials' own artifacts are safe already; the rollups can wait for the store.
            # A wrong setting (no credentials) will not heal by itself: ask less often.
            wait = ROLLUP_RETRY_SECONDS * (10 if isinstance(exc, ConfigError) else 1)
            self.events.event(body, "BenchmarkRun", "Warning", "StoreUnavailable", str(exc))
            bound.warning("run_rollups_not_stored", error=str(exc), retry_in=wait)
            return wait
        stored = status.model_copy(deep=True)
        message = f"{', '.join(written)}"
        runs.set_condition(
            stored, STORED, "True", "RollupsWritten", message, self.clock(), run.generation
        )
        self.kube.patch_status("benchmarkruns", run.namespace, run.name, stored)
        self.events.event(body, "BenchmarkRun", "Normal", "Stored", message)
        bound.info("run_rollups_stored", keys=written)
        return None

    def _observe_run(
        self,
        ref: metrics.RunRef,
        run: runs.RunView,
        available: list[tasks_api.Task],
        decision: runs.RunDecision,
    ) -> None:
        """The run's gauges: its size and budget once, then phases, spend, scores and AUP
        (the best scores when the decision rolled the run up)."""
        status = decision.status or run.status
        if ref not in self._planned:
            chosen, _ = runs.select_tasks(run.spec.tasks, available)
            metrics.run_planned(
                ref,
                trials=status.counters.total,
                budget_usd=run.spec.budget_usd,
                tasks=[t.name for t in chosen],
                agents=[a.name for a in run.spec.agents],
            )
            self._planned.add(ref)
        counters = status.counters
        metrics.set_phases(
            ref,
            {
                "Pending": counters.pending,
                "Running": counters.running,
                "Succeeded": counters.succeeded,
                "Failed": counters.failed,
            },
        )
        metrics.set_spend(ref, status.spent_usd)
        for score in status.leaderboard:
            if score.best_attempt_aup is not None:
                metrics.set_aup(
                    ref, agent=score.agent, profile="best_attempt", value=score.best_attempt_aup
                )
            if score.best_submission_aup is not None:
                metrics.set_aup(
                    ref,
                    agent=score.agent,
                    profile="best_submission",
                    value=score.best_submission_aup,
                )
        for (task, agent), best in (decision.best_scores or {}).items():
            metrics.set_best_score(ref, task=task, agent=agent, score=best)


def _observe_trial(trial: trials.TrialView, decision: trials.Decision) -> None:
    """A Trial's transitions as metrics: started (scheduling latency), finished, infra failures."""
    ref = metrics.RunRef(trial.namespace, trial.spec.run)
    new = decision.status
    if new is None:
        return
    old = trial.status
    if new.scheduled_time is not None and old.scheduled_time is None:
        waited = None
        if new.attempt == 0:  # from the Trial's creation (the run's apply) to its pods running
            waited = max(0.0, (new.scheduled_time - trial.created).total_seconds())
        metrics.trial_started(ref, task=trial.spec.task, waited_seconds=waited)
    if len(new.infra_failures) > len(old.infra_failures):
        reason = new.infra_failures[-1].reason
        metrics.infra_failure(ref, reason)
        if not new.finished:
            metrics.retried(ref, reason)
    if new.finished and not old.finished:
        seconds = 0.0
        started = old.start_time or new.start_time
        if new.finish_time is not None and started is not None:
            seconds = (new.finish_time - started).total_seconds()
        prompt = min(new.prompt_tokens, new.tokens)
        metrics.trial_finished(
            ref,
            task=trial.spec.task,
            agent=trial.spec.agent,
            phase=new.phase,  # finished: Succeeded or Failed
            seconds=max(0.0, seconds),
            steps=new.steps,
            prompt_tokens=prompt,
            completion_tokens=new.tokens - prompt,
            cost_usd=new.cost_usd,
        )


def _split_attempts(
    pods: list[dict[str, Any]], attempt: int
) -> tuple[trials.AttemptPods, set[int]]:
    """The current attempt's pods, and the older attempts that still have pods."""
    sandbox = agent = None
    created: list[dt.datetime] = []
    stale: set[int] = set()
    for pod in pods:
        meta = pod["metadata"]
        found = meta.get("labels") or {}
        try:
            number = int(found.get(labels.ATTEMPT, "-1"))
        except ValueError:
            continue
        if number < attempt:
            if meta.get("deletionTimestamp") is None:
                stale.add(number)
            continue
        if number != attempt:
            continue
        if meta.get("creationTimestamp"):
            created.append(outcomes.parse_time(meta["creationTimestamp"]))
        role = found.get(labels.ROLE)
        if role == objects.ROLE_SANDBOX:
            sandbox = pod
        elif role == objects.ROLE_AGENT:
            agent = pod
    return trials.AttemptPods(sandbox, agent, min(created) if created else None), stale


def _derives_credentials(pods: list[dict[str, Any] | None]) -> bool:
    """Whether the attempt's pods derive their tokens from the run's key (a `credentials`
    init container, `objects.credentials`): such an attempt has no Secret of its own."""
    return any(
        c.get("name") == "credentials"
        for pod in pods
        if pod is not None
        for c in (pod.get("spec") or {}).get("initContainers") or []
    )


def _parse_task(body: dict[str, Any]) -> tasks_api.Task:
    return tasks_api.Task.model_validate(_without_server_fields(body))


def _without_server_fields(body: dict[str, Any]) -> dict[str, Any]:
    """A Task as the models read it: the server adds `status` nowhere, but strips nothing either."""
    return {k: v for k, v in body.items() if k in ("apiVersion", "kind", "metadata", "spec")}


def _log(bound: Any, event_type: str) -> Any:
    """Warning events are warnings in the log too."""
    return bound.warning if event_type == "Warning" else bound.info


def _snake(reason: str) -> str:
    out = []
    for i, char in enumerate(reason):
        if char.isupper() and i:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
