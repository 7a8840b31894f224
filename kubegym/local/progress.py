"""The live view of a local run: a live display on a terminal, log lines elsewhere.

The local runner reports every trial's start, steps and end here (from worker
threads, hence the lock). Every event updates a `kubegym.local.live.RunState`;
with ``live`` on, `kubegym.local.display.LiveDisplay` draws that state in place
(`kubegym run` on a terminal, with the logs moved to a file by
`kubegym.log.to_file`); otherwise each event is a structlog line, so CI logs,
pipes and ``--no-live`` stay readable line by line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TextIO

import structlog

from kubegym.agent_runner import trajectory
from kubegym.api import results as results_api
from kubegym.local import display
from kubegym.local import live as live_model

log = structlog.get_logger()


class Progress:
    """Counts of trials pending, running, done and failed; steps taken; USD spent.

    Args:
        total: trials in the grid.
        stream: where the live display draws (stderr by default).
        live: draw the live display (the caller checked that ``stream`` is a terminal);
            otherwise every event is a log line.
        state: the run's display state (its name, grid, parallelism and budget); a bare
            one of ``total`` trials when absent.
        log_file: where the logs go while the display is up, shown at its bottom.
        clock: monotonic seconds; for tests.
    """

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        live: bool | None = None,
        *,
        state: live_model.RunState | None = None,
        log_file: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total = total
        self.stream = stream or sys.stderr
        self.live = bool(live)
        self._clock = clock
        self.state = state or live_model.RunState(
            run="", trials={f"#{i}": ("", "") for i in range(total)}, started_at=clock()
        )
        self._lock = threading.Lock()
        self.display: display.LiveDisplay | None = None
        if self.live:
            self.show_live(self.state, log_file)

    def show_live(self, state: live_model.RunState, log_file: str | None = None) -> None:
        """Put the live display up on the stream, showing ``state`` (the run's grid, budget
        and tasks' directions), which replaces the bare one; before the first event."""
        with self._lock:
            self.state = state
        self.live = True
        self.display = display.LiveDisplay(state, self._lock, self.stream, log_file, self._clock)
        self.display.start()

    # Counts kept for callers (and `MetricsProgress`) that read them directly.
    @property
    def running(self) -> Mapping[str, float]:
        return self.state.running

    @property
    def done(self) -> int:
        return self.state.succeeded

    @property
    def failed(self) -> int:
        return self.state.failed

    @property
    def steps(self) -> int:
        return self.state.steps

    @property
    def spent(self) -> float:
        return self.state.spent_usd

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed - len(self.running)

    def resume(self, finished: Iterable[results_api.TrialResult]) -> None:
        """Count trials finished by an earlier run of the same command."""
        with self._lock:
            self.state.resume(finished)
            count = self.state.resumed
        if count:
            self._event("run_resumed", finished=count)

    def started(self, trial: str) -> None:
        with self._lock:
            self.state.start(trial, self._clock())
        self._event("trial_started", trial=trial)

    def step(self, trial: str, step: trajectory.Step) -> None:
        with self._lock:
            self.state.step(trial, step.prompt_tokens + step.completion_tokens, step.cost_usd)

    def infra_failure(self, trial: str, reason: str, retrying: bool) -> None:
        """An attempt of `trial` was lost to the infrastructure (`reason`); retried or not."""
        with self._lock:
            self.state.attempt_failed(trial, reason, retrying)
        self._event("trial_infra_failure", trial=trial, reason=reason, retrying=retrying)

    def skipped(self, trial: str, reason: str) -> None:
        with self._lock:
            self.state.skip(trial, reason)
        self._event("trial_skipped", trial=trial, reason=reason)

    def finished(self, results: results_api.TrialResult) -> None:
        with self._lock:
            self.state.finish(results, self._clock())
        self._event(
            "trial_finished",
            trial=results.trial,
            exit=results.exit_reason,
            score=results.score,
            failed=results.failed,
        )

    def close(self, interrupted: bool = False) -> None:
        """The run ended (or was interrupted): the display's last frame stays on screen."""
        with self._lock:
            if self.state.ended_at is None:
                self.state.end(self._clock(), interrupted)
        if self.display is not None:
            self.display.stop()

    def _event(self, event: str, **fields: object) -> None:
        # The display redraws itself a few times a second; the logs (in the run's log
        # file while it is up) get every event either way.
        log.info(event, **fields, progress=f"{self.done + self.failed}/{self.total}")
