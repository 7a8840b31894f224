"""A BenchmarkRun: its grid of Trials, who is admitted (parallelism, suspend, budget), and the
status it rolls up (counters, spend, AUP leaderboard, phase, conditions, TTL).

`runs.decide` is pure: each test builds the run, its Tasks and its Trials, decides,
and where it matters feeds the decision back as the controller would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest

from kubegym import scoring
from kubegym.api import runs, tasks, trials
from kubegym.api.trials import Score, TrialStatus, trial_name
from kubegym.operator import labels
from kubegym.operator import runs as run_logic
from kubegym.operator.runs import RunDecision, RunView
from kubegym.operator.trials import TrialView
from tests.unit.operator.builders import NAMESPACE, NOW, run_view, seconds, task

TOY = [task()]


def created(decision: RunDecision) -> list[TrialView]:
    """The Trials the decision creates, as the API server would return them."""
    views = []
    for manifest in decision.create:
        body = {
            **manifest,
            "metadata": {**manifest["metadata"], "creationTimestamp": "2025-03-01T12:00:00Z"},
        }
        views.append(TrialView.from_body(body))
    return views


def admit(views: Sequence[TrialView], names: Sequence[str]) -> list[TrialView]:
    return [v.replace(admitted=True) if v.name in names else v for v in views]


def with_status(view: TrialView, **status: Any) -> TrialView:
    return view.replace(status=TrialStatus(**status))


def succeeded(view: TrialView, score: float = 0.7, cost: float = 0.0, **more: Any) -> TrialView:
    return with_status(
        view,
        phase="Succeeded",
        exit_reason="submitted",
        score=score,
        final={"r2": score},
        cost_usd=cost,
        **more,
    )


def failed(view: TrialView, cost: float = 0.0, **more: Any) -> TrialView:
    return with_status(
        view, phase="Failed", exit_reason="max_steps", failure_class="agent", cost_usd=cost, **more
    )


def condition(status: runs.BenchmarkRunStatus, kind: str) -> Any:
    return next(c for c in status.conditions if c.type == kind)


def settle(
    run: RunView, available: Sequence[tasks.Task], now: dt.datetime = NOW
) -> list[TrialView]:
    """The run's Trials as its first decision creates them, none admitted yet."""
    views = created(run_logic.decide(run, available, [], now))
    return [v.replace(admitted=False) for v in views]


# -- the grid ---------------------------------------------------------------------------------


def test_the_grid_is_tasks_by_agents_by_seeds_with_stable_names() -> None:
    run = run_view(
        tasks={"names": ["b-task", "a-task"]},
        agents=[{"name": "gpt", "model": "m"}, {"name": "base", "builtin": "baseline"}],
        seeds=2,
    )
    available = [task("a-task"), task("b-task"), task("unused")]
    decision = run_logic.decide(run, available, [], NOW)
    cells = [(m["spec"]["task"], m["spec"]["agent"], m["spec"]["seed"]) for m in decision.create]
    assert cells == [
        ("b-task", "gpt", 0),
        ("b-task", "base", 0),
        ("a-task", "gpt", 0),
        ("a-task", "base", 0),
        ("b-task", "gpt", 1),
        ("b-task", "base", 1),
        ("a-task", "gpt", 1),
        ("a-task", "base", 1),
    ], "seeds outermost, so early results span the grid"
    for manifest in decision.create:
        spec = manifest["spec"]
        meta = manifest["metadata"]
        assert meta["name"] == trial_name("demo", spec["task"], spec["agent"], spec["seed"])
        assert meta["namespace"] == NAMESPACE
        assert meta["labels"][labels.RUN] == "demo"
        assert meta["labels"][labels.SEED] == str(spec["seed"])
        (owner,) = meta["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"]) == ("BenchmarkRun", "demo", "run-uid")
        assert owner["controller"] is True
        assert spec == {
            "run": "demo",
            "task": spec["task"],
            "agent": spec["agent"],
            "seed": spec["seed"],
            "attempt": 0,
        }
    assert decision.admit == [], "nothing exists yet to annotate"
    # deciding again on the same state gives the same names
    again = run_logic.decide(run, available, [], NOW + seconds(5))
    assert [m["metadata"]["name"] for m in again.create] == [
        m["metadata"]["name"] for m in decision.create
    ]


def test_only_missing_trials_are_created() -> None:
    run = run_view(seeds=3)
    views = settle(run, TOY)
    decision = run_logic.decide(run, TOY, views[:1], NOW)
    assert [m["metadata"]["name"] for m in decision.create] == [v.name for v in views[1:]]
    assert run_logic.decide(run, TOY, views, NOW).create == []


def test_missing_tasks_wait_with_a_condition_and_a_requeue() -> None:
    run = run_view(tasks={"names": ["toy", "gone"]})
    decision = run_logic.decide(run, TOY, [], NOW)
    assert decision.create == [] and decision.admit == []
    assert decision.requeue_after == run_logic.TASKS_RETRY_SECONDS
    assert decision.status is not None
    ready = condition(decision.status, "Ready")
    assert (ready.status, ready.reason) == ("False", "TasksNotFound")
    assert "gone" in ready.message and NAMESPACE in ready.message
    assert decision.status.phase == "Pending"


def test_a_task_without_an_image_fails_the_run_naming_the_field() -> None:
    run = run_view(tasks={"names": ["toy", "x"]})
    decision = run_logic.decide(run, [task(), task("x", image=None)], [], NOW)
    assert decision.create == []
    assert decision.status is not None and decision.status.phase == "Failed"
    for kind in ("Ready", "Failed"):
        found = condition(decision.status, kind)
        assert found.reason == "InvalidTask"
        assert "Task/x: spec.image" in found.message
    assert condition(decision.status, "Ready").status == "False"


def test_a_digest_pinned_image_needs_a_data_image() -> None:
    pinned = task(image="registry.example/t@sha256:" + "a" * 64)
    decision = run_logic.decide(run_view(), [pinned], [], NOW)
    assert decision.status is not None and decision.status.phase == "Failed"
    assert "Task/toy: spec.dataImage" in condition(decision.status, "Failed").message
    fixed = task(image="registry.example/t@sha256:" + "a" * 64, dataImage="registry.example/d:1")
    assert run_logic.decide(run_view(), [fixed], [], NOW).create


def test_a_suite_is_the_tasks_labelled_with_it() -> None:
    suite = run_logic.SUITE_LABEL_PREFIX + "mini"
    available = [
        task("zeta", labels={suite: "true"}),
        task("alpha", labels={suite: "true"}),
        task("out", labels={suite: "false"}),
        task("plain"),
    ]
    decision = run_logic.decide(run_view(tasks={"suite": "mini"}), available, [], NOW)
    assert [m["spec"]["task"] for m in decision.create] == ["alpha", "zeta"]
    none = run_logic.decide(run_view(tasks={"suite": "nope"}), available, [], NOW)
    assert none.create == [] and none.status is not None
    assert "suite nope" in condition(none.status, "Ready").message


@pytest.mark.parametrize(
    ("selector", "chosen"),
    [
        ({"matchLabels": {"size": "small"}}, ["a", "b"]),
        ({"matchLabels": {"size": "small", "kind": "vision"}}, ["a"]),
        (
            {"matchExpressions": [{"key": "kind", "operator": "In", "values": ["nlp", "rl"]}]},
            ["b", "c"],
        ),
        (
            {"matchExpressions": [{"key": "kind", "operator": "NotIn", "values": ["vision"]}]},
            ["b", "c", "d"],
        ),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}, ["c"]),
        ({"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}, ["a", "b", "d"]),
        (
            {
                "matchLabels": {"size": "small"},
                "matchExpressions": [{"key": "kind", "operator": "NotIn", "values": ["vision"]}],
            },
            ["b"],
        ),
    ],
)
def test_a_selector_chooses_tasks_by_label(selector: dict[str, Any], chosen: list[str]) -> None:
    available = [
        task("d"),
        task("c", labels={"kind": "rl", "gpu": "yes"}),
        task("b", labels={"size": "small", "kind": "nlp"}),
        task("a", labels={"size": "small", "kind": "vision"}),
    ]
    decision = run_logic.decide(run_view(tasks={"selector": selector}), available, [], NOW)
    assert [m["spec"]["task"] for m in decision.create] == chosen


def test_a_selector_that_matches_nothing_waits() -> None:
    selector = {"matchLabels": {"size": "huge"}}
    decision = run_logic.decide(run_view(tasks={"selector": selector}), TOY, [], NOW)
    assert decision.create == [] and decision.requeue_after == run_logic.TASKS_RETRY_SECONDS


# -- admission --------------------------------------------------------------------------------


def test_parallelism_bounds_the_trials_admitted_and_unfinished() -> None:
    run = run_view(seeds=7, parallelism=3)
    views = settle(run, TOY)
    seen_admitted = [v.name for v in created(run_logic.decide(run, TOY, [], NOW)) if v.admitted]
    assert len(seen_admitted) == 3
    views = admit(views, seen_admitted)
    for step in range(20):
        decision = run_logic.decide(run, TOY, views, NOW + seconds(step))
        views = admit(views, decision.admit)
        seen_admitted += decision.admit
        active = [v for v in views if v.admitted and not v.status.finished]
        assert len(active) <= 3, step
        if not active:
            break
        # one trial finishes per step, the oldest admitted first
        views = [succeeded(v) if v.name == active[0].name else v for v in views]
    assert sorted(seen_admitted) == sorted(v.name for v in views), "each admitted exactly once"
    assert all(v.status.finished for v in views)
    final = run_logic.decide(run, TOY, views, NOW + seconds(60))
    assert final.admit == [] and final.status is not None and final.status.phase == "Succeeded"


def test_waiting_trials_are_admitted_in_grid_order() -> None:
    run = run_view(seeds=4, parallelism=2)
    views = settle(run, TOY)
    decision = run_logic.decide(run, TOY, views, NOW)
    assert decision.admit == [v.name for v in views[:2]]


def test_new_trials_within_the_parallelism_are_created_admitted() -> None:
    run = run_view(seeds=5, parallelism=2)
    decision = run_logic.decide(run, TOY, [], NOW)
    admitted = [v.admitted for v in created(decision)]
    assert admitted == [True, True, False, False, False]
    # with one trial running already, only one more is created admitted
    views = settle(run, TOY)
    busy = admit(views[:1], [views[0].name])
    later = run_logic.decide(run, TOY, busy, NOW)
    assert [v.admitted for v in created(later)] == [True, False, False, False]
    assert later.admit == []


@pytest.mark.parametrize(
    "spec", [{"suspend": True}, {"budgetUsd": 0}], ids=["suspended", "no-budget"]
)
def test_new_trials_are_not_created_admitted_when_nothing_may_start(spec: dict[str, Any]) -> None:
    decision = run_logic.decide(run_view(seeds=3, parallelism=3, **spec), TOY, [], NOW)
    assert len(decision.create) == 3
    assert not any(v.admitted for v in created(decision))


def test_finished_trials_free_their_slots_and_are_never_readmitted() -> None:
    run = run_view(seeds=3, parallelism=1)
    views = settle(run, TOY)
    views = [failed(views[0]), *views[1:]]  # finished before being admitted (cancelled, say)
    decision = run_logic.decide(run, TOY, views, NOW)
    assert decision.admit == [views[1].name]


def test_a_suspended_run_admits_nothing() -> None:
    run = run_view(seeds=3, parallelism=3, suspend=True)
    views = settle(run, TOY)
    decision = run_logic.decide(run, TOY, views, NOW)
    assert decision.admit == []
    assert decision.status is not None and decision.status.phase == "Suspended"
    assert condition(decision.status, "Suspended").status == "True"
    # trials already running go on; the run says Running while they do
    busy = run_logic.decide(run, TOY, admit(views, [views[0].name]), NOW)
    assert busy.admit == [] and busy.status is not None and busy.status.phase == "Running"
    # resuming admits again
    resumed = dataclasses.replace(run, spec=run.spec.model_copy(update={"suspend": False}))
    assert len(run_logic.decide(resumed, TOY, views, NOW).admit) == 3


# -- budget -----------------------------------------------------------------------------------


def test_a_spent_budget_admits_nothing_and_cancels_the_waiting() -> None:
    run = run_view(seeds=5, parallelism=5, budgetUsd=1.0)
    views = settle(run, TOY)
    views = admit(views, [views[2].name])
    views = [succeeded(views[0], cost=0.6), failed(views[1], cost=0.4), *views[2:]]
    decision = run_logic.decide(run, TOY, views, NOW)
    assert decision.admit == []
    assert sorted(name for name, _ in decision.cancel) == sorted([views[3].name, views[4].name])
    for _, status in decision.cancel:
        assert (status.phase, status.exit_reason, status.finish_time) == (
            "Failed",
            "cancelled",
            NOW,
        )
    assert views[2].name not in dict(decision.cancel), "a running trial is not cancelled"
    assert decision.status is not None
    exhausted = condition(decision.status, "BudgetExhausted")
    assert (exhausted.status, exhausted.reason) == ("True", "BudgetSpent")
    assert "1.00" in exhausted.message
    assert decision.status.spent_usd == 1.0
    assert any(e[1] == "BudgetExhausted" for e in decision.events)
    # once the cancellations are written and the last trial ends, the run is over
    statuses = dict(decision.cancel)
    views = [
        with_status(v, **statuses[v.name].model_dump()) if v.name in statuses else v for v in views
    ]
    views = [succeeded(v, cost=0.2) if v.name == views[2].name else v for v in views]
    end = run_logic.decide(run, TOY, views, NOW + seconds(1))
    assert end.cancel == [] and end.status is not None
    assert end.status.phase == "Failed"
    assert condition(end.status, "Progressing").reason == "BudgetExhausted"
    assert end.status.counters.failed == 3 and end.status.counters.succeeded == 2


def test_below_the_budget_trials_are_admitted() -> None:
    run = run_view(seeds=3, parallelism=5, budgetUsd=1.0)
    views = settle(run, TOY)
    views = [succeeded(views[0], cost=0.99), *views[1:]]
    decision = run_logic.decide(run, TOY, views, NOW)
    assert decision.admit == [v.name for v in views[1:]] and decision.cancel == []


# -- the rollup -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(40))
def test_counters_admission_and_spend_agree_with_each_trial_counted_on_its_own(seed: int) -> None:
    """Random runs (phases, admissions, costs, infra retries, parallelism, budget, suspend),
    each trial put in its bucket one by one, against what `decide` counts in its one pass."""
    rng = random.Random(seed)
    run = run_view(
        seeds=30,
        parallelism=rng.randint(1, 30),
        budgetUsd=rng.choice([None, 1.0, 5.0]),
        suspend=rng.random() < 0.2,
    )
    views = []
    for view in settle(run, TOY)[: rng.randint(0, 30)]:
        infra = [trials.AttemptFailure(attempt=0, reason="Evicted")] * rng.randint(0, 2)
        cost = rng.choice([0.0, 0.1, 0.3])
        # "unadmitted": a Running status on a Trial whose admission annotation is gone.
        kinds = ["waiting", "admitted", "running", "unadmitted", "succeeded", "failed"]
        kind = rng.choice(kinds)
        if kind == "succeeded":
            view = succeeded(view, cost=cost, infra_failures=infra, attempt=len(infra))
        elif kind == "failed":
            view = failed(view, cost=cost, infra_failures=infra, attempt=len(infra))
        elif kind in ("running", "unadmitted"):
            view = with_status(view, phase="Running", cost_usd=cost, infra_failures=infra)
        views.append(admit([view], [view.name])[0] if kind in ("admitted", "running") else view)
    decision = run_logic.decide(run, TOY, views, NOW)
    status = decision.status or run.status

    spent = sum(v.status.cost_usd for v in views)
    unfinished = [v for v in views if not v.status.finished]
    waiting = [v.name for v in unfinished if not v.admitted]
    budget = run.spec.budget_usd
    if budget is not None and spent >= budget:
        assert ([n for n, _ in decision.cancel], decision.admit) == (waiting, [])
    elif run.spec.suspend:
        assert (decision.cancel, decision.admit) == ([], [])
    else:
        room = max(0, run.spec.parallelism - sum(v.admitted for v in unfinished))
        assert (decision.cancel, decision.admit) == ([], waiting[:room])
    cancelled = {n for n, _ in decision.cancel}
    buckets = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0}
    for v in views:
        if v.name in cancelled or v.status.phase == "Failed":
            buckets["failed"] += 1
        elif v.status.phase == "Succeeded":
            buckets["succeeded"] += 1
        elif v.admitted or v.name in decision.admit:
            buckets["running"] += 1
        else:
            buckets["pending"] += 1
    buckets["pending"] += 30 - len(views)  # cells whose Trials are not created yet
    counters = status.counters
    assert counters.model_dump(exclude={"total", "infra_retried"}) == buckets
    assert counters.total == 30
    assert counters.infra_retried == sum(len(v.status.infra_failures) for v in views)
    assert status.spent_usd == round(spent, 6)


def test_counters_progress_and_spend() -> None:
    run = run_view(seeds=5, parallelism=1, generation=4)
    views = settle(run, TOY)
    failure = trials.AttemptFailure(attempt=0, reason="Evicted")
    views = [
        succeeded(views[0], cost=0.5, infra_failures=[failure], attempt=1),
        failed(views[1], cost=0.25),
        *admit(views[2:3], [views[2].name]),
        views[3],  # waiting
    ]  # the fifth is not created yet
    decision = run_logic.decide(run, TOY, views, NOW)
    status = decision.status
    assert status is not None
    assert status.counters == runs.RunCounters(
        total=5, pending=2, running=1, succeeded=1, failed=1, infra_retried=1
    )
    assert status.progress == "2/5"
    assert status.spent_usd == 0.75
    assert status.phase == "Running" and status.start_time == NOW
    assert status.observed_generation == 4
    assert condition(status, "Ready").observed_generation == 4
    assert len(decision.create) == 1


def test_nothing_started_is_pending() -> None:
    run = run_view(seeds=2, parallelism=2)
    decision = run_logic.decide(run, TOY, [], NOW)
    assert decision.status is not None and decision.status.phase == "Pending"
    assert decision.status.start_time is None


def scored(view: TrialView, metric: str, attempts: list[float], final: float | None) -> TrialView:
    scores = [
        Score(step=i, action="validate", test_metrics={metric: v}) for i, v in enumerate(attempts)
    ]
    if final is None:
        return failed(view, scores=scores)
    scores.append(Score(step=len(attempts), action="submit", test_metrics={metric: final}))
    return with_status(
        view,
        phase="Succeeded",
        exit_reason="submitted",
        scores=scores,
        final={metric: final},
        score=final,
    )


def test_the_leaderboard_is_mlgyms_aup_over_the_finished_trials() -> None:
    available = [
        task("acc", metric="acc", direction="max", baseline=0.5),
        task("loss", metric="loss", direction="min", baseline=2.0),
    ]
    run = run_view(
        tasks={"names": ["acc", "loss"]},
        agents=[{"name": "a", "model": "m"}, {"name": "b", "model": "n"}],
        seeds=2,
        parallelism=8,
    )
    views = {(v.spec.task, v.spec.agent, v.spec.seed): v for v in settle(run, available)}
    results = {
        ("acc", "a", 0): ([0.6], 0.7),
        ("acc", "a", 1): ([0.8], 0.65),
        ("acc", "b", 0): ([], 0.4),
        ("acc", "b", 1): ([0.45], None),  # the agent failed: its attempt still counts
        ("loss", "a", 0): ([1.5], 1.0),
        ("loss", "a", 1): ([0.9], 1.2),
        ("loss", "b", 0): ([], 3.0),
        ("loss", "b", 1): ([], 2.5),
    }
    finished = [
        scored(views[cell], cell[0], attempts, final) for cell, (attempts, final) in results.items()
    ]
    # an attempt lost to the infrastructure never enters the leaderboard, whatever it scored
    finished[0] = finished[0].replace(
        status=finished[0].status.model_copy(update={"phase": "Failed", "failure_class": "infra"}),
    )
    decision = run_logic.decide(run, available, finished, NOW)
    # by hand: the best over seeds in each task's direction, the tasks' baselines as a method
    # (a's acc seed 0 is the infra failure, so only seed 1 counts there)
    table = pd.DataFrame(
        [
            ("acc", "max", "task-baseline", 0.5, 0.5),
            ("acc", "max", "a", 0.8, 0.65),
            ("acc", "max", "b", 0.45, 0.4),
            ("loss", "min", "task-baseline", 2.0, 2.0),
            ("loss", "min", "a", 0.9, 1.0),
            ("loss", "min", "b", 2.5, 2.5),
        ],
        columns=list(scoring.TABLE_COLUMNS),
    )
    aup = scoring.compute_aup(table, baseline="task-baseline").aup
    attempt = {str(k): float(v) for k, v in aup[scoring.BEST_ATTEMPT].items()}
    submission = {str(k): float(v) for k, v in aup[scoring.BEST_SUBMISSION].items()}
    status = decision.status
    assert status is not None
    board = {s.agent: s for s in status.leaderboard}
    assert set(board) == {"a", "b"}
    for agent in ("a", "b"):
        assert board[agent].best_attempt_aup == pytest.approx(attempt[agent], abs=1e-6)
        assert board[agent].best_submission_aup == pytest.approx(submission[agent], abs=1e-6)
    assert [s.agent for s in status.leaderboard] == sorted(board, key=lambda a: -attempt[a])
    assert status.best_aup == pytest.approx(max(attempt["a"], attempt["b"]))
    assert board["a"].best_attempt_aup != board["b"].best_attempt_aup, "the case tells them apart"


def test_no_leaderboard_before_any_trial_finished() -> None:
    run = run_view(seeds=2)
    decision = run_logic.decide(run, TOY, settle(run, TOY), NOW)
    assert decision.status is not None
    assert decision.status.leaderboard == [] and decision.status.best_aup is None


def test_a_decision_without_a_rollup_keeps_the_last_leaderboard_until_the_run_finishes() -> None:
    # The controller spaces a big run's rollups by their cost: in between, the status keeps
    # the leaderboard it has, and the decision that finishes the run always rolls up.
    available = [task("acc", metric="acc", direction="max", baseline=0.5)]
    run = run_view(
        tasks={"names": ["acc"]},
        agents=[{"name": "a", "model": "m"}, {"name": "b", "model": "n"}],
        seeds=2,
        parallelism=4,
    )
    views = {(v.spec.agent, v.spec.seed): v for v in settle(run, available)}
    early = [scored(views["a", 0], "acc", [0.6], 0.6), scored(views["b", 0], "acc", [0.9], 0.9)]
    running = admit([views["a", 1], views["b", 1]], [views["a", 1].name, views["b", 1].name])
    first = run_logic.decide(run, available, [*early, *running], NOW)
    assert first.status is not None and first.best_scores == {("acc", "a"): 0.6, ("acc", "b"): 0.9}
    ranked = [s.agent for s in first.status.leaderboard]
    assert ranked == ["b", "a"]
    run = dataclasses.replace(run, status=first.status)
    # a's second seed beats every score so far, but this decision does not roll up
    later = [*early, scored(views["a", 1], "acc", [0.99], 0.99), running[1]]
    quiet = run_logic.decide(run, available, later, NOW + seconds(1), rollup=False)
    assert quiet.best_scores is None
    assert quiet.status is not None, "the counters still move"
    assert quiet.status.counters.succeeded == 3
    assert quiet.status.leaderboard == first.status.leaderboard
    # the last trial finishes: the run's last decision rolls up whatever it was told
    run = dataclasses.replace(run, status=quiet.status)
    done = [*later[:3], scored(views["b", 1], "acc", [0.1], 0.1)]
    final = run_logic.decide(run, available, done, NOW + seconds(2), rollup=False)
    assert final.status is not None and final.status.phase == "Succeeded"
    assert [s.agent for s in final.status.leaderboard] == ["a", "b"]
    assert final.best_scores == {("acc", "a"): 0.99, ("acc", "b"): 0.9}
    rolled = run_logic.decide(run, available, done, NOW).status
    assert rolled is not None and final.status.leaderboard == rolled.leaderboard


def test_all_finished_succeeds_the_run() -> None:
    run = run_view(seeds=3, parallelism=3)
    views = [succeeded(v) for v in settle(run, TOY)]
    views[1] = failed(views[1])
    decision = run_logic.decide(run, TOY, views, NOW)
    status = decision.status
    assert status is not None
    assert status.phase == "Succeeded" and status.completion_time == NOW
    assert (condition(status, "Progressing").status, condition(status, "Progressing").reason) == (
        "False",
        "Completed",
    )
    assert condition(status, "Failed").status == "False"
    assert ("Normal", "Succeeded", "3/3 trials finished") in decision.events
    assert decision.requeue_after is None and not decision.delete


def test_all_failed_fails_the_run() -> None:
    run = run_view(seeds=2, parallelism=2)
    decision = run_logic.decide(run, TOY, [failed(v) for v in settle(run, TOY)], NOW)
    assert decision.status is not None and decision.status.phase == "Failed"
    failed_condition = condition(decision.status, "Failed")
    assert (failed_condition.status, failed_condition.reason) == ("True", "AllFailed")


def test_a_finished_run_is_deleted_after_its_ttl() -> None:
    run = run_view(seeds=2, ttlSecondsAfterFinished=60)
    views = [succeeded(v) for v in settle(run, TOY)]
    first = run_logic.decide(run, TOY, views, NOW)
    assert not first.delete and first.requeue_after == pytest.approx(60)
    assert first.status is not None
    run = dataclasses.replace(run, status=first.status)
    later = run_logic.decide(run, TOY, views, NOW + seconds(45))
    assert not later.delete and later.requeue_after == pytest.approx(15)
    assert later.status is None, "the completion time stays where it was"
    assert run_logic.decide(run, TOY, views, NOW + seconds(60)).delete


def test_without_a_ttl_a_finished_run_stays() -> None:
    run = run_view(seeds=1)
    views = [succeeded(v) for v in settle(run, TOY)]
    decision = run_logic.decide(run, TOY, views, NOW + seconds(10**6))
    assert not decision.delete and decision.requeue_after is None


def test_deciding_again_on_the_written_status_changes_nothing() -> None:
    run = run_view(seeds=4, parallelism=2, budgetUsd=10)
    views = settle(run, TOY)
    views = [
        succeeded(views[0], cost=0.3),
        failed(views[1], cost=0.1),
        *admit(views[2:], [views[2].name]),
    ]
    first = run_logic.decide(run, TOY, views, NOW)
    assert first.status is not None
    views = admit(views, first.admit)
    run = dataclasses.replace(run, status=first.status)
    second = run_logic.decide(run, TOY, views, NOW + seconds(30))
    assert second.status is None, "the status is level-triggered: no write without a change"
    assert second.admit == [] and second.create == []


def test_a_conditions_time_moves_only_when_its_status_changes() -> None:
    run = run_view(seeds=2, parallelism=2)
    views = admit(settle(run, TOY), [])
    first = run_logic.decide(run, TOY, views, NOW)
    assert first.status is not None
    progressing = condition(first.status, "Progressing")
    assert (progressing.status, progressing.last_transition_time) == ("True", NOW)
    # one trial finishes: still progressing, message changes, time does not
    run = dataclasses.replace(run, status=first.status)
    views = admit(views, first.admit)
    views = [succeeded(views[0]), views[1]]
    second = run_logic.decide(run, TOY, views, NOW + seconds(30))
    assert second.status is not None
    still = condition(second.status, "Progressing")
    assert still.message == "1/2" and still.last_transition_time == NOW
    assert condition(second.status, "Ready").last_transition_time == NOW
    # the last one finishes: Progressing turns False, now
    run = dataclasses.replace(run, status=second.status)
    third = run_logic.decide(run, TOY, [views[0], succeeded(views[1])], NOW + seconds(90))
    assert third.status is not None
    done = condition(third.status, "Progressing")
    assert (done.status, done.last_transition_time) == ("False", NOW + seconds(90))
    assert condition(third.status, "Ready").last_transition_time == NOW


def test_the_view_reads_a_run_body() -> None:
    body = {
        "metadata": {"name": "demo", "namespace": NAMESPACE, "uid": "u", "generation": 3},
        "spec": {"tasks": {"names": ["toy"]}, "agents": [{"name": "gpt", "model": "m"}]},
    }
    view = RunView.from_body(body)
    assert (view.generation, view.status.phase, view.spec.parallelism) == (3, "Pending", 1)


def test_each_rollup_waits_a_hundred_times_its_cost_so_a_big_run_rolls_up_less_often() -> None:
    cadence = run_logic.RollupCadence()
    key = (NAMESPACE, "demo")
    assert cadence.due(key, 100.0), "a run never rolled up rolls up at once"
    cadence.rolled_up(key, 100.0, cpu=0.001)  # a run of 100 trials
    assert cadence.due(key, 100.1), "cheap: the next reconcile (a second later) rolls up again"
    cadence.rolled_up(key, 200.0, cpu=0.1)  # a run of 10,000 trials
    assert not cadence.due(key, 209.9) and cadence.due(key, 210.0), "100 times its cost"
    assert cadence.due((NAMESPACE, "other"), 201.0), "each run has its own"
    cadence.rolled_up(key, 300.0, cpu=10.0)
    assert not cadence.due(key, 329.9) and cadence.due(key, 330.0), "30 s at most"
    cadence.forget(key)
    assert cadence.due(key, 300.1), "a deleted run's wait goes with it"
