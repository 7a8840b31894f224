"""Parsed Trials share one field-name set per shape (`compaction.share_field_sets`),
and nothing a decision does to a view's copy reaches another view through it."""

from __future__ import annotations

import json

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
    a = trials.TrialView.from_body(body("a", steps=3, phase="Running"))
    b = trials.TrialView.from_body(body("b", steps=4, phase="Running"))
    assert a.status.__pydantic_fields_set__ is b.status.__pydantic_fields_set__
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
    # A running trial's view is kept as models (a finished one's status is packed).
    a = trials.TrialView.from_body(body("a", images=[record], phase="Running"))
    b = trials.TrialView.from_body(body("b", images=[record], phase="Running"))
    other = trials.TrialView.from_body(
        body("c", images=[{**record, "image": "reg/evil:1"}], phase="Running")
    )
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


def test_a_finished_trials_view_packs_its_status_and_its_result_reads_every_score() -> None:
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
    assert done.packed_status is not None and done.status is not done.status, "no models kept"
    result = results.result_of(done, builders.task())
    assert result.scores == whole.scores, "every score, as parsing the status gives them"
    assert result.best_attempt == 0.65
    assert results.row_of(done, builders.task()).last_score == 0.65
    running = trials.TrialView.from_body(body("r", phase="Running", scores=scores))
    assert running.packed_status is None and running.status is running.status
    assert running.status.scores == whole.scores
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


def finished_body(name: str, **status: object) -> dict[str, object]:
    """A finished Trial's body with every kind of field its status can hold."""
    image = {
        "pod": "sandbox",
        "container": "jail",
        "image": "reg/t:1",
        "digest": "reg/t@sha256:" + "d" * 64,
    }
    return body(
        name,
        **{
            "exitReason": "submitted",
            "attempt": 2,
            "sandboxPod": f"{name}-a2-sandbox",
            "agentPod": f"{name}-a2-agent",
            "startTime": "2025-03-01T12:00:00Z",
            "finishTime": "2025-03-01T12:20:00.5+02:00",
            "steps": 25,
            "tokens": 180_000,
            "promptTokens": 170_000,
            "costUsd": 0.41,
            "final": {"r2": 0.71},
            "score": 0.71,
            "validations": 4,
            "validationsRefused": 1,
            "message": "submitted after 25 steps: r2=0.71 — ünïcode",
            "artifacts": {"trajectory": "s3://b/t.jsonl", "logs": "s3://b/logs/"},
            "infraFailures": [
                {
                    "attempt": 0,
                    "reason": "PodDeleted",
                    "message": "gone",
                    "time": "2025-03-01T11:00:00Z",
                },
                {
                    "attempt": 1,
                    "reason": "Preempted",
                    "message": "x",
                    "time": "2025-03-01T11:30:00Z",
                },
            ],
            "scheduledTime": "2025-03-01T11:59:00Z",
            "images": [image, {**image, "container": "evaluator"}],
            "conditions": [
                {
                    "type": "Completed",
                    "status": "True",
                    "reason": "AgentFinished",
                    "message": "m",
                    "lastTransitionTime": "2025-03-01T12:00:00Z",
                }
            ],
            **status,
        },
    )


@pytest.mark.parametrize("phase", ["Succeeded", "Failed"])
def test_a_packed_status_reads_back_as_parsing_the_servers_status_gives_it(phase: str) -> None:
    wire = finished_body("p", phase=phase)
    whole = trials_api.TrialStatus.model_validate(
        {k: v for k, v in wire["status"].items() if k != "conditions"}  # type: ignore[attr-defined]
    )
    view = trials.TrialView.from_body(wire)
    assert view.status == whole, "every field, to the microsecond and time zone"
    assert (view.phase, view.attempt, view.cost_usd, view.infra_retries) == (phase, 2, 0.41, 2)
    assert view.finished
    # What the view keeps of it is a fraction of the server's JSON.
    assert view.packed_status is not None
    assert len(view.packed_status) < len(json.dumps(wire["status"])) / 2


def test_a_view_made_from_a_finished_status_model_packs_it_the_same_way() -> None:
    wire = finished_body("m")
    parsed = trials_api.TrialStatus.model_validate(wire["status"])
    view = trials.TrialView(
        namespace="ns",
        name="m",
        uid="u",
        spec=trials_api.TrialSpec(run="demo", task="toy", agent="gpt", seed=0),
        status=parsed,
        admitted=True,
        created=builders.NOW,
    )
    assert view.packed_status is not None
    assert view.status == parsed.model_copy(update={"conditions": []})


def test_a_runs_reconcile_unpacks_no_finished_status_once_their_rows_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Of a finished trial, a run reconcile reads its phase, cost and retries and its kept
    # row, every second: unpacking each status there would cost 10,000 parses a second.
    unpacked: list[bytes] = []
    real = trials.zlib.decompress

    def counting(data: bytes) -> bytes:
        unpacked.append(data)
        return real(data)

    monkeypatch.setattr(trials.zlib, "decompress", counting)
    task = builders.task()
    members = [
        trials.TrialView.from_body(finished_body(f"t{i}", score=0.1 * i, final={"r2": 0.1 * i}))
        for i in range(20)
    ]
    first = [results.row_of(t, task) for t in members]
    assert len(unpacked) == 20, "each row made once, from its trial's whole status"
    unpacked.clear()
    again = results.rows_of([task], members)
    assert again == first and all(a is b for a, b in zip(again, first, strict=True))
    assert unpacked == []
