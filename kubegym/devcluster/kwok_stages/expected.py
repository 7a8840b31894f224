"""What a run of stage-driven trials must end with, and what a finished run differs by.

Every trial of a `kwok-scored…` Task succeeds at its first attempt with the score
`kwok_stages.score` gives, so the run's counters, each trial's status and the
run's leaderboard are known before the run starts. `differences` compares a run
as the API server returns it with that, for bench/operator_scale.py,
bench/operator_chaos.py and tests/cluster/test_kwok_stages.py. The leaderboard is
computed by `kubegym.rollups` (the computation the operator and the local runner
share) from the expected records, so a difference means the operator's inputs
(which trials, which scores) were wrong, not the AUP arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kubegym import rollups
from kubegym.api import reasons, runs, tasks, trials
from kubegym.api import results as results_api
from kubegym.devcluster import kwok_stages

#: How far apart two AUPs may be and still read the same (the status rounds to 6 places).
AUP_TOLERANCE = 1e-5


def results(
    chosen: Sequence[tasks.Task], agents: Sequence[str], seeds: int
) -> list[results_api.TrialResult]:
    """The finished trials of the grid ``chosen`` × ``agents`` × ``range(seeds)``."""
    out = []
    for task in chosen:
        metric = task.spec.evaluation.metric()
        for agent in agents:
            for seed in range(seeds):
                record = kwok_stages.evaluator_record(task.name, agent, seed)
                value = kwok_stages.score(task.name, agent, seed)
                out.append(
                    results_api.TrialResult(
                        trial=trials.trial_name("", task.name, agent, seed),
                        task=task.name,
                        agent=agent,
                        seed=seed,
                        primary_metric=metric.name,
                        direction=metric.direction,
                        exit_reason=reasons.Reason.SUBMITTED,
                        scores=list(record.scores),
                        final=record.final,
                        score=value,
                        best_attempt=value,
                        steps=1,
                    )
                )
    return out


def leaderboard(chosen: Sequence[tasks.Task], spec: runs.BenchmarkRunSpec) -> list[runs.AgentScore]:
    """The run's status leaderboard once every trial has finished as the stages say."""
    agents = [a.name for a in spec.agents]
    board = rollups.leaderboard(
        chosen,
        agents,
        results(chosen, agents, spec.seeds),
        best_submission=spec.best_submission,
        intervals=False,
    )
    return rollups.agent_scores(board)


def differences(
    run: dict[str, Any], members: Sequence[dict[str, Any]], chosen: Sequence[tasks.Task]
) -> list[str]:
    """What ``run`` (its status) and its Trials ``members`` differ by from what the stages imply.

    Args:
        run: the BenchmarkRun as the API server returns it.
        members: its Trials, as the API server returns them.
        chosen: the run's Tasks, every one a `kwok-scored…` Task, in the run's order.

    Returns:
        One line per difference; empty when the run is exactly right.
    """
    spec = runs.BenchmarkRunSpec.model_validate(run["spec"])
    status = runs.BenchmarkRunStatus.model_validate(run.get("status") or {})
    agents = [a.name for a in spec.agents]
    total = len(chosen) * len(agents) * spec.seeds
    found: list[str] = []
    if status.phase != "Succeeded":
        found.append(f"run phase {status.phase}, expected Succeeded")
    wanted = {"total": total, "succeeded": total, "failed": 0, "running": 0, "pending": 0}
    wanted["infra_retried"] = 0
    got = {key: getattr(status.counters, key) for key in wanted}
    if got != wanted:
        found.append(f"run counters {got}, expected {wanted}")
    found += _trial_differences(members, chosen, agents, spec.seeds)
    found += _leaderboard_differences(status.leaderboard, leaderboard(chosen, spec))
    return found


def _trial_differences(
    members: Sequence[dict[str, Any]],
    chosen: Sequence[tasks.Task],
    agents: Sequence[str],
    seeds: int,
) -> list[str]:
    found: list[str] = []
    seen: dict[tuple[str, str, int], trials.TrialStatus] = {}
    for body in members:
        spec = trials.TrialSpec.model_validate(body["spec"])
        seen[(spec.task, spec.agent, spec.seed)] = trials.TrialStatus.model_validate(
            body.get("status") or {}
        )
    grid = {(t.name, a, s) for t in chosen for a in agents for s in range(seeds)}
    if missing := grid - set(seen):
        found.append(f"{len(missing)} trials missing, e.g. {sorted(missing)[:3]}")
    if extra := set(seen) - grid:
        found.append(f"{len(extra)} trials outside the grid, e.g. {sorted(extra)[:3]}")
    wrong = [
        f"{key}: phase {st.phase}, score {st.score}, attempt {st.attempt}"
        for key, st in sorted(seen.items())
        if key in grid
        and (
            st.phase != "Succeeded"
            or st.score != kwok_stages.score(*key)
            or st.attempt != 0
            or st.infra_failures
        )
    ]
    if wrong:
        found.append(f"{len(wrong)} trials not as the stages say, e.g. {'; '.join(wrong[:3])}")
    return found


def _leaderboard_differences(
    got: Sequence[runs.AgentScore], wanted: Sequence[runs.AgentScore]
) -> list[str]:
    def table(scores: Sequence[runs.AgentScore]) -> dict[str, tuple[float | None, float | None]]:
        return {s.agent: (s.best_attempt_aup, s.best_submission_aup) for s in scores}

    have, want = table(got), table(wanted)
    if set(have) != set(want):
        return [f"leaderboard agents {sorted(have)}, expected {sorted(want)}"]
    off = [
        f"{agent}: {have[agent]} expected {want[agent]}"
        for agent in want
        if any(_apart(h, w) for h, w in zip(have[agent], want[agent], strict=True))
    ]
    return [f"leaderboard differs for {len(off)} agents, e.g. {'; '.join(off[:3])}"] if off else []


def _apart(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is not b
    return abs(a - b) > AUP_TOLERANCE
