"""Fixtures for the mlgym preset's tests: golden files, a real OpenAI-protocol server, the agent aimed at it.

The golden files (``fixtures/``) were written by ``fixtures/make_fixtures.py`` from MLGym's
own code, configuration and recorded trajectories, never from kubegym's reproduction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym.agent_runner import agents
from kubegym.agent_runner.mlgym import agent as mlgym_agent
from kubegym.api import runs
from tests.support.openai_server import FakeOpenAI, serve_openai

FIXTURES = Path(__file__).parent / "fixtures"


def golden(name: str) -> Any:
    """A golden file of ``fixtures/``, parsed."""
    return json.loads((FIXTURES / name).read_text())


def reply(thought: str, command: str) -> str:
    """A well-formed reply in MLGym's format."""
    return f"DISCUSSION\n{thought}\n\n```\n{command}\n```"


def reset_info(inputs: dict[str, Any]) -> dict[str, Any]:
    """What `ResearchEnv.reset` gives for a task with these inputs (its ``view``)."""
    return {
        "view": {
            "description": inputs["description"],
            "training_timeout": inputs["training_timeout"],
            "window": 1000,
            "step": 0,
            "max_steps": inputs["max_steps"],
            "cwd": inputs["cwd"],
            "open_file": None,
        }
    }


def step_info(output: str, step: int, state: dict[str, str], max_steps: int = 50) -> dict[str, Any]:
    """What `ResearchEnv.step` gives after a step (its ``view``), from MLGym's recorded state."""
    open_file = state.get("open_file")
    return {
        "view": {
            "output": output,
            "step": step,
            "max_steps": max_steps,
            "cwd": state["working_dir"],
            "open_file": None if open_file in (None, "n/a") else open_file,
        }
    }


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    """A running OpenAI-protocol server on loopback with an empty script; tests push replies."""
    with serve_openai() as fake:
        yield fake


@pytest.fixture
def make_spec(server: FakeOpenAI) -> Callable[..., runs.Agent]:
    """An agent spec with ``preset: mlgym`` aimed at the server; keyword arguments are Agent fields."""

    def make(**fields: Any) -> runs.Agent:
        spec: dict[str, Any] = {
            "name": "mlgym-agent",
            "model": "openai/fake-model",
            "apiBase": server.base_url,
            "preset": "mlgym",
            "pricing": {"inputUsdPerMillionTokens": 1.0, "outputUsdPerMillionTokens": 1.0},
        }
        spec.update(fields)
        return runs.Agent.model_validate(spec)

    return make


@pytest.fixture
def build(
    make_spec: Callable[..., runs.Agent], tmp_path: Path
) -> Callable[..., mlgym_agent.MLGymAgent]:
    """The agent the run's spec builds, through the agent-kind registry as a run builds it."""

    def make(**fields: Any) -> mlgym_agent.MLGymAgent:
        agent = agents.make_agent(
            make_spec(**fields), task="t", run_dir=tmp_path, baseline_command=None, api_key="sk-t"
        )
        assert isinstance(agent, mlgym_agent.MLGymAgent)
        return agent

    return make
