"""Fixtures for the API tests: fresh copies of a valid Task and BenchmarkRun."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.unit.api.samples import RUN, TASK


@pytest.fixture
def task() -> dict[str, Any]:
    """A valid Task document, as a dict to modify."""
    return copy.deepcopy(TASK)


@pytest.fixture
def run() -> dict[str, Any]:
    """A valid BenchmarkRun document, as a dict to modify."""
    return copy.deepcopy(RUN)
