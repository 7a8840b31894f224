"""Every infrastructure failure the operator records has its own metric label, never `other`."""

from __future__ import annotations

from typing import get_args

import pytest

from kubegym.api.trials import InfraReason
from kubegym.metrics import reasons


@pytest.mark.parametrize("reason", get_args(InfraReason))
def test_each_operator_reason_has_a_label(reason: str) -> None:
    assert reasons.infra_reason(reason) != reasons.OTHER
