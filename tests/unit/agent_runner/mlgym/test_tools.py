"""The mlgym preset's commands: MLGym's twelve by default, a subset on request, nothing MLGym lacks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kubegym.agent_runner import agents, mlgym
from kubegym.agent_runner.mlgym import templates
from kubegym.api import runs
from kubegym.errors import ConfigError
from tests.support.openai_server import FakeOpenAI
from tests.unit.agent_runner.mlgym.conftest import golden, reply, reset_info


def spec(**fields: Any) -> runs.Agent:
    return runs.Agent.model_validate({"name": "a", "model": "openai/m", **fields})


def test_each_preset_gets_its_tools() -> None:
    assert agents.tool_names(spec()) is None  # kubegym's: every tool
    assert agents.tool_names(spec(preset="mlgym")) == list(mlgym.TOOL_NAMES)
    assert "memory_write" not in mlgym.TOOL_NAMES
    assert "literature_search" not in mlgym.TOOL_NAMES
    chosen = spec(preset="mlgym", tools=["open", "validate", "submit"])
    assert agents.tool_names(chosen) == ["open", "validate", "submit"]


@pytest.mark.parametrize("tool", ["memory_write", "memory_read", "literature_search"])
def test_a_tool_mlgym_lacks_is_refused_naming_the_field(tmp_path: Path, tool: str) -> None:
    with pytest.raises(ConfigError) as caught:
        agents.make_agent(
            spec(preset="mlgym", tools=["open", tool]),
            task="t",
            run_dir=tmp_path,
            baseline_command=None,
            api_key="k",
        )
    assert caught.value.field == "spec.agents[a].tools"
    assert tool in str(caught.value)


def test_all_commands_render_mlgyms_list_exactly() -> None:
    system = golden("mlgym-trajectory-battleOfSexes.json")["messages"][0]["content"]
    assert templates.command_docs(1000, mlgym.TOOL_NAMES) in system
    assert templates.command_docs(1000, list(reversed(mlgym.TOOL_NAMES))) == (
        templates.command_docs(1000)
    )


def test_a_subset_lists_only_its_commands_in_mlgyms_words(
    make_spec: Callable[..., runs.Agent], server: FakeOpenAI, tmp_path: Path
) -> None:
    server.reply(reply("Look.", "ls"))
    agent = agents.make_agent(
        make_spec(tools=["validate", "open", "submit"]),
        task="t",
        run_dir=tmp_path,
        baseline_command=None,
        api_key="k",
    )
    assert isinstance(agent, agents.SeesState)
    agent.see(reset_info(golden("first-request-house-price.json")["inputs"]))
    agent.start("", "")
    agent.act(None)
    system = server.completions[0].messages[0]["content"]
    listed = system[system.index("COMMANDS:\n") : system.index("Please note that")]
    assert [line[:-1] for line in listed.splitlines() if line and line[0] != " "][1:] == [
        "open",
        "submit",
        "validate",
    ]
    full = golden("first-request-house-price.json")["messages"][0]["content"]
    for name in ("open", "submit", "validate"):
        entry = full[full.index(f"\n{name}:\n") + 1 :].split("\n\n", 1)[0]
        assert entry in listed


def test_the_agent_pod_builds_the_preset_and_checks_its_model(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the agent pod too: the mlgym agent, whose model litellm must route before the trial."""
    from kubegym.agent_runner import pod
    from kubegym.agent_runner.mlgym import agent as mlgym_agent
    from tests.support import trial_pod

    def config(model: str) -> pod.TrialConfig:
        spec = {"name": "m", "model": model, "preset": "mlgym"}
        trial_pod.write_trial_config(repo, tmp_path / "trial.json", spec)
        return pod.TrialConfig.load(tmp_path / "trial.json")

    built = pod.make_agent(config("openai/gpt-4o"), {"OPENAI_API_KEY": "sk-pod"})
    assert isinstance(built, mlgym_agent.MLGymAgent)
    with pytest.raises(ConfigError, match="litellm does not know this provider"):
        pod.make_agent(config("no-such-provider-model"), {"OPENAI_API_KEY": "sk-pod"})
