"""`MLGymAgent`: MLGym-Bench's default agent (``configs/agents/default.yaml``) over kubegym's model client.

What it reproduces, from MLGym's ``mlgym/agent/base.py`` at commit 9d40c1b:

- the conversation: MLGym's system message, its demonstrations (none in the default
  configuration), the task message, then each reply and each step's output in MLGym's
  next-step form (`kubegym.agent_runner.mlgym.templates`), rendered from the environment's
  view of the step (`see`), not from kubegym's own prompts;
- what the model sees: every reply, and only the last five observations whole
  (`kubegym.agent_runner.mlgym.history`);
- reading replies (`kubegym.agent_runner.mlgym.replies`) and the format-error re-ask: the bad
  reply and MLGym's message are added to that request only, never to the history; MLGym
  re-asks three times, and the reply to the third re-ask ends the trial unread
  (``format_error``), as in MLGym's ``check_format_and_requery``;
- the per-instance cost limit: the call that brings the trial's cost to the limit ends it
  (``cost_limit``) and its reply is dropped, as MLGym's model raises before returning it;
- a model API that still fails after the client's retries ends the trial (``model_error``)
  with an automatic submission, MLGym's ``exit_api``, instead of an infrastructure retry.

MLGym's command blocklist is not reproduced: its check compares the first *character* of a
command with the listed names (``should_block_action``), so it never blocks anything.

Built by `kubegym.agent_runner.agents` for ``spec.agents[].preset: mlgym``; driven by the
agent loop like every agent, which hands it the environment's ``view`` through `see`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubegym import errors
from kubegym.agent_runner import decisions, models
from kubegym.agent_runner.mlgym import history, replies, templates
from kubegym.api import runs, trials

WINDOW = 1000
"""MLGym's editor window in lines (``WINDOW`` in default.yaml's tools)."""

TEMPERATURE = 0.0
"""MLGym-Bench's temperature: its experiment scripts' ``--temp 0`` (``run.py``'s default too)."""

TOP_P = 0.95
"""MLGym-Bench's top_p: ``run.py``'s default, ``p-0.95`` in the names of its recorded runs."""

FORMAT_REASKS = 3
"""Re-asks after a malformed reply before the trial ends (MLGym's loop allows three)."""


class MLGymAgent:
    """MLGym-Bench's default agent: MLGym's prompts, history, parser and limits.

    Args:
        spec: the agent as the run declares it (``preset: mlgym``).
        client: the model client (`kubegym.agent_runner.models.ModelClient`).
        window: the editor window named in the system message.
        demonstrations: demonstration texts, each sent wrapped as MLGym wraps one, after the
            system message (MLGym-Bench's default agent has none).
    """

    def __init__(
        self,
        spec: runs.Agent,
        client: Any,
        *,
        window: int = WINDOW,
        demonstrations: Sequence[str] = (),
    ):
        self.name = spec.name
        self.spec = spec
        self.client = client
        self.window = window
        self.demonstrations = list(demonstrations)
        self.history: list[history.Message] = []
        """Every message of the trial, unelided (MLGym's ``history``)."""
        self._view: Mapping[str, Any] = {}
        self._gpu_line: str | None = None
        self._step: Mapping[str, Any] = {}
        self._workspace = "/workspace"
        self._spent = 0.0

    def see(self, info: Mapping[str, Any]) -> None:
        """Take the environment's view of the trial's start or of the step just taken.

        Raises:
            ValueError: the info holds no ``view`` (an environment that does not expose one).
        """
        view = info.get("view")
        if not isinstance(view, Mapping):
            raise ValueError(
                "the mlgym preset renders MLGym's prompts from the environment's view of each "
                "step (info['view']); this environment gave none"
            )
        self._view = {**self._view, **view}
        self._step = info
        # The tools' GPU line (MLGym's default_gpu_info.yaml), when the environment probed one.
        gpu_line = info.get("gpu_line")
        self._gpu_line = gpu_line if isinstance(gpu_line, str) and gpu_line else None

    def start(self, task_message: str, system_prompt: str) -> None:
        """Begin a trial; kubegym's own task message and system prompt are not used."""
        view = self._require("description", "training_timeout", "cwd")
        self._spent = 0.0
        self._workspace = str(view["cwd"])  # the shell starts in the workspace
        self.history = [
            history.Message(
                "system",
                templates.system_message(
                    window=int(view.get("window") or self.window),
                    training_timeout=float(view["training_timeout"]),
                    gpu=self._gpu_line is not None,
                    commands=self.spec.tools,
                ),
            )
        ]
        for demonstration in self.demonstrations:
            self.history.append(
                history.Message(
                    "user", templates.demonstration_message(demonstration), demonstration=True
                )
            )
        self.history.append(
            history.Message("user", templates.task_message(str(view["description"]), self._state()))
        )

    def messages(self) -> list[dict[str, str]]:
        """The conversation the model sees for its next reply."""
        return [message.to_wire() for message in history.visible(self.history, self.keep)]

    @property
    def keep(self) -> int:
        """Observations shown whole: MLGym's five (Last5Observations), or the run's own
        ``historyWindow`` when it sets one (MLGym's LastNObservations with that n)."""
        if "history_window" in self.spec.model_fields_set:
            return self.spec.history_window
        return history.KEEP

    def act(self, observation: str | None) -> decisions.Decision:
        """The next action: the step's output goes into the history, then the model replies.

        Raises:
            decisions.FormatFailure: no readable reply after MLGym's three re-asks.
            decisions.ContextExhausted: the conversation no longer fits the model.
            decisions.CostExhausted: a call brought the trial's cost to its limit.
            decisions.ModelFailed: the model API failed after the client's retries.
        """
        if observation is not None:
            self._require("step")
            self.history.append(
                history.Message("user", templates.next_step_message(self._output(), self._state()))
            )
        counts = _Counts()
        reply = self._ask(self.messages(), counts)
        for _ in range(FORMAT_REASKS):
            try:
                parsed = replies.parse(reply)
            except replies.FormatError:
                counts.format_errors += 1
                reask = [
                    *self.messages(),
                    {"role": "assistant", "content": reply},
                    {"role": "user", "content": templates.FORMAT_ERROR},
                ]
                reply = self._ask(reask, counts)
                continue
            self.history.append(history.Message("assistant", reply))
            return counts.decision(parsed.action.strip(), parsed.thought)
        raise decisions.FormatFailure(
            f"the model replied in the wrong format {FORMAT_REASKS + 1} times (MLGym's limit)",
            counts.decision("", ""),
        )

    def _ask(self, messages: list[dict[str, str]], counts: _Counts) -> str:
        """One model call, counted; the trial's limits and the API's failures end it here."""
        try:
            reply = self.client.complete(messages)
        except models.ContextWindowExceeded as exc:
            raise decisions.ContextExhausted(str(exc), counts.decision("", "")) from exc
        except errors.InfraError as exc:
            raise decisions.ModelFailed(
                f"the model API failed after the client's retries: {exc}",
                counts.decision("", ""),
            ) from exc
        counts.prompt_tokens += reply.prompt_tokens
        counts.completion_tokens += reply.completion_tokens
        counts.cost_usd += reply.cost_usd
        self._spent += reply.cost_usd
        limit = self.spec.cost_limit_usd
        # MLGym's model raises once the instance's cost reaches its limit (a limit of 0 is none).
        if 0 < limit <= self._spent:
            raise decisions.CostExhausted(
                f"the trial's model cost reached its limit of {limit:g} USD; the last reply "
                "is not acted on",
                counts.decision("", ""),
            )
        text: str = reply.text
        return text

    def _output(self) -> str | None:
        """The last step's output as MLGym's environment gave it.

        A validate that scored is answered in MLGym's words, from the evaluator's score of it:
        its own metrics only, never the hidden test metrics the score also carries.
        """
        score = self._step.get("score")
        if (
            self._step.get("tool") == "validate"
            and isinstance(score, trials.Score)
            and score.action == "validate"
            and score.error is None
            and score.metrics
            and "submission" in self._view
        ):
            return templates.validation_message(
                submission=f"{self._workspace.rstrip('/')}/{self._view['submission']}",
                baseline=self._view.get("baseline_scores"),
                metrics=score.metrics,
            )
        output = self._view.get("output")
        return _one_newline_off(output) if isinstance(output, str) else None

    def _state(self) -> templates.State:
        view = self._require("max_steps", "cwd")
        return templates.State(
            step=int(view.get("step") or 0),
            # The run's step limit for this agent, when it sets one, is the one the loop
            # enforces (MLGym shows its run's --max_steps); else the task's.
            max_steps=self.spec.max_steps or int(view["max_steps"]),
            cwd=str(view["cwd"]),
            open_file=view.get("open_file") or None,
            gpu_line=self._gpu_line,
        )

    def _require(self, *keys: str) -> Mapping[str, Any]:
        missing = [key for key in keys if key not in self._view]
        if missing:
            raise ValueError(
                f"the environment's view lacks {', '.join(missing)}, which MLGym's prompts show"
            )
        return self._view


class _Counts:
    """What one turn's calls cost, and the format errors it met."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.format_errors = 0

    def decision(self, action: str, thought: str) -> decisions.Decision:
        return decisions.Decision(
            action,
            thought,
            self.prompt_tokens,
            self.completion_tokens,
            self.cost_usd,
            self.format_errors,
        )


def _one_newline_off(output: str) -> str:
    """The output as MLGym's shell reader returns it: its lines joined, so one final newline goes."""
    return output.removesuffix("\n")


def make(spec: runs.Agent, *, api_key: str | None = None, seed: int | None = None) -> MLGymAgent:
    """The mlgym preset's agent for one trial, with MLGym's sampling defaults (`sampling`)."""
    sampled = spec.model_copy(update={"sampling": sampling(spec)})
    return MLGymAgent(sampled, models.ModelClient(sampled, api_key=api_key, seed=seed))


def sampling(spec: runs.Agent) -> runs.Sampling:
    """The agent's sampling: MLGym-Bench's temperature 0 and top_p 0.95 unless the run sets them.

    A field the run file sets itself (pydantic's fields-set) wins, even when it equals
    kubegym's default.
    """
    given = spec.sampling
    update: dict[str, float] = {}
    if "temperature" not in given.model_fields_set:
        update["temperature"] = TEMPERATURE
    if "top_p" not in given.model_fields_set:
        update["top_p"] = TOP_P
    return given.model_copy(update=update)
