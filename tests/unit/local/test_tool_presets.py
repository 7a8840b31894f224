"""The local runner builds each trial's environment with its agent's tool preset."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import lint
from kubegym.api import documents
from kubegym.errors import ConfigError
from kubegym.local.runner import LocalRun
from kubegym.tasks.catalog import TaskBundle

KEY_ENV = "KUBEGYM_TEST_PRESET_KEY"


def run_file(tmp_path: Path, repo: Path, preset: str) -> documents.RunFile:
    (tmp_path / "tasks").symlink_to(repo / "examples" / "tasks")
    agent = {
        "name": "model",
        "model": "openai/never-called",
        "apiBase": "http://127.0.0.1:9",
        "apiKeyEnv": KEY_ENV,
        "preset": preset,
    }
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "presets"},
        "spec": {"tasks": {"names": ["xor-blobs"]}, "agents": [agent], "seeds": 1},
    }
    return documents.parse_run_file(yaml.safe_dump(run))


@pytest.mark.parametrize(
    ("preset", "expected"),
    [("mlgym", tools.ToolConfig.for_preset("mlgym")), ("kubegym", tools.ToolConfig())],
)
def test_the_environment_gets_the_agent_s_tool_preset(
    tmp_path: Path,
    repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    preset: str,
    expected: tools.ToolConfig,
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-never-used")
    seen: list[Any] = []

    def factory(bundle: TaskBundle, **kwargs: Any) -> Any:
        seen.append(kwargs.get("tool_config"))
        raise RuntimeError("stop here: the environment's settings are what this test reads")

    summary = asyncio.run(
        LocalRun(
            run_file(tmp_path, repo, preset), tmp_path, tmp_path / "out", env_factory=factory
        ).execute()
    )
    assert seen == [expected]
    assert summary.trials[0].exit_reason == "internal_error"


def test_a_machine_without_flake8_is_told_before_any_trial(
    tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "sk-never-used")
    monkeypatch.setattr(lint, "PYTHON", str(tmp_path / "no-python"))
    started: list[Any] = []
    local = LocalRun(
        run_file(tmp_path, repo, "mlgym"),
        tmp_path,
        tmp_path / "out",
        env_factory=lambda bundle, **kwargs: started.append(bundle),
    )
    with pytest.raises(ConfigError, match="flake8 does not start") as caught:
        asyncio.run(local.execute())
    assert caught.value.field == "spec.agents[model].preset"
    assert started == []
