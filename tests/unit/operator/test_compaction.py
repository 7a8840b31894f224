"""Parsed Trials share one field-name set per shape (`compaction.share_field_sets`),
and nothing a decision does to a view's copy reaches another view through it."""

from __future__ import annotations

import pydantic
import pytest

from kubegym import rollups
from kubegym.api import trials as trials_api
from kubegym.operator import compaction, results, trials
from tests.unit.operator import builders


def body(name: str, **status: object) -> dict[str, object]:
    return {
        "metadata": {"name": name, "namespace": builders.NAMESPACE, "uid": name},
        "spec": {"run": "demo", "task": "toy", "agent": "gpt", "seed": 0},
        "status": {
            "phase": "Succeeded",
            "scores": [{"step": 1, "action": "submit", "metrics": {"r2": 0.5}}],
            **status,
        },
    }


def test_two_views_share_their_field_sets_and_read_the_same() -> None:
    # Running: a finished trial's view keeps its scores as text (the last test here)
    a = trials.TrialView.from_body(body("a", steps=3, phase="Running"))
    b = trials.TrialView.from_body(body("b", steps=4, phase="Running"))
    assert a.status.__pydantic_fields_set__ is b.status.__pydantic_fields_set__
    assert a.status.scores[0].__pydantic_fields_set__ is b.status.scores[0].__pydantic_fields_set__
    assert a.status.model_fields_set == {"phase", "scores", "steps"}
    alone = trials_api.TrialStatus.model_validate(body("c", steps=3, phase="Running")["status"])
    assert a.status == alone, "sharing changes no value"
    assert a.status.model_dump(exclude_unset=True) == alone.model_dump(exclude_unset=True)


def test_a_decisions_copy_never_changes_another_views_set() -> None:
    # A decision changes a status through model_copy(update=...): its copy gets its own set.
    a = trials.TrialView.from_body(body("a", steps=3))
    b = trials.TrialView.from_body(body("b", steps=4))
    shared = set(a.status.model_fields_set)
    changed = a.status.model_copy(update={"message": "retrying"})
    changed.exit_reason = "infra_error"  # and a later assignment on that copy
    assert changed.model_fields_set == shared | {"message", "exit_reason"}
    assert a.status.model_fields_set == b.status.model_fields_set == shared


def test_a_finished_trials_row_is_made_once_per_version_and_is_its_results_row() -> None:
    task = builders.task()
    a = trials.TrialView.from_body(body("a", steps=3, exitReason="submitted"))
    row = results.row_of(a, task)
    assert results.row_of(a, task) is row, "kept with the view"
    assert row == rollups.row_of(results.result_of(a, task))
    assert (row.task, row.agent, row.last_score, row.is_score) == ("toy", "gpt", None, True)
    # The next version of the Trial is a new view: its row is made from its own status.
    failed = trials.TrialView.from_body(
        body("a", steps=3, exitReason="infra_error", failureClass="infra")
    )
    assert results.row_of(failed, task).is_score is False
    assert results.result_of(a, task) is not results.result_of(a, task), "whole records: not kept"


def test_shapes_of_other_contents_keep_sets_of_their_own() -> None:
    a = trials_api.TrialStatus.model_validate({"phase": "Running"})
    b = trials_api.TrialStatus.model_validate({"phase": "Running", "steps": 2})
    compaction.share_field_sets([a, b])
    assert a.model_fields_set == {"phase"} and b.model_fields_set == {"phase", "steps"}


def test_equal_image_records_are_one_object_and_unequal_ones_stay_apart() -> None:
    record = {"pod": "agent", "container": "agent", "image": "reg/a:1", "digest": None}
    a = trials.TrialView.from_body(body("a", images=[record]))
    b = trials.TrialView.from_body(body("b", images=[record]))
    other = trials.TrialView.from_body(body("c", images=[{**record, "image": "reg/evil:1"}]))
    assert a.status.images[0] is b.status.images[0]
    assert other.status.images[0].image == "reg/evil:1", "a different image is its own record"
    assert a.status.model_dump(by_alias=True)["images"] == [
        {**record, "reason": None, "note": None}
    ]


def test_a_finished_trials_view_drops_its_conditions_and_keeps_what_is_read() -> None:
    condition = {
        "type": "Completed",
        "status": "True",
        "reason": "AgentFinished",
        "message": "m" * 2000,
        "lastTransitionTime": "2025-03-01T12:00:00Z",
    }
    running = trials.TrialView.from_body(body("r", phase="Running", conditions=[condition]))
    assert [c.type for c in running.status.conditions] == ["Completed"], "kept while it runs"
    done = trials.TrialView.from_body(
        body("d", conditions=[condition], costUsd=0.25, exitReason="submitted")
    )
    assert done.status.conditions == []
    assert (done.status.phase, done.status.cost_usd) == ("Succeeded", 0.25)
    decision = trials.decide(
        done,
        trials.AttemptPods(None, None),
        task=builders.task(),
        run=builders.run_spec(),
        now=builders.NOW,
    )
    assert decision.status is None, "nothing writes a finished trial's status back"
    assert results.result_of(done, builders.task()).cost_usd == 0.25


def test_a_finished_trials_view_keeps_its_scores_as_text_and_its_result_reads_them_all() -> None:
    scores = [
        {"step": 1, "action": "validate", "metrics": {"r2": 0.5}, "testMetrics": {"r2": 0.4}},
        {"step": 2, "action": "validate", "error": "submission.csv is missing"},
        {
            "step": 3,
            "action": "submit",
            "metrics": {"r2": 0.7},
            "testMetrics": {"r2": 0.65},
            "time": "2025-03-01T12:00:00Z",
        },
    ]
    whole = trials_api.TrialStatus.model_validate(
        {"phase": "Succeeded", "exitReason": "submitted", "scores": scores}
    )
    done = trials.TrialView.from_body(body("d", exitReason="submitted", scores=scores))
    assert done.status.scores == [] and done.scores_wire is not None, "no models kept"
    result = results.result_of(done, builders.task())
    assert result.scores == whole.scores, "every score, as parsing the status gives them"
    assert result.best_attempt == 0.65
    assert results.row_of(done, builders.task()).last_score == 0.65
    running = trials.TrialView.from_body(body("r", phase="Running", scores=scores))
    assert running.scores_wire is None and running.status.scores == whole.scores
    assert results.result_of(running, builders.task()).scores == whole.scores


def test_a_finished_trials_malformed_score_is_refused_when_its_row_is_made() -> None:
    # A finished trial's scores are not made into models when it is parsed; validating
    # them is the row's job, and a score the API would never hold is still refused there,
    # never counted as something else.
    for bad in (
        {"step": 1, "action": "submit", "testMetrics": {"r2": "high"}},
        {"step": -1, "action": "submit", "testMetrics": {"r2": 0.9}},
        {"step": 1, "action": "publish", "testMetrics": {"r2": 0.9}},
    ):
        done = trials.TrialView.from_body(body("d", exitReason="submitted", scores=[bad]))
        with pytest.raises(pydantic.ValidationError):
            results.row_of(done, builders.task())
