"""Agent kinds by name: the local runner and the agent pod build every agent through one
registry, an unknown kind names its field, and a new kind plugs in with one registration."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegym.agent_runner import agents, pod
from kubegym.api import runs
from kubegym.errors import ConfigError
from tests.support import trial_pod


class EchoAgent:
    """A newcomer's agent: echoes the task's name, then submits."""

    def __init__(self, name: str, task: str) -> None:
        self.name = name
        self._actions = [f"echo {task}", "submit"]

    def start(self, task_message: str, system_prompt: str) -> None:
        pass

    def act(self, observation: str | None) -> agents.Decision:
        return agents.Decision(self._actions.pop(0))


def _echo(spec: runs.Agent, setup: agents.AgentSetup) -> agents.Agent:
    return EchoAgent(spec.name, setup.task)


@pytest.fixture(autouse=True, scope="module")
def echo_kind() -> Iterator[None]:
    # The one registration a newcomer writes (besides the name in `runs.Agent.builtin`),
    # here for this module only.
    with agents.KINDS.added("echo", _echo):
        yield


def agent(**fields: object) -> runs.Agent:
    return runs.Agent.model_validate({"name": "a", **fields})


def build(spec: runs.Agent, tmp_path: Path, **extra: object) -> agents.Agent:
    return agents.make_agent(
        spec, task="toy", run_dir=tmp_path, baseline_command="python baseline.py", **extra
    )


def test_todays_kinds_are_registered() -> None:
    assert {"model", "image", "baseline", "replay"} <= set(agents.KINDS.names())


def test_each_kind_builds_its_agent(tmp_path: Path) -> None:
    (tmp_path / "replays").mkdir()
    (tmp_path / "replays" / "toy.jsonl").write_text(json.dumps({"action": "ls"}) + "\n")
    baseline = build(agent(builtin="baseline"), tmp_path)
    replay = build(agent(builtin="replay", replayPath="replays"), tmp_path)
    model = build(agent(model="openai/gpt-4o"), tmp_path, api_key="sk-given", seed=3)
    assert isinstance(baseline, agents.BaselineAgent)
    assert baseline.act(None).action == "python baseline.py"
    assert isinstance(replay, agents.ReplayAgent) and replay.act(None).action == "ls"
    assert isinstance(model, agents.ModelAgent) and model.client.model == "openai/gpt-4o"


def test_an_external_image_is_refused_here_naming_its_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cluster only") as caught:
        build(agent(image="registry.example/agent:1"), tmp_path)
    assert caught.value.field == "spec.agents[a].image"


def test_an_unknown_kind_names_the_field_and_the_known_kinds(tmp_path: Path) -> None:
    # A name the model would refuse; as if `runs.Agent.builtin` listed a kind nobody registered.
    spec = runs.Agent.model_construct(name="odd", builtin="mystery", model=None, image=None)
    with pytest.raises(ConfigError, match="unknown agent kind: 'mystery'") as caught:
        build(spec, tmp_path)
    assert caught.value.field == "spec.agents[odd].builtin"
    assert caught.value.hint is not None and "baseline" in caught.value.hint


def test_a_new_kind_is_built_by_the_local_path(tmp_path: Path) -> None:
    spec = runs.Agent.model_construct(name="e", builtin="echo", model=None, image=None)
    built = build(spec, tmp_path)
    assert isinstance(built, EchoAgent) and built.act(None).action == "echo toy"


def pod_config(repo: Path, tmp_path: Path, spec: dict[str, object]) -> pod.TrialConfig:
    trial_pod.write_trial_config(repo, tmp_path / "trial.json", spec)
    return pod.TrialConfig.load(tmp_path / "trial.json")


def test_the_agent_pod_builds_a_new_kind_through_the_registry(repo: Path, tmp_path: Path) -> None:
    config = pod_config(repo, tmp_path, {"name": "e", "builtin": "baseline"})
    echo = runs.Agent.model_construct(name="e", builtin="echo", model=None, image=None)
    built = pod.make_agent(dataclasses.replace(config, agent=echo), {})
    assert isinstance(built, EchoAgent) and built.act(None).action == "echo polyfit"


def test_the_agent_pod_gives_a_model_agent_the_key_from_its_variable(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBEGYM_TEST_POD_KEY", raising=False)
    spec = {"name": "m", "model": "openai/gpt-4o", "apiKeyEnv": "KUBEGYM_TEST_POD_KEY"}
    config = pod_config(repo, tmp_path, spec)
    with pytest.raises(ConfigError, match="KUBEGYM_TEST_POD_KEY is not set"):
        pod.make_agent(config, {})  # not in the pod's environment, nor in this process's
    built = pod.make_agent(config, {"KUBEGYM_TEST_POD_KEY": "sk-pod"})
    assert isinstance(built, agents.ModelAgent)
