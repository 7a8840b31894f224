"""The state a live run display shows, kept from events: a pure model, no terminal in it.

`kubegym.local.progress.Progress` feeds it the local runner's events (a trial
started, took a step, lost an attempt, finished); `kubegym status` builds one
from a cluster BenchmarkRun's Trials (`RunState.from_cluster`). The renderer
(`kubegym.local.display`) only reads it. Every method takes the time it
happened at (monotonic seconds), so tests drive it without a clock.

Names and messages come from agents and task authors and may carry escape
sequences: `safe_text` makes any of them fit for a terminal, and the renderer
passes every string it did not write itself through it.
"""

from __future__ import annotations

import collections
import heapq
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kubegym.api import results as results_api
from kubegym.api import runs
from kubegym.api import trials as trials_api

#: How many recent failures the display keeps.
RECENT_FAILURES = 5

#: The longest name or message shown; longer ones end in an ellipsis.
MAX_TEXT = 60

# C0 controls, DEL and C1 controls: ESC (CSI/OSC sequences), BEL, backspace, carriage
# return… Any of them could move the cursor, retitle the window or clear the screen.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def safe_text(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` made harmless on a terminal: control characters written out (ESC as
    ``\\x1b``), at most ``limit`` characters (an ellipsis marks a cut)."""
    shown = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))
    # Bidirectional overrides and zero-width marks can make a name read as another.
    shown = "".join(
        f"\\u{ord(c):04x}" if 0x200B <= ord(c) <= 0x200F or 0x202A <= ord(c) <= 0x202E else c
        for c in shown
    )
    if len(shown) > limit:
        shown = shown[: max(limit - 1, 0)] + "…"
    return shown


@dataclass(frozen=True)
class Failure:
    """A failed trial or a lost attempt, for the display's recent failures."""

    trial: str
    reason: str
    message: str = ""
    retrying: bool = False


@dataclass
class AgentStanding:
    """One agent's trials so far and its best score per task."""

    finished: int = 0
    failed: int = 0
    best: dict[str, float] = field(default_factory=dict)
    """Per task: the best primary test metric over its finished trials (best attempt)."""


@dataclass
class RunState:
    """Counts, bests, spend and timing of one run, from its events.

    Args:
        run: the run's name.
        trials: every trial of the grid → (task, agent).
        parallelism: trials that may run at once (for the ETA).
        budget_usd: the run's budget, if it has one.
        started_at: monotonic seconds when the run started.
        directions: per task, ``max`` or ``min`` (learnt from results when absent).
    """

    run: str
    trials: Mapping[str, tuple[str, str]]
    parallelism: int = 1
    budget_usd: float | None = None
    started_at: float = 0.0
    directions: dict[str, str] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    """Running trial → when it started."""
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    resumed: int = 0
    steps: int = 0
    tokens: int = 0
    spent_usd: float = 0.0
    infra_retried: int = 0
    durations: list[float] = field(default_factory=list)
    """Seconds each trial finished in this run took (resumed ones excluded)."""
    agents: dict[str, AgentStanding] = field(default_factory=dict)
    recent_failures: collections.deque[Failure] = field(
        default_factory=lambda: collections.deque(maxlen=RECENT_FAILURES)
    )
    aup: dict[str, float] = field(default_factory=dict)
    """Per agent: its best-attempt AUP, where known (a cluster run's rollup)."""
    phase: str | None = None
    """The run's phase, where something reports one (a cluster run's status)."""
    ended_at: float | None = None
    interrupted: bool = False

    def __post_init__(self) -> None:
        # The grid never changes: its tasks are read once, not at every frame.
        self._tasks = sorted({task for task, _ in self.trials.values() if task})
        for _, agent in self.trials.values():
            if agent:
                self.agents.setdefault(agent, AgentStanding())

    # --- events ---------------------------------------------------------------------

    def resume(self, finished: Iterable[results_api.TrialResult]) -> None:
        """Trials an earlier run of the same command finished: counted, not timed."""
        for result in finished:
            self.resumed += 1
            self.steps += result.steps
            self.tokens += result.prompt_tokens + result.completion_tokens
            self.spent_usd += result.cost_usd
            self._count(result)

    def start(self, trial: str, at: float) -> None:
        self.running[trial] = at

    def step(self, trial: str, tokens: int, cost_usd: float) -> None:
        self.steps += 1
        self.tokens += tokens
        self.spent_usd += cost_usd

    def attempt_failed(self, trial: str, reason: str, retrying: bool) -> None:
        """An attempt was lost to the infrastructure; the trial goes on if ``retrying``."""
        if retrying:
            self.infra_retried += 1
        self.recent_failures.append(Failure(trial, reason, retrying=retrying))

    def skip(self, trial: str, reason: str) -> None:
        self.skipped += 1
        self.recent_failures.append(Failure(trial, f"skipped: {reason}"))

    def finish(self, result: results_api.TrialResult, at: float) -> None:
        """A trial ended; its steps and spend were already counted step by step."""
        began = self.running.pop(result.trial, None)
        if began is not None:
            self.durations.append(max(at - began, 0.0))
        elif result.seconds:
            self.durations.append(result.seconds)
        self._count(result)

    def end(self, at: float, interrupted: bool = False) -> None:
        self.ended_at = at
        self.interrupted = interrupted

    # --- what the display reads --------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.trials)

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed

    @property
    def queued(self) -> int:
        return max(self.total - self.finished - self.skipped - len(self.running), 0)

    def elapsed(self, now: float) -> float:
        return max((self.ended_at if self.ended_at is not None else now) - self.started_at, 0.0)

    def eta_seconds(self, now: float) -> float | None:
        """Seconds until the last trial ends, from the median duration of finished trials:
        the queue fills ``parallelism`` slots as they free up, running trials have their
        elapsed time behind them. None until a trial has finished."""
        if not self.durations:
            return None
        left = self.queued + len(self.running)
        if left == 0:
            return 0.0
        typical = statistics.median(self.durations)
        # Each slot frees when its running trial has had the typical duration (or now, if
        # idle); each queued trial takes the slot that frees first.
        slots = [max(typical - (now - t), 0.0) for t in self.running.values()]
        slots += [0.0] * max(self.parallelism - len(slots), 0)
        heapq.heapify(slots)
        for _ in range(self.queued):
            heapq.heappush(slots, heapq.heappop(slots) + typical)
        return max(slots)

    def budget_share(self) -> float | None:
        if not self.budget_usd:
            return None
        return self.spent_usd / self.budget_usd

    def standings(self) -> list[tuple[str, AgentStanding]]:
        """Agents by name, each with its counts and best score per task."""
        return sorted(self.agents.items())

    def tasks(self) -> list[str]:
        return self._tasks

    # --- helpers --------------------------------------------------------------------

    def _count(self, result: results_api.TrialResult) -> None:
        standing = self.agents.setdefault(result.agent, AgentStanding())
        self.directions.setdefault(result.task, result.direction)
        if result.failed:
            self.failed += 1
            standing.failed += 1
            self.recent_failures.append(
                Failure(result.trial, str(result.exit_reason), result.message)
            )
        else:
            self.succeeded += 1
        standing.finished += 1
        score = result.best_attempt if result.best_attempt is not None else result.score
        if score is not None and math.isfinite(score):
            old = standing.best.get(result.task)
            better = max if self.directions.get(result.task, "max") == "max" else min
            standing.best[result.task] = score if old is None else better(old, score)

    # --- a cluster run --------------------------------------------------------------

    @classmethod
    def from_cluster(
        cls,
        run: runs.BenchmarkRun,
        trial_objects: Sequence[trials_api.Trial],
        now: float,
        wall_now: float,
    ) -> RunState:
        """The state of a cluster run from its object and its Trials' statuses.

        Args:
            run: the BenchmarkRun as read from the API server.
            trial_objects: its Trials.
            now: the monotonic clock's now (the state's time base).
            wall_now: the Unix time at ``now``, to place the statuses' timestamps.
        """
        status = run.status or runs.BenchmarkRunStatus()
        total = status.counters.total or len(trial_objects)
        grid = {t.metadata.name: (t.spec.task, t.spec.agent) for t in trial_objects}
        # Trials not created yet (a run admits them in waves) still count in the total.
        for index in range(total - len(grid)):
            grid[f"(not created {index})"] = ("", "")
        started = status.start_time.timestamp() if status.start_time else wall_now
        state = cls(
            run=run.name,
            trials=grid,
            parallelism=run.spec.parallelism,
            budget_usd=run.spec.budget_usd,
            started_at=now - (wall_now - started),
            phase=status.phase,
        )
        for agent in run.spec.agents:
            state.agents.setdefault(agent.name, AgentStanding())
        for trial in sorted(trial_objects, key=_finish_order):
            trial_status = trial.status or trials_api.TrialStatus()
            name = trial.metadata.name
            state.steps += trial_status.steps
            state.tokens += trial_status.tokens
            state.spent_usd += trial_status.cost_usd
            for lost in trial_status.infra_failures:
                state.infra_retried += 1
                state.recent_failures.append(Failure(name, str(lost.reason), lost.message or ""))
            if trial_status.phase == "Running" and trial_status.start_time is not None:
                state.running[name] = now - (wall_now - trial_status.start_time.timestamp())
            elif trial_status.phase == "Running":
                state.running[name] = now
            elif trial_status.phase in ("Succeeded", "Failed"):
                state._count(_result_of(trial, trial_status))
                if trial_status.start_time and trial_status.finish_time:
                    state.durations.append(
                        max(
                            (trial_status.finish_time - trial_status.start_time).total_seconds(),
                            0.0,
                        )
                    )
        if status.completion_time is not None:
            state.end(now - (wall_now - status.completion_time.timestamp()))
        # The operator's counters are the run's truth; the Trials only add detail.
        if status.counters.total:
            state.succeeded = status.counters.succeeded
            state.failed = status.counters.failed
            state.infra_retried = status.counters.infra_retried
        state.spent_usd = max(state.spent_usd, status.spent_usd)
        state.aup = {
            s.agent: s.best_attempt_aup
            for s in status.leaderboard
            if s.best_attempt_aup is not None
        }
        return state


def _finish_order(trial: trials_api.Trial) -> float:
    """Finished trials oldest first, so the most recent failures are kept last."""
    finish = trial.status.finish_time if trial.status else None
    return finish.timestamp() if finish else math.inf


def _result_of(trial: trials_api.Trial, status: trials_api.TrialStatus) -> results_api.TrialResult:
    """The parts of a finished Trial's status the state counts, as a `TrialResult`.

    Without the Task the direction of its metric is unknown, so no per-task best is
    taken from a cluster run: its agents stand by the AUP the operator rolls up.
    """
    return results_api.TrialResult(
        trial=trial.metadata.name,
        task=trial.spec.task,
        agent=trial.spec.agent,
        seed=trial.spec.seed,
        primary_metric="",
        direction="max",
        exit_reason=status.exit_reason or "internal_error",
        score=None,
        failure_class=status.failure_class,
        message=status.message or "",
    )
