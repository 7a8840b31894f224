"""A do-nothing agent scores as a failure on every task (issue 11, "Done when").

Every task of ``task_images/suites/offline.yaml`` and kubegym's example tasks runs through
the real local runner (`kubegym.local.runner.LocalRun`, bubblewrap sandbox, the jailed
grader) with two agents that never write anything: one submits at once, one looks around
(``ls``) until its step limit submits for it. Each trial must end with no valid submission,
or with a score the AUP scoring treats as infeasible (`kubegym.scoring.profiles.
feasibility_matrix`: missing, negative, or strictly worse than the task's baseline; a tie
is feasible, as in MLGym's code).

Evaluations run at the full budget (a local run's own): a do-nothing agent trains nothing,
so only the evaluation costs time, and a score at a reduced budget is not comparable with
the recorded baseline (3-SAT's solve time on 3 instances instead of 60 "beats" it by
400 times). A task whose data is not prepared here, or whose environment is not built, is
left out with its name in the skip reason; the runner would otherwise prepare or install it.

Known gaps (tasks whose starter code is itself a complete submission, so "doing nothing"
submits the baseline's own code): prisoners-dilemma's starter scores 2.389 on its test
schedule against a recorded baseline of 2.3716 (deterministic; feasible, better than the
baseline), and 3-sat's starter is its own reference: its `Time` (the submission's solving
seconds over the reference's, on the same formulas in the same evaluation) lands within noise
of the bar 1.0 on any machine, feasible about half the time. Both are marked xfail with
those reasons until the tasks or the scoring change.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kubegym import cache
from kubegym.api import documents
from kubegym.api import results as results_api
from kubegym.local.runner import LocalRun
from kubegym.scoring import profiles
from kubegym.tasks import catalog, preparation, venvs

REPO = Path(__file__).resolve().parents[2]
OFFLINE = yaml.safe_load((REPO / "task_images" / "suites" / "offline.yaml").read_text())["tasks"]
EXAMPLES = ["polyfit", "xor-blobs"]
TASKS = [*OFFLINE, *EXAMPLES]
AGENTS = ("submits-at-once", "runs-out-of-steps")

GAPS = {
    "prisoners-dilemma": pytest.mark.xfail(
        strict=True,
        reason="the unchanged starter strategy scores 2.389 on the test schedule, above the "
        "recorded baseline 2.3716: feasible (deterministic)",
    ),
    "3-sat": pytest.mark.xfail(
        strict=False,
        reason="the unchanged starter is the evaluation's own reference: its Time ratio is 1.0 "
        "within noise (0.99-1.01 here), at the bar of 1.0, so feasible about half the time",
    ),
}


def _bundle(name: str, run_dir: Path) -> catalog.TaskBundle:
    (bundle,) = catalog.select(
        documents.parse_run_file(
            yaml.safe_dump(
                {
                    "apiVersion": "kubegym.io/v1alpha1",
                    "kind": "BenchmarkRun",
                    "metadata": {"name": "probe"},
                    "spec": {
                        "tasks": {"names": [name]},
                        "agents": [{"name": "a", "builtin": "baseline"}],
                    },
                }
            )
        ).run.spec.tasks,
        documents.RunFile(),
        run_dir,
    )
    return bundle


def _unavailable(bundle: catalog.TaskBundle) -> str | None:
    """Why this machine cannot run the task without preparing or installing first."""
    spec = bundle.task.spec
    if spec.preparation is not None and not preparation.is_prepared(bundle):
        return "data not prepared"
    if not (cache.root() / "venvs" / venvs.key(spec.environment.requirements)).is_dir():
        return "environment not built"
    return None


@pytest.fixture(scope="module")
def idle_run(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Every available task × both idle agents, through the real local runner; the results
    by (task, agent), and a skip reason (str) for each task left out."""
    root = tmp_path_factory.mktemp("do-nothing")
    (root / "tasks").symlink_to(REPO / "examples" / "tasks")
    (root / "nothing.jsonl").write_text("")  # no action at all: the replay submits at once
    (root / "look.jsonl").write_text(json.dumps({"action": "ls"}) + "\n")
    skipped = {}
    chosen = []
    for name in TASKS:
        why = _unavailable(_bundle(name, root))
        if why is None:
            chosen.append(name)
        else:
            skipped[name] = why
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "idle"},
        "spec": {
            "tasks": {"names": chosen},
            "agents": [
                {"name": AGENTS[0], "builtin": "replay", "replayPath": "nothing.jsonl"},
                # One `ls`, then the replay would submit: two steps end it first.
                {
                    "name": AGENTS[1],
                    "builtin": "replay",
                    "replayPath": "look.jsonl",
                    "maxSteps": 1,
                },
            ],
            "seeds": 1,
            "parallelism": 2,
        },
    }
    results: dict[tuple[str, str], Any] = {}
    if chosen:
        parsed = documents.parse_run_file(yaml.safe_dump(run))
        summary = asyncio.run(LocalRun(parsed, root, root / "out").execute())
        assert summary.exit_code == 0, [r.message for r in summary.internal_errors]
        results = {(r.task, r.agent): r for r in summary.trials}
    for name, why in skipped.items():
        for agent in AGENTS:
            results[(name, agent)] = why
    return results


def _feasible(task: str, score: float | None) -> bool:
    spec = _bundle(task, REPO / "examples").task.spec
    maximize = spec.evaluation.metric().direction == "max"
    baseline = spec.baseline_score()
    scores = np.array([[math.nan if score is None else score, baseline]], dtype=np.float64)
    return bool(profiles.feasibility_matrix(scores, np.array([maximize]), 1)[0, 0])


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("task", [pytest.param(t, marks=GAPS.get(t, ())) for t in TASKS])
def test_a_do_nothing_agent_scores_as_a_failure(
    idle_run: dict[tuple[str, str], Any], task: str, agent: str
) -> None:
    """Attack (the cheapest one): do nothing and hope the task's own files score. Guarantee:
    no valid submission (an agent failure, never an infrastructure one) or an infeasible
    score; and the trial was really run, never skipped as the infrastructure's."""
    results = idle_run[(task, agent)]
    if isinstance(results, str):
        pytest.skip(f"{task}: {results} on this machine")
    assert isinstance(results, results_api.TrialResult)
    assert results.failure_class != "infra", results.message
    assert [s.action for s in results.scores] == ["submit"], "one (automatic) submission"
    if agent == AGENTS[1]:
        assert results.exit_reason == "max_steps"
    if results.score is None:
        assert results.failure_class == "agent" and results.final is None
    assert not _feasible(task, results.score), (
        f"{task}: a do-nothing agent scored {results.score} "
        f"({results.primary_metric}, {results.direction}), feasible against the baseline"
    )
