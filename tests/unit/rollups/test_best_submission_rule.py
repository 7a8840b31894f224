"""The run's best-submission rule: MLGym's last score entry or kubegym's final valid submit.

The rule is the run file's (``spec.bestSubmission``); both runtimes hand it to
`kubegym.rollups`, and the leaderboard records it in its scope. Nothing a trial
holds, and nothing an agent does, chooses it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pydantic
import pytest

from kubegym import rollups
from kubegym.api import reasons, runs, trials
from kubegym.api import results as results_api
from kubegym.local import runner
from kubegym.operator import runs as operator_runs
from kubegym.scoring import leaderboard as leaderboards
from tests.unit.rollups.test_both_runtimes import START, as_trial, local_run, records

VALIDATED = 0.987654
"""The hidden test score of the last validate of the trials that never submit validly."""


def never_submitted(
    made: list[results_api.TrialResult],
) -> tuple[str, str, list[results_api.TrialResult]]:
    """``made`` with every seed of the first (task, agent) ending on a validate: a good
    artifact validated, then nothing valid submitted (the agent's failure, as the runtimes
    record it: no final score)."""
    task, agent = made[0].task, made[0].agent
    changed = []
    for r in made:
        if (r.task, r.agent) != (task, agent):
            changed.append(r)
            continue
        metric = r.primary_metric
        scores = [
            trials.Score(
                step=2, action="validate", metrics={metric: 0.1}, test_metrics={metric: 0.2}
            ),
            trials.Score(
                step=4, action="validate", metrics={metric: 0.3}, test_metrics={metric: VALIDATED}
            ),
            trials.Score(step=6, action="submit", error="the submission file is missing"),
        ]
        changed.append(
            r.model_copy(
                update={
                    "scores": scores,
                    "final": None,
                    "score": None,
                    "exit_reason": reasons.Reason.EVAL_ERROR,
                    "failure_class": reasons.FailureClass.AGENT,
                    "best_attempt": results_api.best_attempt(scores, metric, r.direction),
                }
            )
        )
    return task, agent, changed


def finish(run: runner.LocalRun, made: list[results_api.TrialResult]) -> Path:
    """The local runner's output folder once ``made`` are its trials' results."""
    run.out.mkdir(parents=True)
    finished = {}
    for plan, result in zip(run.plan(), made, strict=True):
        plan.folder.mkdir(parents=True)
        result.write(plan.folder)
        finished[plan.id] = result
    run._summarise(run.plan(), finished, skipped=len(finished))
    return run.out


def submission(board: leaderboards.Leaderboard, task: str, agent: str) -> float:
    assert board.table is not None
    row = board.table[(board.table["task"] == task) & (board.table["method"] == agent)]
    return float(row["best_submission"].iloc[0])


def test_a_last_validate_counts_under_last_score_and_not_under_final_submit(
    tmp_path: Path,
) -> None:
    run = local_run(tmp_path)
    task, agent, made = never_submitted(records(run))
    chosen = [bundle.task for bundle in run.bundles]
    agents = [a.name for a in run.run.spec.agents]
    mlgym = rollups.leaderboard(chosen, agents, made, best_submission="last-score")
    kubegym = rollups.leaderboard(chosen, agents, made, best_submission="final-submit")
    assert submission(mlgym, task, agent) == VALIDATED
    assert math.isnan(submission(kubegym, task, agent))
    assert mlgym.to_json("q")["scope"]["best_submission"] == "last-score"
    assert kubegym.to_json("q")["scope"]["best_submission"] == "final-submit"
    # A trial that submitted validly has its submission as its last score: the same either way.
    other = next(r for r in made if r.score is not None)
    assert submission(mlgym, other.task, other.agent) == submission(
        kubegym, other.task, other.agent
    )


def test_the_run_files_rule_reaches_both_runtimes_leaderboards(tmp_path: Path) -> None:
    # The local runner's leaderboard.json under each rule of its run file: they differ where
    # the rules do, so a runtime that dropped the run's rule would be caught here (and the
    # byte-for-byte comparison with the operator's is tests/unit/rollups/test_both_runtimes).
    boards = {}
    for rule in ("final-submit", "last-score"):
        run = local_run(tmp_path / rule)
        run.run.spec.best_submission = rule
        task, agent, made = never_submitted(records(run))
        boards[rule] = json.loads((finish(run, made) / rollups.LEADERBOARD_JSON).read_text())
        assert boards[rule]["scope"]["best_submission"] == rule
    assert boards["final-submit"]["tasks"][task][agent]["best_submission"] is None
    assert boards["last-score"]["tasks"][task][agent]["best_submission"] == VALIDATED


def test_the_operators_status_leaderboard_follows_the_runs_rule(tmp_path: Path) -> None:
    # The status leaderboard the operator computes on every reconcile, from the Trials,
    # moves with the run's rule exactly as the local rollup does.
    run = local_run(tmp_path)
    _, agent, made = never_submitted(records(run))
    # On a cluster each Task names its image; the numbers do not depend on it.
    chosen = [
        bundle.task.model_copy(
            update={"spec": bundle.task.spec.model_copy(update={"image": f"task-{bundle.name}:1"})}
        )
        for bundle in run.bundles
    ]
    agents = [a.name for a in run.run.spec.agents]
    members = [as_trial(r, run.run.name) for r in made]
    scores = {}
    for rule in ("final-submit", "last-score"):
        spec = run.run.spec.model_copy(update={"best_submission": rule})
        view = operator_runs.RunView(
            "default", run.run.name, "uid", 1, spec, runs.BenchmarkRunStatus()
        )
        status = operator_runs.decide(view, chosen, members, START).status
        assert status is not None
        local = rollups.agent_scores(
            rollups.leaderboard(chosen, agents, made, best_submission=rule, intervals=False)
        )
        assert status.leaderboard == local
        scores[rule] = {s.agent: s.best_submission_aup for s in status.leaderboard}
    assert scores["final-submit"][agent] != scores["last-score"][agent]


def test_a_board_of_another_rule_is_refused(tmp_path: Path) -> None:
    run = local_run(tmp_path)
    made = records(run)
    chosen = [bundle.task for bundle in run.bundles]
    agents = [a.name for a in run.run.spec.agents]
    board = rollups.leaderboard(chosen, agents, made, best_submission="final-submit")
    with pytest.raises(ValueError, match="not computed under the rule last-score"):
        rollups.files(
            "q",
            chosen,
            agents,
            made,
            runs.BenchmarkRunStatus(),
            best_submission="last-score",
            board=board,
        )


def test_an_agent_cannot_choose_the_rule(tmp_path: Path) -> None:
    # An agent's entry in the run file has no such setting: the rule is the run's.
    with pytest.raises(pydantic.ValidationError, match="bestSubmission"):
        runs.Agent.model_validate(
            {"name": "sly", "builtin": "baseline", "bestSubmission": "last-score"}
        )
    # A trial's result claiming MLGym's rule (in its details, or a field the shape does not
    # have) changes nothing: the run's kubegym rule gives it no submission score, the same
    # board as without the claim, and the leaderboard records the run's rule.
    run = local_run(tmp_path)
    task, agent, made = never_submitted(records(run))
    chosen = [bundle.task for bundle in run.bundles]
    agents = [a.name for a in run.run.spec.agents]
    claimed = [
        results_api.TrialResult.model_validate(
            {
                **r.model_dump(mode="json"),
                "best_submission": "last-score",
                "details": {"best_submission": "last-score", "rule": "last-score"},
            }
        )
        for r in made
    ]
    honest = rollups.leaderboard(chosen, agents, made, best_submission="final-submit")
    forged = rollups.leaderboard(chosen, agents, claimed, best_submission="final-submit")
    assert math.isnan(submission(forged, task, agent))
    assert forged.to_json("q") == honest.to_json("q")
    assert forged.to_json("q")["scope"]["best_submission"] == "final-submit"
