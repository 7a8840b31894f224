"""One rollup for both runtimes: the same trial records give byte-identical rollups.

The local runner rolls up its trials' results.json; the operator rolls up its
Trials' statuses. Both end in `kubegym.rollups`. These tests hand the same
records to each runtime, the local one through its own results files and the
operator through Trial statuses carrying the same numbers, and compare what
comes out byte for byte: results.csv, leaderboard.json, the run status's
leaderboard and best AUP, and each (task, agent)'s best score, under either
best-submission rule the run file may choose.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from kubegym import rollups
from kubegym.api import reasons, runs, trials
from kubegym.api import results as results_api
from kubegym.local import runner
from kubegym.operator import rollups as operator_rollups
from kubegym.operator import runs as operator_runs
from kubegym.operator.runs import RunView
from kubegym.operator.trials import TrialView

REPO = Path(__file__).resolve().parents[3]
START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def local_run(out: Path) -> runner.LocalRun:
    run_file, run_dir = runner.load(REPO / "examples" / "quickstart.yaml")
    return runner.LocalRun(run_file, run_dir, out, sandbox="process")


def records(run: runner.LocalRun, seed: int = 7) -> list[results_api.TrialResult]:
    """A finished result for every cell of the grid: submissions, validates, an agent failure
    without a submission, a platform failure (left out of the scores) and odd floats."""
    rng = random.Random(seed)
    made = []
    for i, plan in enumerate(run.plan()):
        metric = plan.bundle.task.spec.evaluation.metric()
        tests = [round(rng.uniform(0.1, 0.9), 6) + 1e-9 * i for _ in range(3)]
        scores = [
            trials.Score(
                step=2,
                action="validate",
                metrics={metric.name: 0.3},
                test_metrics={metric.name: tests[0]},
            ),
            trials.Score(
                step=5,
                action="validate",
                metrics={metric.name: 0.4},
                test_metrics={metric.name: tests[1]},
            ),
            trials.Score(
                step=9,
                action="submit",
                metrics={metric.name: tests[2]},
                test_metrics={metric.name: tests[2]},
            ),
        ]
        exit_reason, failure, final = reasons.Reason.SUBMITTED, None, {metric.name: tests[2]}
        if i == 1:  # nothing valid submitted: the agent's failure, still a row and a score
            exit_reason, failure, final = reasons.Reason.MAX_STEPS, reasons.FailureClass.AGENT, None
            scores = scores[:2]
        if i == 2:  # the platform failed every attempt: in results.csv, not in the scores
            exit_reason, failure, final = (
                reasons.Reason.INFRA_ERROR,
                reasons.FailureClass.INFRA,
                None,
            )
            scores = []
        made.append(
            results_api.TrialResult(
                trial=plan.id,
                task=plan.bundle.name,
                agent=plan.agent.name,
                seed=plan.seed,
                attempt=2 if i == 2 else 0,
                primary_metric=metric.name,
                direction=metric.direction,
                exit_reason=exit_reason,
                failure_class=failure,
                scores=scores,
                final=final,
                score=final[metric.name] if final else None,
                best_attempt=results_api.best_attempt(scores, metric.name, metric.direction),
                steps=10 + i,
                prompt_tokens=1000 * i,
                completion_tokens=37 * i,
                cost_usd=round(0.013 * i, 6),
                seconds=60.0 + i / 4,
                validations=2 if scores else 0,
                validations_refused=0,
            )
        )
    return made


def as_trial(result: results_api.TrialResult, run: str) -> TrialView:
    """The Trial the operator would hold for ``result``: its status carries the same numbers."""
    status = trials.TrialStatus(
        phase=result.phase,
        attempt=result.attempt,
        start_time=START,
        finish_time=START + dt.timedelta(seconds=result.seconds or 0.0),
        steps=result.steps,
        tokens=result.prompt_tokens + result.completion_tokens,
        prompt_tokens=result.prompt_tokens,
        cost_usd=result.cost_usd,
        scores=result.scores,
        final=result.final,
        score=result.score,
        validations=result.validations or 0,
        validations_refused=result.validations_refused or 0,
        exit_reason=result.exit_reason.value,  # type: ignore[arg-type]
        failure_class=None if result.failure_class is None else result.failure_class.value,
    )
    return TrialView(
        namespace="default",
        name=result.trial,
        uid="uid-" + result.trial,
        spec=trials.TrialSpec(run=run, task=result.task, agent=result.agent, seed=result.seed),
        status=status,
        admitted=True,
        created=START,
    )


@pytest.fixture(params=["final-submit", "last-score"])
def both(
    tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Path, Path, runner.LocalRun, list[results_api.TrialResult]]:
    """The rollups of the same records, written by the local runner and by the operator,
    for a run file under each best-submission rule."""
    run = local_run(tmp_path / "local")
    run.run.spec.best_submission = request.param
    made = records(run)
    # The local runtime: each trial's results.json on disk, read back as a resume reads it.
    run.out.mkdir(parents=True)
    finished = {}
    for plan, result in zip(run.plan(), made, strict=True):
        plan.folder.mkdir(parents=True)
        result.write(plan.folder)
        back = results_api.read(plan.folder)
        assert back is not None
        finished[plan.id] = back
    run._summarise(run.plan(), finished, skipped=len(finished))
    # The operator: the same numbers in Trial statuses, rolled up into a folder store.
    view = RunView(
        namespace="default",
        name=run.run.name,
        uid="run-uid",
        generation=1,
        spec=run.run.spec,
        status=runs.BenchmarkRunStatus(),
    )
    chosen = [bundle.task for bundle in run.bundles]
    members = [as_trial(r, run.run.name) for r in made]
    store_dir = tmp_path / "store"
    operator_rollups.write(
        runs.Store(local=runs.LocalStore(path=str(store_dir))),
        view,
        runs.BenchmarkRunStatus(),
        chosen,
        members,
    )
    return run.out, store_dir / run.run.name, run, made


@pytest.mark.parametrize("name", [rollups.RESULTS_CSV, rollups.LEADERBOARD_JSON])
def test_the_same_records_give_byte_identical_files(both, name: str) -> None:  # type: ignore[no-untyped-def]
    local, cluster, run, _ = both
    assert (local / name).read_bytes() == (cluster / name).read_bytes()
    assert (local / name).stat().st_size > 200  # a real rollup, not two empty files
    if name == rollups.LEADERBOARD_JSON:  # both recorded the run file's rule
        scope = json.loads((local / name).read_text())["scope"]
        assert scope["best_submission"] == run.run.spec.best_submission


def test_the_run_status_leaderboard_is_the_same(both) -> None:  # type: ignore[no-untyped-def]
    local, _, run, made = both
    local_status = runs.BenchmarkRunStatus.model_validate_json(
        (local / rollups.STATUS_JSON).read_text()
    )
    # On a cluster each Task names its image; the numbers do not depend on it.
    chosen = [
        bundle.task.model_copy(
            update={"spec": bundle.task.spec.model_copy(update={"image": f"task-{bundle.name}:1"})}
        )
        for bundle in run.bundles
    ]
    view = RunView("default", run.run.name, "uid", 1, run.run.spec, runs.BenchmarkRunStatus())
    members = [as_trial(r, run.run.name) for r in made]
    decided = operator_runs.decide(view, chosen, members, START).status
    assert decided is not None
    assert decided.leaderboard == local_status.leaderboard != []
    assert decided.best_aup == local_status.best_aup is not None
    assert operator_runs.best_scores(chosen, members) == rollups.best_scores(made)


def test_a_platform_failure_is_a_row_but_never_a_score(both) -> None:  # type: ignore[no-untyped-def]
    local, _, _, made = both
    lost = next(r for r in made if r.failure_class == reasons.FailureClass.INFRA)
    assert lost.trial in (local / rollups.RESULTS_CSV).read_text()
    assert lost not in rollups.scored(made)
    assert (lost.task, lost.agent) not in rollups.best_scores([lost])


def test_a_changed_score_changes_both_the_same_way(tmp_path: Path) -> None:
    # The comparison bites: one record's score moved gives other bytes, in both runtimes alike.
    run = local_run(tmp_path / "local")
    made = records(run)
    chosen = [bundle.task for bundle in run.bundles]
    agents = [a.name for a in run.run.spec.agents]
    status = runs.BenchmarkRunStatus()
    before = rollups.files(
        "quickstart", chosen, agents, made, status, best_submission="final-submit"
    )
    first = made[0]
    made[0] = first.model_copy(update={"score": (first.score or 0) + 0.25})
    after = rollups.files(
        "quickstart", chosen, agents, made, status, best_submission="final-submit"
    )
    assert before[rollups.RESULTS_CSV] != after[rollups.RESULTS_CSV]
    assert before[rollups.LEADERBOARD_JSON] != after[rollups.LEADERBOARD_JSON]
