"""Metrics for `kubegym run`: a `Progress` that also updates `kubegym.metrics`.

`kubegym run --metrics-port` (kubegym/cli/run.py) hands a `MetricsProgress`
to the local runner (`kubegym.local.runner.LocalRun.execute`), which reports
every trial's start, steps and end to it; the terminal view stays the same.
Not imported by ``kubegym.metrics`` itself, which stays free of the runner's
imports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TextIO

from kubegym.agent_runner import trajectory
from kubegym.api import results as results_api
from kubegym.local.progress import Progress
from kubegym.metrics import recorder

# A local run has no Kubernetes namespace unless its file names one.
LOCAL_NAMESPACE = "local"


class MetricsProgress(Progress):
    """The local run's live view, mirrored into Prometheus metrics.

    Args:
        total: trials in the grid.
        metrics: where to record (`kubegym.metrics.METRICS` in the CLI).
        run: the run's namespace and name.
        trials: every trial id of the grid → (task, agent), so per-step events,
            which carry only the trial id, land on the right agent.
        budget_usd: the run's budget, for the spend-ratio alert.
        stream: see `Progress`.
        live: see `Progress`.
        clock: monotonic seconds, for the wait before each trial starts; for tests.
    """

    def __init__(
        self,
        total: int,
        *,
        metrics: recorder.Metrics,
        run: recorder.RunRef,
        trials: Mapping[str, tuple[str, str]],
        budget_usd: float | None = None,
        stream: TextIO | None = None,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,  # for tests
    ):
        super().__init__(total, stream, live)
        self.metrics = metrics
        self.run = run
        self._trials = dict(trials)
        self._clock = clock
        self._started_at = clock()
        self._best: dict[tuple[str, str], float] = {}
        self._best_lock = threading.Lock()
        metrics.run_planned(
            run,
            trials=total,
            budget_usd=budget_usd,
            tasks=sorted({task for task, _ in self._trials.values()}),
            agents=sorted({agent for _, agent in self._trials.values()}),
        )
        self._publish()

    def resume(self, finished: Iterable[results_api.TrialResult]) -> None:
        done = list(finished)
        super().resume(done)
        for results in done:
            self._record_best(results)
        self._publish()

    def started(self, trial: str) -> None:
        super().started(trial)
        # Locally a trial "is scheduled" when a parallelism slot frees up: its wait
        # counts from the run's start, the local stand-in for applying the Trial.
        task, _ = self._trials.get(trial, ("unknown", "unknown"))
        self.metrics.trial_started(
            self.run, task=task, waited_seconds=self._clock() - self._started_at
        )
        self._publish()

    def step(self, trial: str, step: trajectory.Step) -> None:
        super().step(trial, step)
        _, agent = self._trials.get(trial, ("unknown", "unknown"))
        self.metrics.steps_taken(
            self.run,
            agent=agent,
            prompt_tokens=step.prompt_tokens,
            completion_tokens=step.completion_tokens,
            cost_usd=step.cost_usd,
        )
        self.metrics.set_spend(self.run, self.spent)

    def finished(self, results: results_api.TrialResult) -> None:
        super().finished(results)
        # Steps, tokens and spend were counted live by `step`; only the end is new.
        self.metrics.trial_finished(
            self.run,
            task=results.task,
            agent=results.agent,
            phase=results.phase,
            seconds=results.seconds or 0.0,
        )
        # Lost attempts were counted as they happened (`infra_failure`).
        self._record_best(results)
        self._publish()

    def infra_failure(self, trial: str, reason: str, retrying: bool) -> None:
        super().infra_failure(trial, reason, retrying)
        self.metrics.infra_failure(self.run, reason)
        if retrying:
            self.metrics.retried(self.run, reason)

    def publish_leaderboard(self, board: Mapping[str, Any], exclude: Iterable[str] = ()) -> None:
        """Set AUP per agent and profile from a leaderboard (``leaderboard.json``'s shape).

        Args:
            board: ``{"agents": {name: {"best_attempt": x, "best_submission": y}}}``.
            exclude: methods that are not agents (the tasks' reference baseline).
        """
        skip = set(exclude)
        for agent, entry in board.get("agents", {}).items():
            if agent in skip:
                continue
            for profile in recorder.PROFILES:
                value = entry.get(profile)
                if isinstance(value, int | float):
                    self.metrics.set_aup(self.run, agent=agent, profile=profile, value=value)

    def _record_best(self, results: results_api.TrialResult) -> None:
        score = results.best_attempt
        if score is None:
            return
        key = (results.task, results.agent)
        better_is_lower = results.direction == "min"
        with self._best_lock:
            old = self._best.get(key)
            if old is not None and (score >= old if better_is_lower else score <= old):
                return
            self._best[key] = score
        self.metrics.set_best_score(self.run, task=key[0], agent=key[1], score=score)

    def _publish(self) -> None:
        with self._lock:
            counts = {
                "Pending": self.pending,
                "Running": len(self.running),
                "Succeeded": self.done,
                "Failed": self.failed,
            }
            spent = self.spent
        self.metrics.set_phases(self.run, counts)
        self.metrics.set_spend(self.run, spent)
