"""A finished run's rollups: results.csv in the local runner's columns, leaderboard.json alike."""

from __future__ import annotations

import csv
import io

from kubegym.api.trials import Score
from kubegym.local import outputs
from kubegym.operator import rollups

from .builders import NOW, seconds, task, trial_view


def test_results_csv_has_the_local_runners_columns_and_the_trials_numbers() -> None:
    done = trial_view(
        phase="Succeeded",
        attempt=1,
        exit_reason="submitted",
        score=0.8,
        scores=[Score(step=3, action="validate", test_metrics={"r2": 0.85})],
        steps=12,
        tokens=5000,
        prompt_tokens=4000,
        cost_usd=0.31,
        start_time=NOW - seconds(90),
        finish_time=NOW,
    )
    waiting = trial_view(name="demo-toy-gpt-s1-0badc0de")  # not finished: no row
    rows = rollups.trial_rows([task()], [done, waiting])
    table = list(csv.DictReader(io.StringIO(rollups.results_csv(rows))))
    assert tuple(table[0]) == outputs.CSV_COLUMNS
    assert len(table) == 1
    row = table[0]
    assert (row["trial"], row["attempt"], row["phase"]) == (done.name, "1", "Succeeded")
    assert (row["score"], row["best_attempt"]) == ("0.8", "0.85")
    assert (row["prompt_tokens"], row["completion_tokens"]) == ("4000", "1000")
    assert float(row["seconds"]) == 90.0
    assert row["failure_class"] == ""


def test_the_leaderboard_has_the_local_shape_with_the_baseline_as_reference() -> None:
    done = trial_view(phase="Succeeded", exit_reason="submitted", score=0.8, final={"r2": 0.8})
    board = rollups.leaderboard("demo", [task()], rollups.trial_rows([task()], [done]))
    assert board["run"] == "demo" and board["reference"] == "task-baseline"
    assert set(board["agents"]) == {"gpt", "task-baseline"}
    assert board["tasks"]["toy"]["gpt"]["best_submission"] == 0.8
