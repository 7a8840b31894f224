"""The agent loop: one trial from the task prompt to the final score, within its limits.

Drives any agent (`kubegym.agent_runner.agents`) through a research
environment (`kubegym.agent_runner.env.ResearchEnv`), records every step, and ends with a
submission: the agent's own, or an automatic one when a limit (steps, cost,
wall time), the context window, the reply format or (for an agent whose design ends there, the
mlgym preset) a failed model API stops it. Called by the
local runner for each trial, and by the agent pod's entrypoint on a cluster.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from kubegym.agent_runner import agents, decisions, trajectory
from kubegym.api import reasons, trials
from kubegym.api import results as results_api
from kubegym.errors import TrialFailed

log = structlog.get_logger()


@dataclass(frozen=True)
class Limits:
    """How far one trial may go."""

    max_steps: int
    cost_limit_usd: float
    wall_time_seconds: float


@dataclass
class _Totals:
    steps: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, decision: agents.Decision) -> None:
        self.prompt_tokens += decision.prompt_tokens
        self.completion_tokens += decision.completion_tokens
        self.cost_usd += decision.cost_usd


def run_trial(
    env: Any,
    agent: agents.Agent,
    *,
    task: str,
    seed: int,
    trial_id: str,
    limits: Limits,
    recorder: trajectory.Recorder,
    attempt: int = 0,
    reset_options: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> results_api.TrialResult:
    """Run one trial to its end and return its results; every step goes to ``recorder``.

    The environment is reset and the agent given its prompt; the agent then takes
    turns (`_play`) until it submits or something stops it; a trial stopped early
    but not failed from inside is submitted automatically (`_auto_submit`); the
    results come from the environment's scores (`_results`).

    Args:
        env: a `kubegym.agent_runner.env.ResearchEnv` (or anything with its reset/step).
        agent: the agent choosing actions.
        task: the task's name, passed to ``env.reset``.
        seed: the trial's seed.
        trial_id: the trial's stable id, for the record.
        limits: steps, cost and wall time.
        recorder: where the steps go.
        attempt: the attempt number (infrastructure retries).
        reset_options: more options for ``env.reset`` (the workspace folder, the trial's id).
        clock: seconds, monotonic; a parameter for tests.
    """
    started_at = dt.datetime.now(dt.UTC)
    started = clock()
    bound = log.bind(trial=trial_id, task=task, agent=agent.name, seed=seed)
    observation, info = env.reset(seed=seed, options={**(reset_options or {}), "task": task})
    if isinstance(agent, agents.SeesState):
        agent.see(info)
    agent.start(observation, info["system_prompt"])
    ending = _play(env, agent, recorder, limits, clock, started)
    totals = ending.totals
    if ending.failed:
        bound.warning("trial_failed_by_agent", reason=ending.reason)
    elif ending.reason != "submitted":
        # Every way of stopping early still scores what the agent built so far.
        bound.info("trial_auto_submit", reason=ending.reason)
        _auto_submit(env, recorder, totals.steps + 1, ending.reason, clock)
    scores: list[trials.Score] = list(env.scores)
    results = _results(
        env, agent, task, seed, trial_id, attempt, ending.reason, ending.message, scores, totals
    )
    results.seconds = clock() - started
    results.started = started_at.isoformat()
    results.finished = dt.datetime.now(dt.UTC).isoformat()
    bound.debug("trial_ended", exit=results.exit_reason, score=results.score, steps=totals.steps)
    return results


@dataclass(frozen=True)
class _Ending:
    """How the agent's turns ended, and what they spent."""

    reason: str
    """The exit reason: ``submitted``, a limit, a reply the agent could not make, or a
    reason of the agent's class from inside the trial."""

    totals: _Totals
    message: str = ""
    failed: bool = False
    """Ended from inside the trial: there is no sandbox left to submit from."""


def _play(
    env: Any,
    agent: agents.Agent,
    recorder: trajectory.Recorder,
    limits: Limits,
    clock: Callable[[], float],
    started: float,
) -> _Ending:
    """The agent's turns, each recorded, until it submits or a limit, its reply or the trial stops it."""
    totals = _Totals()
    last: str | None = None
    while True:
        reached = _limit_reached(totals, limits, lambda: clock() - started)
        if reached is not None:
            return _Ending(reached, totals)
        step_started = clock()
        try:
            decision = agent.act(last)
        except decisions.Stopped as exc:
            # The turn could not give an action (replies it could not read, a full context,
            # the cost limit, a failed model API for a preset that ends there): what the turn
            # cost counts, and the workspace is submitted.
            totals.add(exc.decision)
            return _Ending(exc.reason, totals, str(exc))
        totals.add(decision)
        try:
            last, _, terminated, _, step_info = env.step(decision.action)
        except TrialFailed as exc:
            # Something from inside the trial ended it: the agent's failure, with no
            # automatic submission (there is no sandbox left to score).
            totals.steps += 1
            ended = f"The trial ended: {exc.message or exc.reason}"
            recorder.step(_step(totals.steps, decision, ended, {}, clock() - step_started))
            return _Ending(exc.reason.value, totals, exc.message, failed=True)
        totals.steps += 1
        recorder.step(_step(totals.steps, decision, last, step_info, clock() - step_started))
        if terminated:
            return _Ending("submitted", totals)
        if isinstance(agent, agents.SeesState):
            agent.see(step_info)


def _limit_reached(totals: _Totals, limits: Limits, elapsed: Callable[[], float]) -> str | None:
    """The limit the trial has reached, as its exit reason; the clock is read only when needed."""
    if totals.steps >= limits.max_steps:
        return "max_steps"
    if totals.cost_usd >= limits.cost_limit_usd:
        return "cost_limit"
    if elapsed() >= limits.wall_time_seconds:
        return "wall_time"
    return None


def _auto_submit(
    env: Any, recorder: trajectory.Recorder, number: int, reason: str, clock: Callable[[], float]
) -> None:
    """Submit for an agent that stopped early, recorded as its step `number`."""
    step_started = clock()
    decision = agents.Decision("submit", thought=f"Automatic submission: {reason}.")
    last, _, _, _, step_info = env.step("submit")
    recorder.step(_step(number, decision, last, step_info, clock() - step_started))


def _step(
    number: int, decision: agents.Decision, observation: str, info: dict[str, Any], seconds: float
) -> trajectory.Step:
    score = info.get("score")
    return trajectory.Step(
        step=number,
        action=decision.action,
        observation=observation,
        thought=decision.thought,
        exit_code=info.get("exit_code"),
        prompt_tokens=decision.prompt_tokens,
        completion_tokens=decision.completion_tokens,
        cost_usd=decision.cost_usd,
        seconds=seconds,
        score=score.to_wire() if isinstance(score, trials.Score) else None,
        edits=list(info.get("edits") or []),
    )


def _results(
    env: Any,
    agent: agents.Agent,
    task: str,
    seed: int,
    trial_id: str,
    attempt: int,
    exit_reason: str,
    message: str,
    scores: list[trials.Score],
    totals: _Totals,
) -> results_api.TrialResult:
    metric = env.bundle.task.spec.evaluation.metric()
    submits = [s for s in scores if s.action == "submit"]
    final = submits[-1].metrics if submits and submits[-1].error is None else None
    failure = None
    if final is None:
        # Nothing valid was submitted: a scored outcome all the same, of the agent's making.
        failure = reasons.FailureClass.AGENT.value
        if exit_reason == "submitted":
            exit_reason = "eval_error"
        message = message or (submits[-1].error or "" if submits else "nothing was submitted")
    # The judge's own count: an agent's steps can claim anything, the ledger cannot be told.
    counts: tuple[int, int] | None = getattr(env, "validation_counts", None)
    return results_api.TrialResult(
        trial=trial_id,
        task=task,
        agent=agent.name,
        seed=seed,
        attempt=attempt,
        primary_metric=metric.name,
        direction=metric.direction,
        exit_reason=exit_reason,
        scores=scores,
        final=final,
        score=final.get(metric.name) if final else None,
        best_attempt=results_api.best_attempt(scores, metric.name, metric.direction),
        steps=totals.steps,
        prompt_tokens=totals.prompt_tokens,
        completion_tokens=totals.completion_tokens,
        cost_usd=totals.cost_usd,
        seconds=0.0,
        message=message,
        failure_class=failure,
        details={"sandbox": getattr(env, "sandbox_description", {})},
        validations=counts[0] if counts is not None else None,
        validations_refused=counts[1] if counts is not None else None,
    )
