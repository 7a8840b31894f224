"""A valid Task and BenchmarkRun, as dicts, for tests to break in small ways."""

from __future__ import annotations

from typing import Any

import yaml

TASK: dict[str, Any] = {
    "apiVersion": "kubegym.io/v1alpha1",
    "kind": "Task",
    "metadata": {"name": "toy"},
    "spec": {
        "description": "Predict y.",
        "evaluation": {
            "script": "evaluate.py",
            "metrics": [{"name": "r2", "direction": "max"}, {"name": "rmse", "direction": "min"}],
            "primaryMetric": "r2",
            "submission": {"path": "submission.csv"},
        },
        "baselineScores": {"r2": 0.5},
    },
}

RUN: dict[str, Any] = {
    "apiVersion": "kubegym.io/v1alpha1",
    "kind": "BenchmarkRun",
    "metadata": {"name": "demo"},
    "spec": {
        "tasks": {"names": ["toy"]},
        "agents": [
            {"name": "baseline", "builtin": "baseline"},
            {"name": "gpt", "model": "openai/gpt-4o", "costLimitUsd": 1.5},
        ],
        "seeds": 2,
        "store": {"local": {"path": "out"}},
    },
}


def dump(*docs: dict[str, Any]) -> str:
    """The YAML text of several documents, as a run file holds them."""
    return yaml.safe_dump_all(docs, sort_keys=False)
