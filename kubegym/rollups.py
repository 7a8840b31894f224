"""A run's rollups, one computation for both runtimes: results.csv, the leaderboard, status scores.

The local runner (`kubegym.local.outputs`) writes these files into the run's
output folder; the operator (`kubegym.operator.rollups`) writes the very same
texts to the run's store once every trial has finished, and puts `agent_scores`
into the BenchmarkRun's status as trials finish. Both hand in the trials'
`kubegym.api.results.TrialResult` records (the operator builds them from the
Trials' statuses), so one set of records gives byte-identical files through
either runtime (tests/unit/rollups checks it).

Order is part of the contract: results.csv lists trials by (task, agent, seed);
the leaderboard reads them in plan order (the run's task order, its agent
order, then seed), since the bootstrap's draws follow the order rows appear in.

The best-submission rule is the run's (``spec.bestSubmission``), handed in by
each runtime from the run file, never from a trial: the leaderboard records it
in its scope, where `kubegym report` reads it back.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple, Protocol, cast

import pandas as pd

from kubegym.api import images as images_api
from kubegym.api import reasons, runs, tasks, trials
from kubegym.api import results as results_api
from kubegym.scoring import columns, submissions
from kubegym.scoring import leaderboard as leaderboards

RESULTS_CSV: Final = "results.csv"
LEADERBOARD_JSON: Final = "leaderboard.json"
STATUS_JSON: Final = "status.json"
IMAGES_JSON: Final = images_api.IMAGES_JSON
PROFILES_PNG: Final = "profiles.png"

#: The tasks' own baseline scores enter the profiles as one more method, under this name.
REFERENCE: Final = leaderboards.REFERENCE


def results_csv(results: Sequence[results_api.TrialResult]) -> str:
    """results.csv: one row per finished trial, by (task, agent, seed), `columns.RESULTS_CSV`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns.RESULTS_CSV)
    for r in sorted(results, key=lambda r: (r.task, r.agent, r.seed)):
        network = r.egress.network if r.egress is not None else "none"
        row = {**r.model_dump(mode="json"), "phase": r.phase, "network": network}
        writer.writerow(["" if row[c] is None else row[c] for c in columns.RESULTS_CSV])
    return out.getvalue()


def in_plan_order(
    results: Sequence[results_api.TrialResult], task_order: Sequence[str], agents: Sequence[str]
) -> list[results_api.TrialResult]:
    """``results`` in the run's plan order: task (as the run lists them), agent (likewise), seed."""
    return sorted(results, key=_plan_key(task_order, agents))


class _Planned(Protocol):
    """A result or a row: what plan order reads."""

    @property
    def task(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def seed(self) -> int: ...


def _plan_key(
    task_order: Sequence[str], agents: Sequence[str]
) -> Callable[[_Planned], tuple[int, str, int, str, int]]:
    """The sort key of plan order (`in_plan_order`), for results and rows alike."""
    task_rank = {name: i for i, name in enumerate(task_order)}
    agent_rank = {name: i for i, name in enumerate(agents)}
    last = len(task_rank) + len(agent_rank)
    return lambda r: (
        task_rank.get(r.task, last),
        r.task,
        agent_rank.get(r.agent, last),
        r.agent,
        r.seed,
    )


def scored(results: Sequence[results_api.TrialResult]) -> list[results_api.TrialResult]:
    """The results that are scores: not the platform's failures, not cancelled trials."""
    return [r for r in results if _is_score(r.failure_class, r.exit_reason)]


def _is_score(failure: reasons.FailureClass | None, exit_reason: reasons.Reason) -> bool:
    return failure != reasons.FailureClass.INFRA and exit_reason != reasons.Reason.CANCELLED


class ScoreRow(NamedTuple):
    """All the leaderboard and the best scores read of one finished trial (`row_of`).

    A few hundred bytes where its `TrialResult` is kilobytes: the operator keeps one per
    finished trial for the run's status (`kubegym.operator.results.row_of`), and makes the
    whole record only for the rollup files, once.
    """

    task: str
    direction: str
    agent: str
    seed: int
    best_attempt: float | None
    score: float | None
    failure_class: reasons.FailureClass | None
    exit_reason: reasons.Reason
    last_score: float | None

    @property
    def is_score(self) -> bool:
        """Not the platform's failure, not a cancelled trial (`scored`)."""
        return _is_score(self.failure_class, self.exit_reason)


def row_of(result: results_api.TrialResult) -> ScoreRow:
    return ScoreRow(
        task=result.task,
        direction=result.direction,
        agent=result.agent,
        seed=result.seed,
        best_attempt=result.best_attempt,
        score=result.score,
        failure_class=result.failure_class,
        exit_reason=result.exit_reason,
        last_score=submissions.last_score(result.scores, result.primary_metric),
    )


def leaderboard(
    chosen: Sequence[tasks.Task],
    agents: Sequence[str],
    results: Sequence[results_api.TrialResult],
    *,
    best_submission: runs.BestSubmissionRule,
    intervals: bool = True,
    profile: str | None = None,
    designs: Mapping[str, str] | None = None,
) -> leaderboards.Leaderboard:
    """AUP per agent under both profiles (with bootstrap CIs over seeds unless ``intervals`` is
    False: the operator's status needs only the AUP) and the per-task bests.

    Args:
        chosen: the run's tasks, in the run's order (their baselines enter as `REFERENCE`).
        agents: the run's agent names, in the run's order.
        results: the finished trials; the platform's failures and cancelled trials are left out.
        best_submission: the run's best-submission rule (``spec.bestSubmission``).
        profile: the run's suite profile as its scope records it
            (`kubegym.tasks.profiles.scope_label`); None without one.
        designs: the agents' designs by name (`designs_of`), for the scope.
    """
    return leaderboard_of_rows(
        chosen,
        agents,
        [row_of(r) for r in results],
        best_submission=best_submission,
        intervals=intervals,
        profile=profile,
        designs=designs,
    )


def leaderboard_of_rows(
    chosen: Sequence[tasks.Task],
    agents: Sequence[str],
    rows: Sequence[ScoreRow],
    *,
    best_submission: runs.BestSubmissionRule,
    intervals: bool = True,
    profile: str | None = None,
    designs: Mapping[str, str] | None = None,
) -> leaderboards.Leaderboard:
    """`leaderboard` from the trials' `ScoreRow`s (the very same computation)."""
    references = [
        (t.name, t.spec.evaluation.metric().direction, t.spec.baseline_score()) for t in chosen
    ]
    tidy = tidy_rows(references, agents, rows)
    return leaderboards.compute_leaderboard(
        tidy,
        best_submission=best_submission,
        intervals=intervals,
        profile=profile,
        designs=designs,
    )


def tidy_trials(
    references: Sequence[tuple[str, str, float | None]],
    agents: Sequence[str],
    results: Sequence[results_api.TrialResult],
) -> pd.DataFrame:
    """The scoring's tidy table of a run's scored trials, in plan order.

    Args:
        references: each task's (name, direction, baseline score), in the run's order.
        agents: the run's agent names, in the run's order.
        results: the finished trials; the platform's failures and cancelled trials are left out.
    """
    return tidy_rows(references, agents, [row_of(r) for r in results])


def tidy_rows(
    references: Sequence[tuple[str, str, float | None]],
    agents: Sequence[str],
    rows: Sequence[ScoreRow],
) -> pd.DataFrame:
    """`tidy_trials` from the trials' `ScoreRow`s."""
    frame = pd.DataFrame(references, columns=list(leaderboards.REFERENCE_COLUMNS))
    ordered = sorted(
        (r for r in rows if r.is_score),
        key=_plan_key([name for name, _, _ in references], agents),
    )
    finished = pd.DataFrame(
        [
            [
                r.task,
                r.direction,
                r.agent,
                r.seed,
                r.best_attempt,
                r.score,
                None if r.failure_class is None else r.failure_class.value,
                r.last_score,
            ]
            for r in ordered
        ],
        columns=[*leaderboards.TRIAL_COLUMNS, leaderboards.LAST_SCORE_COLUMN],
    )
    return leaderboards.tidy_trials(frame, finished)


def designs_of(agents: Sequence[runs.Agent]) -> dict[str, str]:
    """Each agent's design by name (`kubegym.api.runs.Agent.design`), for a leaderboard's scope."""
    return {agent.name: agent.design() for agent in agents}


def agent_scores(board: leaderboards.Leaderboard) -> list[runs.AgentScore]:
    """The BenchmarkRun status's leaderboard: each agent's AUP under both profiles, best first."""
    if board.result is None:
        return []
    scores = [
        runs.AgentScore(
            agent=str(method),
            best_attempt_aup=round(float(row[columns.BEST_ATTEMPT]), 6),
            best_submission_aup=round(float(row[columns.BEST_SUBMISSION]), 6),
        )
        for method, row in board.result.aup.iterrows()
        if str(method) != REFERENCE
    ]
    scores.sort(key=lambda s: -(s.best_attempt_aup or 0.0))
    return scores


def best_aup(scores: Sequence[runs.AgentScore]) -> float | None:
    """The run's best AUP (best-attempt profile) over its agents; None before any."""
    best = [s.best_attempt_aup for s in scores if s.best_attempt_aup is not None]
    return max(best) if best else None


def best_scores(results: Sequence[results_api.TrialResult]) -> dict[tuple[str, str], float]:
    """The best hidden-test score (best attempt) of each (task, agent) over its seeds so far."""
    return best_scores_of_rows([row_of(r) for r in results])


def best_scores_of_rows(rows: Sequence[ScoreRow]) -> dict[tuple[str, str], float]:
    """`best_scores` from the trials' `ScoreRow`s."""
    best: dict[tuple[str, str], float] = {}
    for r in rows:
        if not r.is_score or r.best_attempt is None:
            continue
        key = (r.task, r.agent)
        old = best.get(key)
        if old is None:
            best[key] = r.best_attempt
        else:
            best[key] = (
                max(old, r.best_attempt) if r.direction == "max" else min(old, r.best_attempt)
            )
    return best


def images_rollup(run: str, results: Sequence[results_api.TrialResult]) -> trials.ImagesRollup:
    """images.json's content: each finished trial with the images its last attempt ran."""
    return trials.ImagesRollup(
        run=run,
        trials=[
            trials.TrialImages(
                trial=r.trial,
                task=r.task,
                agent=r.agent,
                seed=r.seed,
                attempt=r.attempt,
                phase=r.phase,
                exit_reason=cast(trials.ExitReason, r.exit_reason.value),
                failure_class=None if r.failure_class is None else r.failure_class.value,
                images=list(r.images),
            )
            for r in results
        ],
    )


def files(
    run: str,
    chosen: Sequence[tasks.Task],
    agents: Sequence[str],
    results: Sequence[results_api.TrialResult],
    status: runs.BenchmarkRunStatus,
    *,
    best_submission: runs.BestSubmissionRule,
    board: leaderboards.Leaderboard | None = None,
    images: bool = False,
    profile: str | None = None,
    designs: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every rollup file of a run by name, as text: what both runtimes write.

    Args:
        run: the BenchmarkRun's name.
        chosen: its tasks, in its order.
        agents: its agent names, in its order.
        results: the finished trials.
        status: the run's status (status.json).
        best_submission: the run's best-submission rule (``spec.bestSubmission``).
        board: the leaderboard, when the caller has computed it already (under the
            same rule: a board of another rule is refused).
        images: also images.json (a cluster run's; a local run has no images).
        profile: the run's suite profile as its scope records it; None without one.
        designs: the agents' designs by name (`designs_of`), for the scope.

    Raises:
        ValueError: ``board`` was computed under another rule than ``best_submission``,
            or another profile than ``profile``.
    """
    if board is None:
        board = leaderboard(
            chosen,
            agents,
            results,
            best_submission=best_submission,
            profile=profile,
            designs=designs,
        )
    elif board.scope is None or board.scope.best_submission != best_submission:
        raise ValueError(f"the leaderboard was not computed under the rule {best_submission}")
    elif board.scope.profile != profile:
        raise ValueError(f"the leaderboard was not computed under the profile {profile}")
    elif designs is not None and board.scope.designs != {
        m: d for m, d in designs.items() if m in board.scope.methods
    }:
        raise ValueError("the leaderboard was not computed for these agents' designs")
    texts = {
        RESULTS_CSV: results_csv(results),
        LEADERBOARD_JSON: to_text(board.to_json(run)),
        STATUS_JSON: to_text(status.to_wire()),
    }
    if images:
        ordered = in_plan_order(results, [t.name for t in chosen], agents)
        texts[IMAGES_JSON] = to_text(
            images_rollup(run, ordered).model_dump(mode="json", by_alias=True)
        )
    return texts


def to_text(data: Mapping[str, Any]) -> str:
    """A rollup's JSON text: indented, UTF-8 as is, one final newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


__all__ = [
    "IMAGES_JSON",
    "LEADERBOARD_JSON",
    "PROFILES_PNG",
    "REFERENCE",
    "RESULTS_CSV",
    "STATUS_JSON",
    "ScoreRow",
    "agent_scores",
    "best_aup",
    "best_scores",
    "best_scores_of_rows",
    "files",
    "images_rollup",
    "in_plan_order",
    "leaderboard",
    "leaderboard_of_rows",
    "results_csv",
    "row_of",
    "scored",
    "tidy_rows",
    "tidy_trials",
    "to_text",
]
