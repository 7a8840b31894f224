"""One enum of reasons: the Trial's Literals, the table and the metric labels agree."""

from __future__ import annotations

from typing import get_args

import pytest

from kubegym.api import reasons, trials
from kubegym.api.reasons import FailureClass, Kind, Reason, Retry


def test_the_trials_literals_are_the_enums_members() -> None:
    assert set(get_args(trials.ExitReason)) == {r.value for r in Reason if r.kind is Kind.EXIT}
    assert set(get_args(trials.InfraReason)) == {r.value for r in Reason if r.kind is Kind.ATTEMPT}
    assert set(get_args(trials.FailureClass)) == {c.value for c in FailureClass}


def test_every_reason_has_one_row_and_its_own_label() -> None:
    assert set(reasons.TABLE) == set(Reason)
    labels = [r.label for r in Reason]
    assert len(set(labels)) == len(labels)
    assert all(label == label.lower() and " " not in label for label in labels)


def test_what_the_platform_does_is_retried_and_what_the_agent_does_never_is() -> None:
    for reason in Reason:
        if reason.kind is Kind.ATTEMPT:
            assert reason.failure_class is FailureClass.INFRA and reason.retry is not Retry.NEVER
        else:
            assert reason.retry is Retry.NEVER
    agent = {r for r in Reason if r.failure_class is FailureClass.AGENT}
    assert {Reason.SANDBOX_KILLED, Reason.MEMORY_LIMIT, Reason.STORAGE_LIMIT} <= agent
    assert {Reason.EVAL_ERROR, Reason.AGENT_ERROR} <= agent


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ("SandboxStartFailed", Reason.SANDBOX_START_FAILED),
        ("ModelRateLimited", Reason.MODEL_UNAVAILABLE),
        ("EvaluatorFailed", Reason.EVALUATOR_UNREACHABLE),
        ("NodeLost", Reason.NODE_LOST),
        ("sandbox_killed", Reason.SANDBOX_UNREACHABLE),  # not a cause a service raises
        ("NoSuchCause", Reason.SANDBOX_UNREACHABLE),
    ],
)
def test_a_services_cause_names_an_attempt_reason(cause: str, reason: Reason) -> None:
    assert reasons.of_cause(cause) is reason


def test_the_table_lists_every_reason() -> None:
    table = reasons.markdown()
    for reason in Reason:
        assert f"| `{reason.value}` |" in table
