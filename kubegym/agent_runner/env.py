"""`ResearchEnv`: a research task as a Gymnasium environment, the ground every agent works on.

`reset` lays out a fresh workspace (starter code and read-only data), starts
the sandbox and returns the task prompt; `step` runs one action (a tool or a
shell command) and returns what the agent sees. validate and submit go to the
evaluator, outside the sandbox. The agent loop (`kubegym.agent_runner.loop`)
drives it for kubegym's own agents; RL researchers can train on it directly.

Locally the environment builds everything itself. In the agent pod on a cluster
the sandbox and the evaluator already run in the sandbox pod: there the
environment is built with ``layout=False`` (nothing is laid out or installed
here), a sandbox opener that attaches to the remote sandbox server, and the
evaluator server's client as ``evaluator`` (`kubegym.agent_runner.pod`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import gymnasium
from gymnasium import spaces

from kubegym.agent_runner import prompts, tools
from kubegym.agent_runner.tools import file_edits, gpu_info
from kubegym.api import common, reasons, trials
from kubegym.errors import ConfigError, InfraError, TrialFailed
from kubegym.evaluator import judge
from kubegym.sandbox import backends as sandbox_backends
from kubegym.sandbox import client as sandbox_client
from kubegym.sandbox import local as local_sandbox
from kubegym.tasks import datasets, venvs
from kubegym.tasks.catalog import TaskBundle

SandboxOpener = sandbox_backends.Opener
"""Starts a sandbox for a request; returns an object with `.client`, `.describe()` and `.close()`."""

_TEXT = spaces.Text(max_length=10_000_000, min_length=0)
#: How often, and how far apart, a server that failed the agent's request is checked for life.
_PROBES = 10
_PROBE_INTERVAL = 0.3


class ResearchEnv(gymnasium.Env[str, str]):
    """One research task at a time, in a sandbox, scored by the task's evaluator.

    Args:
        tasks: the tasks this environment can reset to.
        sandbox: ``bwrap`` (isolated, the default), ``process`` (no isolation:
            an explicit, loud opt-in), or a function that opens a sandbox.
        validation: ``heldout`` or ``test`` (see `kubegym.evaluator.judge`).
        tool_names: the tools the agent may use; all of them when None.
        tool_config: how the tools behave (window size, command timeout…); kubegym's defaults
            when None, ``tools.ToolConfig.for_preset(agent.preset)`` for an agent's own.
        budget: scales training-heavy baselines and evaluations (steps, epochs,
            episodes), for quick checks: 1.0 is the task as designed. It reaches
            the sandbox and the evaluation script as ``KUBEGYM_BUDGET``.
        evaluator: scores validate and submit instead of a local `Judge` over the
            workspace (the evaluator server's client, in the agent pod).
        layout: whether `reset` lays out the workspace (starter code, data, the
            task's venv) on this machine. False when the sandbox already holds it
            (a sandbox pod): the opener then gets a request with no binds, whose
            ``workspace`` is the ``workspace`` option (``/workspace`` by default),
            and ``evaluator`` is required.
        max_validations: the run's cap on validate calls (``spec.maxValidations``); the
            task's own cap (``spec.limits.maxValidations``) applies too, the smaller wins.
            Only for the local judge: an evaluator server holds its own cap.

    Raises:
        ValueError: ``layout=False`` without an ``evaluator``.
        ConfigError: the tools lint with flake8 and flake8 cannot run here.

    Observations and actions are text. The reward of a step is the change in
    the normalised validation score it produced (0 when it produced none): the
    score's improvement over the baseline, relative to the baseline.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium declares it an instance attribute)

    def __init__(
        self,
        tasks: Sequence[TaskBundle],
        *,
        sandbox: str | SandboxOpener = sandbox_backends.DEFAULT,
        validation: Literal["heldout", "test"] = "heldout",
        tool_names: Sequence[str] | None = None,
        tool_config: tools.ToolConfig | None = None,
        budget: float = 1.0,
        evaluator: judge.Evaluator | None = None,
        layout: bool = True,
        max_validations: int | None = None,
    ):
        if not layout and evaluator is None:
            raise ValueError("ResearchEnv(layout=False) needs an evaluator: no local workspace")
        self.budget = budget
        self.layout = layout
        self.max_validations = max_validations
        self._remote_evaluator = evaluator
        self.tasks = {t.name: t for t in tasks}
        self.validation = validation
        self.tool_names = list(tool_names) if tool_names is not None else None
        if self.tool_names is not None:
            tools.check_names(self.tool_names)
        self.tool_config = tool_config or tools.ToolConfig()
        self.tool_config.check()
        if callable(sandbox):
            self._open: SandboxOpener = sandbox
        else:
            backend = sandbox
            self._open = lambda request: sandbox_backends.open_sandbox(request, backend)
        self.observation_space = _TEXT
        self.action_space = _TEXT
        self.bundle: TaskBundle | None = None
        self.scores: list[trials.Score] = []
        self.sandbox_description: dict[str, Any] = {}
        self._sandbox: Any = None
        self._request: local_sandbox.SandboxRequest | None = None
        self._scratch: Path | None = None
        self._evaluator: judge.Evaluator | None = None
        self._ctx: tools.ToolContext | None = None
        self._workspace: Path | None = None
        self._steps = 0
        self._submitted = False
        self._last_normalised = 0.0
        self._pending: trials.Score | None = None
        self._gpu: gpu_info.GpuInfo | None = None

    # --- gymnasium.Env ------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Start a trial: ``options={"task": NAME, "workspace": PATH (optional)}``.

        Returns:
            The task message, and info with the system prompt, the task and the seed.

        Raises:
            ConfigError: an unknown task, missing data, or an unusable sandbox backend.
        """
        super().reset(seed=seed)
        self.close()
        options = dict(options or {})
        name = options.get("task") or (next(iter(self.tasks)) if len(self.tasks) == 1 else None)
        if name not in self.tasks:
            raise ConfigError(
                f"unknown task {name!r}",
                field="options.task",
                hint=f"one of: {', '.join(sorted(self.tasks))}",
            )
        bundle = self.tasks[name]
        spec = bundle.task.spec
        trial = str(options.get("trial", f"{name}-s{seed or 0}"))
        workspace: Path | None = None
        if self.layout:
            workspace = self._workspace_for(name, options.get("workspace"))
            request = self._local_request(bundle, trial, workspace)
        else:
            request = local_sandbox.SandboxRequest(
                name=trial,
                workspace=Path(options.get("workspace") or "/workspace"),
                network=spec.network,
                command_timeout=float(spec.limits.training_timeout_seconds),
                env={"KUBEGYM_BUDGET": f"{self.budget:g}"},
            )
        if self._remote_evaluator is not None:
            self._evaluator = self._remote_evaluator
        else:
            assert workspace is not None and request.python_root is not None
            local_judge = judge.Judge(
                bundle,
                self.validation,
                python=str(venvs.python(request.python_root)),
                env=request.env,
            )
            self._evaluator = local_judge.bind(workspace, self.max_validations)
        self._request = request
        self._sandbox = self._open(request)
        self.sandbox_description = self._sandbox.describe()
        if self.layout and not self.sandbox_description.get("isolated", True):
            assert workspace is not None
            self._link_data(workspace, request.read_only)
        self.bundle = bundle
        self._workspace = workspace
        self.scores = []
        self._steps = 0
        self._submitted = False
        self._last_normalised = 0.0
        if self.layout and not self.sandbox_description.get("isolated", True):
            inside = str(workspace)  # no jail: the sandbox sees the host's folder as it is
        else:
            inside = "/workspace" if self.layout else str(request.workspace)
        self._ctx = tools.ToolContext(
            sandbox=self._sandbox.client,
            state=tools.ToolState(),
            config=self.tool_config,
            evaluate=self._evaluate,
            enabled=frozenset(self.tool_names) if self.tool_names is not None else None,
            task_timeout_s=float(spec.limits.training_timeout_seconds),
            workspace=inside,
        )
        # Read once, before the agent's first command: nothing it puts on the PATH answers.
        self._gpu = None
        if self.tool_config.gpu_info and spec.resources.gpu.count > 0:
            self._gpu = gpu_info.probe(self._sandbox.client)
        info = {
            "system_prompt": prompts.system_prompt(
                tool_names=self.tool_names,
                submission_path=spec.evaluation.submission.path,
                command_timeout=spec.limits.training_timeout_seconds,
                max_steps=spec.limits.max_steps,
                config=self.tool_config,
            ),
            "task": name,
            "seed": seed,
            "gpu_line": self.gpu_line,
            "workspace": str(workspace or request.workspace),
            # The parts of the prompts, for an agent that renders its own (the mlgym preset).
            "view": {
                "description": spec.description,
                "training_timeout": spec.limits.training_timeout_seconds,
                "window": self.tool_config.window,
                "step": 0,
                "max_steps": spec.limits.max_steps,
                "cwd": "/workspace",
                "open_file": None,
                "submission": spec.evaluation.submission.path,
                "baseline_scores": dict(spec.baseline_scores or {}),
            },
        }
        return prompts.task_message(spec.description, cwd="/workspace"), info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        """Run one action; validate and submit are scored by the evaluator.

        Returns:
            observation, reward, terminated (the agent submitted), truncated (the
            task's step limit), and info (``exit_code``, ``tool``, ``score``, and
            ``edits``: the files the editing tools wrote, as `file_edits.for_step` gives them).

        Raises:
            TrialFailed: the agent's action killed its own sandbox (see `_recover`).
            SandboxError: the sandbox server failed the action and still answers.
            InfraError: a service outside the trial failed.
        """
        if self._ctx is None or self.bundle is None:
            raise RuntimeError("call reset() before step()")
        if self._submitted:
            raise RuntimeError("the trial has ended with a submission: call reset()")
        self._pending = None
        self._ctx.edits.clear()
        cwd = "/workspace"
        try:
            result = tools.run_action(action, self._ctx)
            # The state line's probe also asks whether the sandbox outlived the action: a
            # server stopped by a signal may still answer the request that stopped it.
            if not self._submitted:
                cwd = self._cwd()
            events: list[str] = getattr(self._sandbox, "limit_events", list)()
        except InfraError as exc:
            result, events = self._recover(exc)
        except sandbox_client.SandboxError as exc:
            result, events = self._recover(self._lost_after(exc))
        if events:
            result = tools.ToolResult(
                "\n".join([result.output.rstrip(), *events]), result.exit_code, result.tool
            )
        self._steps += 1
        reward = 0.0
        score = self._pending
        if score is not None and score.action == "validate" and score.metrics:
            normalised = self._normalised(score.metrics)
            reward, self._last_normalised = normalised - self._last_normalised, normalised
        max_steps = self.bundle.task.spec.limits.max_steps
        truncated = not self._submitted and self._steps >= max_steps
        info = {
            "exit_code": result.exit_code,
            "tool": result.tool,
            "score": score,
            "edits": file_edits.for_step(self._ctx.edits),
            "limits": events,
            "gpu_line": self.gpu_line,
            # The observation's parts, for an agent that renders its own (the mlgym preset).
            "view": {
                "output": result.output,
                "step": self._steps,
                "max_steps": max_steps,
                "cwd": cwd,
                "open_file": self._ctx.state.open_file,
            },
        }
        if self._submitted:
            return result.output, reward, True, truncated, info
        observation = prompts.observation_message(
            result.output,
            cwd=cwd,
            exit_code=result.exit_code,
            open_file=self._ctx.state.open_file,
            step=self._steps,
            max_steps=max_steps,
        )
        return observation, reward, False, truncated, info

    def close(self) -> None:
        """Stop the sandbox and remove a workspace this environment made itself."""
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self._ctx = None

    # --- inside ------------------------------------------------------------------------

    @property
    def gpu_line(self) -> str | None:
        """MLGym's GPU line for the current trial, ``(GPU Count: …, GPU Model: …, Total memory per
        GPU: …)``: with the tools' ``gpu_info`` on, for a task with GPUs whose sandbox's
        ``nvidia-smi`` answered at reset; None otherwise. MLGym's templates place it below the step
        counter of the task message and of every observation."""
        return self._gpu.line() if self._gpu is not None else None

    @property
    def workspace(self) -> Path | None:
        """The host folder of the current trial's workspace (None when it is not on this host)."""
        return self._workspace

    @property
    def validation_counts(self) -> tuple[int, int] | None:
        """The current trial's validate calls as the judge counted them: (scored, refused).

        None when the evaluator is a server elsewhere (its own record holds the counts).
        The agent's own steps never enter this count: only the judge's ledger does.
        """
        if isinstance(self._evaluator, judge.BoundJudge):
            ledger = self._evaluator.ledger
            return ledger.validations, ledger.refused
        return None

    def _workspace_for(self, name: str, given: Any) -> Path:
        """The workspace folder: the one given, or a scratch folder this env removes on close."""
        if given is not None:
            return Path(given)
        self._scratch = Path(tempfile.mkdtemp(prefix=f"kubegym-{name}-"))
        return self._scratch / "workspace"

    def _local_request(
        self, bundle: TaskBundle, trial: str, workspace: Path
    ) -> local_sandbox.SandboxRequest:
        """Lay out the workspace and the task's venv here; the request of a local sandbox."""
        spec = bundle.task.spec
        read_only = self._lay_out(bundle, workspace)
        venv = venvs.ensure(spec.environment.requirements)
        secret = [bundle.resolve(spec.evaluation.script)]
        secret += [bundle.resolve(d.path) for d in spec.evaluation.test_data if d.path]
        secret += [bundle.resolve(d.path) for d in spec.validation_data if d.path]
        # Data installed system-wide (Debian packages under /usr) would otherwise be in
        # plain sight through the read-only system: a public test set with its labels.
        every = [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]
        if spec.preparation is not None:
            every += spec.preparation.sources
        masked = [Path(d.debian.path) for d in every if d.debian is not None]
        return local_sandbox.SandboxRequest(
            name=trial,
            workspace=workspace,
            python_root=venv,
            read_only=read_only,
            forbidden=secret,
            masked=masked,
            network=spec.network,
            memory_bytes=int(common.parse_quantity(spec.resources.memory)),
            cpus=common.parse_quantity(spec.resources.cpu),
            disk_bytes=int(common.parse_quantity(spec.resources.ephemeral_storage)),
            command_timeout=float(spec.limits.training_timeout_seconds),
            env={"KUBEGYM_BUDGET": f"{self.budget:g}"},
        )

    def _recover(self, exc: InfraError) -> tuple[tools.ToolResult, list[str]]:
        """The sandbox stopped answering during the agent's action: whose doing was it?

        If the agent's own command broke a limit (memory, processes), a fresh sandbox
        starts on the same workspace and the agent is told. If the sandbox is gone
        with no limit hit, the agent killed it: the server runs in the same jail as
        the agent's commands (its own PID namespace and cgroup), it had started and
        answered, and nothing outside the jail stops it but kubegym's own `close` (or
        the host). That ends the trial as the agent's failure (`sandbox_killed`),
        never as the infrastructure's, which would be a free re-roll. On a cluster
        the operator checks the sandbox pod before believing it: a lost node or an
        eviction stays the platform's (`kubegym.operator.outcomes`).

        Raises:
            TrialFailed: the sandbox died under the agent's command, no limit hit.
            InfraError: another service failed (the evaluator).
        """
        assert self._ctx is not None and self._request is not None
        events: list[str] = getattr(self._sandbox, "limit_events", list)()
        if not events:
            if reasons.of_cause(exc.reason) is reasons.Reason.SANDBOX_UNREACHABLE:
                raise TrialFailed(
                    reasons.Reason.SANDBOX_KILLED,
                    f"the sandbox died during the agent's action ({exc.message or exc.reason}); "
                    "it had started and no limit was hit, so a process inside it killed it",
                ) from exc
            raise exc
        self._sandbox.close()
        self._sandbox = self._open(self._request)
        self._ctx.sandbox = self._sandbox.client
        message = (
            "The sandbox was killed by your command and has been restarted. Your files "
            "are kept; the shell's state (directory, variables, background jobs) is not."
        )
        return tools.ToolResult(message, 137, "bash"), events

    def _lost_after(self, exc: sandbox_client.SandboxError) -> InfraError:
        """The server failed the agent's request (5xx): is it going down (``kill -TERM``)?

        Returns:
            The error of the server being gone, for `_recover` to attribute.

        Raises:
            SandboxError: the server refused the request, or still answers (kubegym's bug).
        """
        assert self._ctx is not None
        if exc.status < 500:
            raise exc
        # A server stopping on a signal fails the request in flight, then exits: a few
        # health checks tell a dying server from one that merely failed a request.
        for _ in range(_PROBES):
            try:
                self._ctx.sandbox.exec("true", timeout=10)
            except InfraError as lost:
                return lost
            except sandbox_client.SandboxError:
                pass  # it still answers, if only to refuse
            time.sleep(_PROBE_INTERVAL)
        raise exc

    def _cwd(self) -> str:
        """The shell's directory, for the state line.

        Raises:
            InfraError: the sandbox is unreachable (for `_recover` to attribute).
            SandboxError: the server failed the probe (5xx: is it going down?).
        """
        assert self._ctx is not None
        try:
            return self._ctx.sandbox.exec("pwd", timeout=10).output.strip() or "/workspace"
        except InfraError:
            raise
        except sandbox_client.SandboxError as exc:
            if exc.status >= 500:
                raise
            return "/workspace"  # the state line is a courtesy; the step's own result stands
        except Exception:
            return "/workspace"

    def _evaluate(self, action: Literal["validate", "submit"]) -> tools.ToolResult:
        assert self._evaluator is not None
        step = self._steps + 1
        if action == "validate":
            verdict = self._evaluator.validate(step)
        else:
            verdict = self._evaluator.submit(step)
            self._submitted = True
        self.scores.append(verdict.score)
        self._pending = verdict.score
        return tools.ToolResult(verdict.observation, 0 if verdict.ok else 1, action)

    def _normalised(self, metrics: Mapping[str, float]) -> float:
        assert self.bundle is not None
        spec = self.bundle.task.spec
        metric = spec.evaluation.metric()
        baseline = spec.baseline_score()
        value = metrics.get(metric.name)
        if value is None or not baseline:
            return 0.0
        gain = value - baseline if metric.direction == "max" else baseline - value
        return gain / abs(baseline)

    def _lay_out(self, bundle: TaskBundle, workspace: Path) -> list[tuple[Path, str]]:
        """Copy the starter code into the workspace; return the read-only dataset binds."""
        spec = bundle.task.spec
        workspace.mkdir(parents=True, exist_ok=True)
        if spec.starter_code is not None:
            shutil.copytree(bundle.resolve(spec.starter_code.path), workspace, dirs_exist_ok=True)
        binds = []
        for dataset in spec.datasets:
            host = datasets.materialize(bundle, dataset)
            target = dataset.mount_path or f"data/{dataset.name}"
            binds.append((host, f"/workspace/{target}"))
            # An empty mount point; the jail binds the data over it read-only.
            place = workspace / target
            place.parent.mkdir(parents=True, exist_ok=True)
            if host.is_dir():
                place.mkdir(exist_ok=True)
            else:
                place.touch()
        return binds

    @staticmethod
    def _link_data(workspace: Path, binds: Sequence[tuple[Path, str]]) -> None:
        """Without a jail there are no binds: point the mount points at the data instead."""
        for host, target in binds:
            place = workspace / target.removeprefix("/workspace/")
            if place.is_dir() and not place.is_symlink():
                place.rmdir()
            else:
                place.unlink(missing_ok=True)
            place.symlink_to(host)
