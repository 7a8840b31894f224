"""The agents that act in a research environment: a litellm model, the baseline, a replay.

Each turns the environment's latest observation into the next action. The
agent loop (`kubegym.agent_runner.loop`) drives them all the same way, so they
are scored and limited alike. `make_agent` builds one from its spec in a run,
for the local runner (`kubegym.local.runner`) and the agent pod
(`kubegym.agent_runner.pod`), through `KINDS`: the agent kinds by name (``model``,
``image``, and each ``builtin``). Adding a kind: its class here (or in its own
module) and one ``KINDS.add`` at the bottom; a new ``builtin`` name also goes into
`kubegym.api.runs.Agent.builtin`. The ``model`` kind follows the agent's ``preset``:
kubegym's `ModelAgent`, or MLGym-Bench's default agent (`kubegym.agent_runner.mlgym`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from kubegym import _registry
from kubegym.agent_runner import decisions, mlgym, models, parsing
from kubegym.agent_runner.mlgym import agent as mlgym_agent
from kubegym.api import runs
from kubegym.errors import ConfigError

# How many times a malformed model reply is re-asked before the trial ends with format_error.
FORMAT_RETRIES = 2

# What a turn returns and the ways it ends a trial live in `decisions`, which the mlgym
# preset shares; the names stay here for the agents below and their callers.
Decision = decisions.Decision
FormatFailure = decisions.FormatFailure
ContextExhausted = decisions.ContextExhausted


class Agent(Protocol):
    """Anything that picks actions for a trial."""

    name: str

    def start(self, task_message: str, system_prompt: str) -> None:
        """Begin a trial with the task's message and the system prompt."""
        ...

    def act(self, observation: str | None) -> Decision:
        """The next action, given the last observation (None before the first step)."""
        ...


@runtime_checkable
class SeesState(Protocol):
    """An agent that renders its own prompts from the environment's state (the mlgym preset).

    The agent loop calls `see` with the environment's info before `Agent.start` (the reset's
    info) and before each `Agent.act` (the last step's info); its ``view`` holds the step's raw
    output, the shell's directory, the open file and the step count.
    """

    def see(self, info: Mapping[str, Any]) -> None:
        """Take the environment's info of the reset or of the step just taken."""
        ...


class BaselineAgent:
    """Runs the starter code's baseline command unchanged, then submits (needs no network)."""

    def __init__(self, name: str, baseline_command: str | None):
        self.name = name
        self._actions = [baseline_command] if baseline_command else []
        self._next = 0

    def start(self, task_message: str, system_prompt: str) -> None:
        self._next = 0

    def act(self, observation: str | None) -> Decision:
        if self._next < len(self._actions):
            self._next += 1
            return Decision(self._actions[self._next - 1], thought="Run the baseline as it is.")
        return Decision("submit", thought="Submit the baseline's artifact.")


class ReplayAgent:
    """Replays recorded actions (JSON lines ``{"action": ...}``), then submits: for demos and tests."""

    def __init__(self, name: str, actions: Sequence[str]):
        self.name = name
        self._actions = list(actions)
        self._next = 0

    @classmethod
    def from_file(cls, name: str, path: Path) -> ReplayAgent:
        """Read a replay file: one JSON object per line with an ``action`` (and optional ``thought``).

        Raises:
            ConfigError: the file is missing or a line is malformed.
        """
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read the replay file {path}: {exc.strerror}") from exc
        actions = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                actions.append(str(entry["action"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise ConfigError(
                    f'{path}:{number}: each line must be a JSON object like {{"action": "..."}}'
                ) from None
        return cls(name, actions)

    def start(self, task_message: str, system_prompt: str) -> None:
        self._next = 0

    def act(self, observation: str | None) -> Decision:
        if self._next < len(self._actions):
            self._next += 1
            return Decision(self._actions[self._next - 1], thought="Replayed.")
        return Decision("submit", thought="The replay is over: submit.")


@dataclass
class _Turn:
    action_message: str
    observation: str | None = None


class ModelAgent:
    """kubegym's own model agent: a model behind litellm, a thought and one command per reply.

    The model sees the system prompt, the task message, and the last
    ``history_window`` turns (its replies and their observations); older turns
    are dropped whole. This is kubegym's agent, not a reproduction of MLGym's:
    MLGym's history processor keeps every reply and elides only observations
    older than the last five, its file window is 1,000 lines, and its prompts,
    demonstrations and tools differ: ``preset: mlgym`` builds MLGym's
    (`kubegym.agent_runner.mlgym.agent.MLGymAgent`) instead.
    """

    def __init__(self, spec: runs.Agent, client: Any | None = None, seed: int | None = None):
        self.name = spec.name
        self.spec = spec
        self.client = client if client is not None else models.ModelClient(spec, seed=seed)
        self._system = ""
        self._task = ""
        self._turns: list[_Turn] = []

    def start(self, task_message: str, system_prompt: str) -> None:
        self._system = system_prompt
        self._task = task_message
        self._turns = []

    def messages(self) -> list[dict[str, str]]:
        """The conversation the model sees for its next reply."""
        out = [
            {"role": "system", "content": self._system},
            {"role": "user", "content": self._task},
        ]
        for turn in self._turns[-self.spec.history_window :]:
            out.append({"role": "assistant", "content": turn.action_message})
            if turn.observation is not None:
                out.append({"role": "user", "content": turn.observation})
        return out

    def act(self, observation: str | None) -> Decision:
        if observation is not None and self._turns:
            self._turns[-1].observation = observation
        prompt_tokens = completion_tokens = 0
        cost = 0.0
        extra: list[dict[str, str]] = []
        for attempt in range(FORMAT_RETRIES + 1):
            try:
                reply = self.client.complete(self.messages() + extra)
            except models.ContextWindowExceeded as exc:
                raise ContextExhausted(
                    str(exc), Decision("", "", prompt_tokens, completion_tokens, cost, attempt)
                ) from exc
            prompt_tokens += reply.prompt_tokens
            completion_tokens += reply.completion_tokens
            cost += reply.cost_usd
            try:
                parsed = parsing.parse_reply(reply.text)
            except parsing.FormatError as exc:
                extra = [
                    {"role": "assistant", "content": reply.text},
                    {"role": "user", "content": parsing.reask_message(exc)},
                ]
                continue
            self._turns.append(_Turn(reply.text))
            return Decision(
                parsed.action, parsed.thought, prompt_tokens, completion_tokens, cost, attempt
            )
        raise FormatFailure(
            f"the model replied in the wrong format {FORMAT_RETRIES + 1} times",
            Decision("", "", prompt_tokens, completion_tokens, cost, FORMAT_RETRIES + 1),
        )


@dataclass(frozen=True)
class AgentSetup:
    """What building one trial's agent may need besides its spec."""

    task: str
    """The task's name (a replay folder holds one file per task)."""
    run_dir: Path
    """Where the run's relative paths resolve (the run file's folder; the pod's cwd)."""
    baseline_command: str | None
    """The task's baseline command, for the baseline agent."""
    seed: int | None = None
    """The trial's seed, for the model's sampling."""
    api_key: str | None = None
    """The model's API key; None: `kubegym.agent_runner.models.ModelClient` looks for it."""


AgentKind = Callable[[runs.Agent, AgentSetup], Agent]
"""Builds the agent of one kind for one trial; raises ConfigError when it cannot."""

KINDS: _registry.Registry[AgentKind] = _registry.Registry(
    "agent kind", field="spec.agents[].builtin"
)
"""Every agent kind, by name."""


def kind_of(spec: runs.Agent) -> str:
    """The agent's kind: its ``builtin`` name, else ``image`` or ``model``, the field it sets."""
    if spec.builtin is not None:
        return spec.builtin
    return "image" if spec.image is not None else "model"


def make_agent(
    spec: runs.Agent,
    *,
    task: str,
    run_dir: Path,
    baseline_command: str | None,
    seed: int | None = None,
    api_key: str | None = None,
) -> Agent:
    """The agent a run's spec asks for, for one trial of ``task``, built by its kind.

    Args:
        spec: the agent, as the run declares it.
        task: the trial's task.
        run_dir: where relative paths (``replayPath``) resolve.
        baseline_command: the task's baseline command.
        seed: the trial's seed.
        api_key: a model agent's key; None to look in ``apiKeyEnv`` or litellm's default.

    Raises:
        ConfigError: an unknown kind (naming the field), an external-image agent
            (cluster only), a bad replay file, an unset ``apiKeyEnv``.
    """
    kind = kind_of(spec)
    field = f"spec.agents[{spec.name}].{'builtin' if spec.builtin is not None else kind}"
    build = KINDS.get(kind, field=field)
    return build(spec, AgentSetup(task, run_dir, baseline_command, seed, api_key))


def tool_names(spec: runs.Agent) -> list[str] | None:
    """The tools a trial's environment gives the agent: its own ``tools``, else its preset's.

    None gives every tool (kubegym's preset); the mlgym preset's are MLGym-Bench's default
    agent's (`kubegym.agent_runner.mlgym.TOOL_NAMES`: no memory, no literature search). Both
    runtimes build the environment with this list.
    """
    if spec.tools is not None:
        return list(spec.tools)
    if spec.preset in runs.MLGYM_PRESETS:
        return list(mlgym.TOOL_NAMES)
    return None


def _model(spec: runs.Agent, setup: AgentSetup) -> Agent:
    """kubegym's `ModelAgent`, or the design the agent's ``preset`` names."""
    if spec.preset in runs.MLGYM_PRESETS:
        _check_mlgym_tools(spec)
        return mlgym_agent.make(spec, api_key=setup.api_key, seed=setup.seed)
    client = models.ModelClient(spec, api_key=setup.api_key, seed=setup.seed)
    return ModelAgent(spec, client=client, seed=setup.seed)


def _check_mlgym_tools(spec: runs.Agent) -> None:
    """The mlgym preset's prompt documents MLGym's commands only: refuse others.

    Raises:
        ConfigError: ``tools`` names a tool MLGym-Bench's default agent does not have.
    """
    others = sorted(set(spec.tools or ()) - set(mlgym.TOOL_NAMES))
    if others:
        raise ConfigError(
            f"agent {spec.name}: the mlgym preset reproduces MLGym-Bench's default agent, whose "
            f"commands do not include {', '.join(others)} (MLGym's memory variant is not "
            "reproduced)",
            field=f"spec.agents[{spec.name}].tools",
            hint=f"choose among {', '.join(mlgym.TOOL_NAMES)}, or use preset: kubegym",
        )


def _external_image(spec: runs.Agent, setup: AgentSetup) -> Agent:
    raise ConfigError(
        f"agent {spec.name} is an external image ({spec.image}); it runs on a cluster only",
        field=f"spec.agents[{spec.name}].image",
    )


def _baseline(spec: runs.Agent, setup: AgentSetup) -> Agent:
    return BaselineAgent(spec.name, setup.baseline_command)


def _replay(spec: runs.Agent, setup: AgentSetup) -> Agent:
    """A file of actions, or a folder holding one ``<task>.jsonl`` per task."""
    assert spec.replay_path is not None  # the model's rule: replay needs replayPath
    path = Path(spec.replay_path)
    path = path if path.is_absolute() else setup.run_dir / path
    if path.is_dir():
        path = path / f"{setup.task}.jsonl"
    return ReplayAgent.from_file(spec.name, path)


KINDS.add("model", _model)
# On a cluster the agent pod runs the image itself; no agent object is built for it.
KINDS.add("image", _external_image)
KINDS.add("baseline", _baseline)
KINDS.add("replay", _replay)
