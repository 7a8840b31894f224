"""The typed API that updates kubegym's metrics: what the operator, the local runner and the store call.

One `Metrics` object owns the families (`kubegym.metrics.families`) and
remembers which series each run created, so `Metrics.forget_run` can remove
a deleted run's series and Prometheus stops seeing it. The package keeps one
process-wide instance (`kubegym.metrics.METRICS`) with module-level aliases
of its methods; tests make their own `Metrics()` on a fresh registry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Literal, TypeVar, get_args

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from kubegym.metrics import families, reasons

Phase = Literal["Pending", "Running", "Succeeded", "Failed"]
Profile = Literal["best_attempt", "best_submission"]
PHASES: tuple[Phase, ...] = get_args(Phase)
PROFILES: tuple[Profile, ...] = get_args(Profile)
FINISHED_PHASES = ("Succeeded", "Failed")

_Family = TypeVar("_Family", bound=MetricWrapperBase)


@dataclass(frozen=True)
class RunRef:
    """Which run a series belongs to: its namespace and name (``local`` namespace for `kubegym run`)."""

    namespace: str
    name: str


class Metrics:
    """kubegym's metrics and the calls that update them.

    Every method is thread-safe (the local runner calls from worker threads).

    Args:
        registry: where the families live; a fresh registry by default.
        clock: the Unix time, for the last-progress timestamp; for tests.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,  # for tests
    ) -> None:
        self.families = families.Families(registry)
        self.registry = self.families.registry
        self._clock = clock
        self._lock = threading.Lock()
        # run → every (family, label values) it touched, for forget_run.
        self._series: dict[RunRef, set[tuple[MetricWrapperBase, tuple[str, ...]]]] = {}

    # --- the run as a whole -----------------------------------------------------------

    def run_planned(
        self,
        run: RunRef,
        *,
        trials: int,
        budget_usd: float | None = None,
        tasks: Iterable[str] = (),
        agents: Iterable[str] = (),
    ) -> None:
        """Declare a run: its grid size and budget. Counts as progress (the run just started).

        Every counter the run will use starts at 0 here: Prometheus' ``rate`` and
        ``increase`` see nothing of a series whose first sample is already 1, so a
        first infrastructure failure would otherwise never show up in an alert.

        Args:
            run: the run.
            trials: tasks × agents × seeds.
            budget_usd: the run's model budget; None removes the budget series.
            tasks: the run's task names, to start their trial counters at 0.
            agents: the run's agent names, likewise for trials, steps, tokens and spend.
        """
        self._child(self.families.planned, run).set(trials)
        if budget_usd is None:
            self._remove(self.families.budget, run, ())
        else:
            self._child(self.families.budget, run).set(budget_usd)
        for reason in sorted(reasons.INFRA_REASONS):
            self._child(self.families.infra_failures, run, reason)
            self._child(self.families.retries, run, reason)
        agent_names, task_names = list(agents), list(tasks)
        for agent in agent_names:
            self._count_work(run, agent, 0, 0, 0, 0.0)
            for task in task_names:
                for phase in FINISHED_PHASES:
                    self._child(self.families.trials_finished, run, task, agent, phase)
        # Histograms too: a quantile over `rate` needs the series before the first observation.
        for task in task_names:
            self._child(self.families.scheduling_latency, run, task)
            self._child(self.families.trial_duration, run, task)
        self.mark_progress(run)

    def set_phases(self, run: RunRef, counts: Mapping[str, int]) -> None:
        """Set how many trials of the run are in each phase (phases left out count 0).

        Also sets ``kubegym_run_trials_finished`` (Succeeded + Failed).

        Raises:
            ValueError: a phase that is not a Trial phase.
        """
        unknown = set(counts) - set(PHASES)
        if unknown:
            raise ValueError(f"unknown trial phase(s) {sorted(unknown)}; expected {PHASES}")
        for phase in PHASES:
            self._child(self.families.trials, run, phase).set(counts.get(phase, 0))
        finished = sum(counts.get(p, 0) for p in FINISHED_PHASES)
        self._child(self.families.finished, run).set(finished)

    def set_spend(self, run: RunRef, spent_usd: float) -> None:
        """Set the run's model spend so far (resumed or earlier trials included)."""
        self._child(self.families.spend, run).set(spent_usd)

    def mark_progress(self, run: RunRef, at: float | None = None) -> None:
        """Record that the run moved (default: now). The trial and step calls do this themselves."""
        self._child(self.families.last_progress, run).set(self._clock() if at is None else at)

    # --- trials and steps -------------------------------------------------------------

    def trial_started(self, run: RunRef, *, task: str, waited_seconds: float | None) -> None:
        """A trial's sandbox is running.

        Args:
            run: the run.
            task: the trial's task.
            waited_seconds: from the trial's creation (on a cluster: the Trial
                applied; locally: the run's start) to its sandbox running;
                None when unknown (an operator restarted in between).
        """
        if waited_seconds is not None:
            self._child(self.families.scheduling_latency, run, task).observe(waited_seconds)
        self.mark_progress(run)

    def steps_taken(
        self,
        run: RunRef,
        *,
        agent: str,
        steps: int = 1,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        """Count agent steps as they happen, with their tokens and spend.

        Report each step once: either live here, or in total through
        `trial_finished` — not both.
        """
        self._count_work(run, agent, steps, prompt_tokens, completion_tokens, cost_usd)
        self.mark_progress(run)

    def trial_finished(
        self,
        run: RunRef,
        *,
        task: str,
        agent: str,
        phase: Phase,
        seconds: float,
        steps: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        """A trial ended (Succeeded or Failed): count it and observe its duration.

        Args:
            run: the run.
            task: the trial's task.
            agent: the trial's agent.
            phase: ``Succeeded`` or ``Failed``.
            seconds: the trial's wall time.
            steps: steps, tokens and spend of the whole trial, when they were
                not reported live through `steps_taken` (leave 0 otherwise).
            prompt_tokens: see ``steps``.
            completion_tokens: see ``steps``.
            cost_usd: see ``steps``.

        Raises:
            ValueError: a phase other than Succeeded or Failed.
        """
        if phase not in FINISHED_PHASES:
            raise ValueError(f"a finished trial is Succeeded or Failed, not {phase!r}")
        self._child(self.families.trials_finished, run, task, agent, phase).inc()
        self._child(self.families.trial_duration, run, task).observe(seconds)
        self._count_work(run, agent, steps, prompt_tokens, completion_tokens, cost_usd)
        self.mark_progress(run)

    def infra_failure(self, run: RunRef, reason: str, count: int = 1) -> str:
        """Count trial attempts lost to the infrastructure.

        Args:
            run: the run.
            reason: the cause as raised (``OOMKilled``, ``Evicted``…); mapped
                by `kubegym.metrics.reasons.infra_reason`.
            count: how many attempts.

        Returns:
            The reason label used.
        """
        label = reasons.infra_reason(reason)
        self._child(self.families.infra_failures, run, label).inc(count)
        return label

    def retried(self, run: RunRef, reason: str, count: int = 1) -> str:
        """Count trial attempts started again after an infrastructure failure.

        Returns:
            The reason label used (see `infra_failure`).
        """
        label = reasons.infra_reason(reason)
        self._child(self.families.retries, run, label).inc(count)
        return label

    # --- scores -----------------------------------------------------------------------

    def set_best_score(self, run: RunRef, *, task: str, agent: str, score: float) -> None:
        """Set the best hidden-test score of an agent on a task over its seeds so far."""
        self._child(self.families.best_score, run, task, agent).set(score)

    def set_aup(self, run: RunRef, *, agent: str, profile: Profile, value: float) -> None:
        """Set an agent's AUP under one performance profile.

        Raises:
            ValueError: a profile other than best_attempt or best_submission.
        """
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; expected {PROFILES}")
        self._child(self.families.aup, run, agent, profile).set(value)

    # --- the operator and the store ---------------------------------------------------

    @contextmanager
    def reconcile(self, kind: str) -> Iterator[None]:
        """Time one reconcile of an object of ``kind``; count it as an error if it raises.

        Examples:
            >>> with metrics.reconcile("BenchmarkRun"):
            ...     handle(body)
        """
        errors = self.families.reconcile_errors.labels(kind)  # at 0 until the first error
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            errors.inc()
            raise
        finally:
            self.families.reconcile_duration.labels(kind).observe(time.perf_counter() - start)

    def event_dropped(self, kind: str) -> None:
        """Count an Event about an object of ``kind`` that was not posted (rate limit)."""
        self.families.events_dropped.labels(kind).inc()

    def api_request(self, verb: str, resource: str, code: str) -> None:
        """Count one request the operator made to the Kubernetes API (`kube.request_kind`
        names its verb and resource; ``code`` is the HTTP status, or ``error``)."""
        self.families.api_requests.labels(verb, resource, code).inc()

    def set_leader(self, leading: bool) -> None:
        """Say whether this operator process leads (reconciles) or waits as a standby."""
        self.families.leader.set(1 if leading else 0)

    def upload(self, backend: str, *, nbytes: int, seconds: float, ok: bool = True) -> None:
        """Record one upload to the artifact store.

        Args:
            backend: ``s3`` or ``local``.
            nbytes: the object's size (counted only when the upload succeeded).
            seconds: how long the try took, success or not.
            ok: False for a failed try (counted as a failure).
        """
        self.families.upload_duration.labels(backend).observe(seconds)
        # Both counters exist from the first upload on, so a first failure shows in `rate`.
        self.families.upload_bytes.labels(backend).inc(nbytes if ok else 0)
        self.families.upload_failures.labels(backend).inc(0 if ok else 1)

    # --- cleanup ----------------------------------------------------------------------

    def forget_run(self, run: RunRef) -> int:
        """Remove every series of a run (it was deleted), so dashboards and alerts let go of it.

        Returns:
            How many series were removed.
        """
        with self._lock:
            touched = self._series.pop(run, set())
        for family, values in touched:
            with suppress(KeyError):  # already removed (a budget set back to None)
                family.remove(*values)
        return len(touched)

    # --- internals --------------------------------------------------------------------

    def _count_work(
        self,
        run: RunRef,
        agent: str,
        steps: int,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
    ) -> None:
        # Touch the series even at 0, so rates exist from a run's first step.
        self._child(self.families.steps, run, agent).inc(steps)
        self._child(self.families.tokens, run, agent, "prompt").inc(prompt_tokens)
        self._child(self.families.tokens, run, agent, "completion").inc(completion_tokens)
        self._child(self.families.cost, run, agent).inc(cost_usd)

    def _child(self, family: _Family, run: RunRef, *rest: str) -> _Family:
        values = (run.namespace, run.name, *rest)
        with self._lock:
            self._series.setdefault(run, set()).add((family, values))
        return family.labels(*values)

    def _remove(self, family: MetricWrapperBase, run: RunRef, rest: tuple[str, ...]) -> None:
        values = (run.namespace, run.name, *rest)
        with self._lock:
            self._series.get(run, set()).discard((family, values))
        with suppress(KeyError):  # never set
            family.remove(*values)
