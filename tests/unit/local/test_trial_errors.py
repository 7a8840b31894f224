"""One trial never ends the run: kubegym's own error in a trial is recorded, and the exit code says so."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from kubegym.agent_runner.env import ResearchEnv
from kubegym.api import documents
from kubegym.local import runner
from kubegym.local.runner import LocalRun
from kubegym.tasks.catalog import TaskBundle


def run_file(tmp_path: Path, repo: Path) -> documents.RunFile:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "bugs"},
        "spec": {
            "tasks": {"names": ["xor-blobs"]},
            "agents": [{"name": "baseline", "builtin": "baseline"}],
            "seeds": 2,
            "retryPolicy": {"infraRetries": 3, "backoffSeconds": 0},
        },
    }
    return documents.parse_run_file(yaml.safe_dump(run))


def buggy_first_env() -> Any:
    """Research environments of which the first fails with a bug of kubegym's own."""
    made = {"count": 0}

    def factory(bundle: TaskBundle, **kwargs: Any) -> ResearchEnv:
        made["count"] += 1
        if made["count"] == 1:
            raise RuntimeError("a bug in kubegym")
        return ResearchEnv([bundle], **kwargs)

    return factory, made


def test_an_internal_error_is_recorded_against_its_trial_and_the_run_goes_on(
    tmp_path: Path, repo: Path
) -> None:
    factory, made = buggy_first_env()
    parsed = run_file(tmp_path, repo)
    summary = asyncio.run(
        LocalRun(parsed, tmp_path, tmp_path / "out", env_factory=factory).execute()
    )
    broken, scored = sorted(summary.trials, key=lambda r: r.exit_reason)
    assert (broken.exit_reason, broken.failure_class, broken.attempt) == (
        "internal_error",
        "infra",
        0,
    ), "never retried"
    assert "RuntimeError: a bug in kubegym" in broken.message
    assert scored.exit_reason == "submitted" and scored.score is not None
    assert summary.exit_code == runner.EXIT_INTERNAL_ERROR == 3
    assert made["count"] == 2

    # A resume runs nothing again: the recorded trial is finished, whatever its outcome.
    again = asyncio.run(LocalRun(parsed, tmp_path, tmp_path / "out", env_factory=factory).execute())
    assert made["count"] == 2 and again.skipped == 2
    assert again.exit_code == 3, "the run still reports the trial kubegym failed"
