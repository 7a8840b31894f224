"""The live view of a local run: one status line on a terminal, plain log lines elsewhere.

The local runner reports every trial's start, steps and end here (from worker
threads, hence the lock); on a terminal a single line is redrawn in place and
each finished trial is printed above it, otherwise each event is a structlog
line, so CI logs and pipes stay readable.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import TextIO

import structlog

from kubegym.agent_runner import trajectory
from kubegym.api import results as results_api

log = structlog.get_logger()


class Progress:
    """Counts of trials pending, running, done and failed; steps taken; USD spent."""

    def __init__(self, total: int, stream: TextIO | None = None, live: bool | None = None):
        self.total = total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.running: set[str] = set()
        self.done = 0
        self.failed = 0
        self.steps = 0
        self.spent = 0.0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        return self.total - self.done - self.failed - len(self.running)

    def resume(self, finished: Iterable[results_api.TrialResult]) -> None:
        """Count trials finished by an earlier run of the same command."""
        count = 0
        for results in finished:
            count += 1
            self._count(results)
        if count:
            self._event(
                f"resuming: {count} of {self.total} trials already finished",
                "run_resumed",
                finished=count,
            )

    def started(self, trial: str) -> None:
        with self._lock:
            self.running.add(trial)
        self._event(None, "trial_started", trial=trial)

    def step(self, trial: str, step: trajectory.Step) -> None:
        with self._lock:
            self.steps += 1
            self.spent += step.cost_usd
        if self.live:
            self._draw()

    def infra_failure(self, trial: str, reason: str, retrying: bool) -> None:
        """An attempt of `trial` was lost to the infrastructure (`reason`); retried or not."""
        self._event(None, "trial_infra_failure", trial=trial, reason=reason, retrying=retrying)

    def skipped(self, trial: str, reason: str) -> None:
        self._event(f"skipped {trial}: {reason}", "trial_skipped", trial=trial, reason=reason)

    def finished(self, results: results_api.TrialResult) -> None:
        with self._lock:
            self.running.discard(results.trial)
            self._count(results, steps=False)
        score = "—" if results.score is None else f"{results.score:.4g}"
        line = f"{'FAILED ' if results.failed else 'done   '}{results.trial}: {results.exit_reason}, {results.primary_metric} {score}"
        self._event(
            line,
            "trial_finished",
            trial=results.trial,
            exit=results.exit_reason,
            score=results.score,
            failed=results.failed,
        )

    def close(self) -> None:
        if self.live:
            self.stream.write("\r\033[K" + self._line() + "\n")
            self.stream.flush()

    def _count(self, results: results_api.TrialResult, steps: bool = True) -> None:
        if results.failed:
            self.failed += 1
        else:
            self.done += 1
        if steps:
            self.steps += results.steps
            self.spent += results.cost_usd

    def _line(self) -> str:
        return (
            f"trials {self.done + self.failed}/{self.total} · pending {self.pending} · "
            f"running {len(self.running)} · done {self.done} · failed {self.failed} · "
            f"steps {self.steps} · spent ${self.spent:.2f}"
        )

    def _event(self, text: str | None, event: str, **fields: object) -> None:
        if self.live:
            with self._lock:
                if text:
                    self.stream.write("\r\033[K" + text + "\n")
                self._draw_locked()
        else:
            log.info(event, **fields, progress=f"{self.done + self.failed}/{self.total}")

    def _draw(self) -> None:
        with self._lock:
            self._draw_locked()

    def _draw_locked(self) -> None:
        self.stream.write("\r\033[K" + self._line())
        self.stream.flush()
