"""The metric labels are the reasons' own: one vocabulary (`kubegym.api.reasons`), a closed set."""

from __future__ import annotations

from typing import get_args

import pytest

from kubegym.api import reasons as api_reasons
from kubegym.api.trials import InfraReason
from kubegym.metrics import reasons


@pytest.mark.parametrize("reason", get_args(InfraReason))
def test_each_operator_reason_has_its_own_label(reason: str) -> None:
    assert reasons.infra_reason(reason) == api_reasons.Reason(reason).label != reasons.OTHER


def test_the_label_set_is_the_attempt_reasons_labels() -> None:
    attempt = [r for r in api_reasons.Reason if r.kind is api_reasons.Kind.ATTEMPT]
    labels = [r.label for r in attempt]
    assert len(set(labels)) == len(labels), "two reasons share a label"
    assert {*labels, reasons.OTHER} == reasons.INFRA_REASONS


@pytest.mark.parametrize("label", sorted(reasons.INFRA_REASONS - {reasons.OTHER}))
def test_a_label_maps_to_itself(label: str) -> None:
    assert reasons.infra_reason(label) == label


@pytest.mark.parametrize("exit_reason", ["sandbox_killed", "memory_limit", "storage_limit"])
def test_an_agents_failure_is_never_an_infrastructure_label(exit_reason: str) -> None:
    assert reasons.infra_reason(exit_reason) == reasons.OTHER
