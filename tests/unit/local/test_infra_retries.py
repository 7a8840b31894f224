"""Infrastructure failures are retried within the run's policy and reported apart from the agent's."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from kubegym.agent_runner.env import ResearchEnv
from kubegym.api import documents
from kubegym.errors import InfraError
from kubegym.local.runner import LocalRun
from kubegym.sandbox import local as local_sandbox
from kubegym.tasks.catalog import TaskBundle


def run_file(tmp_path: Path, repo: Path, retries: int) -> documents.RunFile:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "flaky"},
        "spec": {
            "tasks": {"names": ["xor-blobs"]},
            "agents": [{"name": "baseline", "builtin": "baseline"}],
            "retryPolicy": {"infraRetries": retries, "backoffSeconds": 0},
        },
    }
    return documents.parse_run_file(yaml.safe_dump(run))


def flaky_envs(failures: int) -> Any:
    """Research environments whose first `failures` sandboxes never start."""
    starts = {"count": 0}

    def opener(request: local_sandbox.SandboxRequest) -> local_sandbox.LocalSandbox:
        starts["count"] += 1
        if starts["count"] <= failures:
            raise InfraError("SandboxStartFailed", "the node went away")
        return local_sandbox.open_sandbox(request)

    def factory(bundle: TaskBundle, **kwargs: Any) -> ResearchEnv:
        kwargs.pop("sandbox")
        return ResearchEnv([bundle], sandbox=opener, **kwargs)

    return factory, starts


def test_a_failed_sandbox_start_is_retried(tmp_path: Path, repo: Path) -> None:
    factory, starts = flaky_envs(failures=1)
    local = LocalRun(
        run_file(tmp_path, repo, retries=2), tmp_path, tmp_path / "out", env_factory=factory
    )
    summary = asyncio.run(local.execute())
    (results,) = summary.trials
    assert starts["count"] == 2
    assert results.attempt == 1 and results.exit_reason == "submitted" and not results.failed
    assert summary.status.counters.infra_retried == 1
    assert summary.status.counters.succeeded == 1


def test_past_the_policy_the_trial_fails_as_infrastructure(tmp_path: Path, repo: Path) -> None:
    factory, starts = flaky_envs(failures=5)
    local = LocalRun(
        run_file(tmp_path, repo, retries=1), tmp_path, tmp_path / "out", env_factory=factory
    )
    summary = asyncio.run(local.execute())
    (results,) = summary.trials
    assert starts["count"] == 2
    assert results.failure_class == "infra" and results.exit_reason == "infra_error"
    assert "the node went away" in results.message
    assert summary.status.counters.failed == 1
    # an infrastructure failure is not the agent's score: the leaderboard leaves it out
    assert "baseline" not in summary.leaderboard["agents"]
