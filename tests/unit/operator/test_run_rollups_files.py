"""A cluster run's rollups: its Trials as TrialResults, results.csv and leaderboard.json as a local run's."""

from __future__ import annotations

import csv
import io
import json

from kubegym import rollups
from kubegym.api.images import ImageRecord
from kubegym.api.trials import ImagesRollup, Score, TrialSpec
from kubegym.operator import results
from kubegym.scoring import columns

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
    rows = results.results_of([task()], [done, waiting])
    table = list(csv.DictReader(io.StringIO(rollups.results_csv(rows))))
    assert tuple(table[0]) == columns.RESULTS_CSV
    assert len(table) == 1
    row = table[0]
    assert (row["trial"], row["attempt"], row["phase"]) == (done.name, "1", "Succeeded")
    assert (row["score"], row["best_attempt"]) == ("0.8", "0.85")
    assert (row["prompt_tokens"], row["completion_tokens"]) == ("4000", "1000")
    assert float(row["seconds"]) == 90.0
    assert row["failure_class"] == ""


def test_the_leaderboard_has_the_local_shape_with_the_baseline_as_reference() -> None:
    done = trial_view(phase="Succeeded", exit_reason="submitted", score=0.8, final={"r2": 0.8})
    finished = results.results_of([task()], [done])
    board = rollups.leaderboard(
        [task()], ["gpt"], finished, best_submission="final-submit"
    ).to_json("demo")
    assert board["run"] == "demo" and board["reference"] == "task-baseline"
    assert set(board["agents"]) == {"gpt", "task-baseline"}
    assert board["tasks"]["toy"]["gpt"]["best_submission"] == 0.8


def test_images_json_holds_each_finished_trials_digests_not_results_csv() -> None:
    ran = ImageRecord(
        pod="sandbox",
        container="sandbox",
        image="registry.example/task-toy:0.1",
        digest="registry.example/task-toy@sha256:" + "a" * 64,
    )
    lost = ImageRecord(
        pod="agent", container="agent", image="registry.example/kubegym:1.0", reason="ErrImagePull"
    )
    done = trial_view(phase="Succeeded", exit_reason="submitted", score=0.8, images=[ran])
    failed = trial_view(
        name="demo-toy-gpt-s1-0badc0de",
        spec=TrialSpec(run="demo", task="toy", agent="gpt", seed=1),
        phase="Failed",
        attempt=3,
        exit_reason="infra_error",
        failure_class="infra",
        images=[lost],
    )
    waiting = trial_view(name="demo-toy-gpt-s2-0badc0de", images=[ran])  # not finished
    rows = results.results_of([task()], [done, failed, waiting])
    assert "images" not in next(csv.DictReader(io.StringIO(rollups.results_csv(rows))))
    data = json.loads(
        rollups.to_text(rollups.images_rollup("demo", rows).model_dump(mode="json", by_alias=True))
    )
    assert data["formatVersion"] == 1 and data["run"] == "demo"
    assert [(t["trial"], t["attempt"], t["phase"]) for t in data["trials"]] == [
        (done.name, 0, "Succeeded"),
        (failed.name, 3, "Failed"),
    ]
    assert data["trials"][0]["images"] == [ran.model_dump(mode="json", by_alias=True)]
    assert data["trials"][1]["images"][0]["digest"] is None
    assert data["trials"][1]["images"][0]["reason"] == "ErrImagePull"
    # The report reads it back with the same model.
    assert ImagesRollup.model_validate(data).trials[1].images == [lost]
