"""The agent pod: one trial attempt on a cluster, from ``trial.json`` to the termination message.

``python -m kubegym.agent_runner`` (`kubegym.agent_runner.__main__`) runs `main`. The
operator (`kubegym.operator.objects.agent_pod`) gives the pod the sandbox's and the
evaluator's addresses and tokens, the attempt's ``trial.json`` and the model key, all
in the environment (`PodSettings`). The pod attaches a `kubegym.agent_runner.env.ResearchEnv` to
the remote sandbox server and the remote evaluator server (nothing is laid out
here), runs the agent loop within the trial's limits, records the trajectory, tells
the evaluator it is done (``POST /v1/finish``: the evaluator's record of the scores
becomes final), uploads the trajectory with ``results.json`` and a tarball of the
workspace to the run's store, and ends by writing the
`kubegym.api.summary.TrialSummary` to its termination message. The operator copies
its exit reason, steps, tokens and cost into the Trial's status; the scores come
from the evaluator's record only.

Exit reasons: the loop's own, ``infra_error`` when the sandbox or the evaluator
cannot be reached (the operator retries the attempt), ``agent_error`` for anything
else (a bad agent config, a crash), with a message either way. The process exits
non-zero only when not even the summary could be written.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import structlog

from kubegym.agent_runner import agents, loop, models, tools, trajectory
from kubegym.api import reasons, runs, summary, tasks, trials
from kubegym.api import results as results_api
from kubegym.errors import ConfigError, InfraError, KubegymError
from kubegym.sandbox import backends as sandbox_backends
from kubegym.sandbox import client as sandbox_client
from kubegym.sandbox import local as local_sandbox
from kubegym.sandbox import session

log = structlog.get_logger()

TERMINATION_LOG = "/dev/termination-log"
OUTPUT = "/tmp/kubegym-trial"
MODEL_KEY_ENV = "KUBEGYM_MODEL_API_KEY"
"""The model key's variable when the agent names none (`runs.Agent.api_key_env`)."""
WORKSPACE_TAR = "/tmp/kubegym-workspace.tar.gz"
"""Where the workspace tarball is made inside the sandbox (outside the workspace)."""


@dataclass(frozen=True)
class PodSettings:
    """What the operator hands the agent pod, read from its environment."""

    sandbox_url: str
    """``KUBEGYM_SANDBOX_URL``: the sandbox server."""
    sandbox_token: str
    """``KUBEGYM_SANDBOX_TOKEN``, or the file ``KUBEGYM_SANDBOX_TOKEN_FILE`` names."""
    evaluator_url: str
    """``KUBEGYM_EVALUATOR_URL``: the evaluator server."""
    evaluator_token: str
    """``KUBEGYM_EVALUATOR_TOKEN``, or the file ``KUBEGYM_EVALUATOR_TOKEN_FILE`` names."""
    trial_config: Path
    """``KUBEGYM_TRIAL_CONFIG``: the attempt's ``trial.json``."""
    termination_log: Path = Path(TERMINATION_LOG)
    """``KUBEGYM_TERMINATION_LOG``: where the summary goes (Kubernetes' file by default)."""
    output: Path = Path(OUTPUT)
    """``KUBEGYM_OUTPUT``: the trial's local folder (trajectory, results.json, spool)."""
    connect_timeout: float = 300.0
    """``KUBEGYM_CONNECT_TIMEOUT``: seconds to wait for both servers at the start (the
    sandbox pod may start after this one)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PodSettings:
        """Read the settings.

        Raises:
            ConfigError: a variable is missing or malformed, naming it.
        """

        def need(name: str) -> str:
            value = environ.get(name, "").strip()
            if not value:
                raise ConfigError(f"the agent pod needs the environment variable {name}")
            return value

        def token(name: str) -> str:
            # The variable itself (an external image's contract, from the attempt's
            # Secret), or a file the pod's credentials init container wrote (`NAME_FILE`).
            path = environ.get(f"{name}_FILE", "").strip()
            if not path or environ.get(name, "").strip():
                return need(name)
            try:
                value = Path(path).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {path}: {exc}") from None
            if not value:
                raise ConfigError(f"{name}_FILE: {path} is empty")
            return value

        try:
            connect = float(environ.get("KUBEGYM_CONNECT_TIMEOUT", "300"))
        except ValueError:
            raise ConfigError("KUBEGYM_CONNECT_TIMEOUT must be a number of seconds") from None
        return cls(
            sandbox_url=need("KUBEGYM_SANDBOX_URL"),
            sandbox_token=token(session.TOKEN_ENV),
            evaluator_url=need("KUBEGYM_EVALUATOR_URL"),
            evaluator_token=token("KUBEGYM_EVALUATOR_TOKEN"),
            trial_config=Path(need("KUBEGYM_TRIAL_CONFIG")),
            termination_log=Path(environ.get("KUBEGYM_TERMINATION_LOG") or TERMINATION_LOG),
            output=Path(environ.get("KUBEGYM_OUTPUT") or OUTPUT),
            connect_timeout=connect,
        )


@dataclass(frozen=True)
class TrialConfig:
    """The attempt's ``trial.json``, as `kubegym.operator.objects.trial_config` writes it."""

    trial: str
    attempt: int
    spec: trials.TrialSpec
    task: tasks.Task
    agent: runs.Agent
    validation: Literal["heldout", "test"]
    limits: loop.Limits
    store: runs.Store | None

    @classmethod
    def load(cls, path: Path) -> TrialConfig:
        """Read and check ``trial.json``.

        Raises:
            ConfigError: unreadable, or a part of it is not valid (the message names it).
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the trial config {path}: {exc}") from exc
        try:
            limits = data["limits"]
            validation = data.get("validation", "heldout")
            if validation not in ("heldout", "test"):
                raise ConfigError("must be heldout or test", field="validation")
            return cls(
                trial=str(data["trial"]),
                attempt=int(data.get("attempt", 0)),
                spec=trials.TrialSpec.model_validate(data["spec"]),
                task=tasks.Task.model_validate(data["task"]),
                agent=runs.Agent.model_validate(data["agent"]),
                validation=validation,
                limits=loop.Limits(
                    max_steps=int(limits["maxSteps"]),
                    cost_limit_usd=float(limits["costLimitUsd"]),
                    wall_time_seconds=float(limits["wallTimeSeconds"]),
                ),
                store=runs.Store.model_validate(data["store"]) if data.get("store") else None,
            )
        except KeyError as exc:
            raise ConfigError(f"the trial config {path} has no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
            raise ConfigError(f"the trial config {path} is not valid: {exc}") from None


class RemoteSandbox:
    """The sandbox server of the sandbox pod, attached to as a `kubegym.sandbox.backends.OpenSandbox`.

    Not a registered backend: its address and token are the pod's (`PodSettings`).
    """

    def __init__(self, url: str, token: str, command_timeout: float | None) -> None:
        self.url = url
        self.client = sandbox_client.SandboxClient(
            url, token, timeout=(command_timeout or 1800) + 60
        )

    def describe(self) -> dict[str, Any]:
        return {"backend": "remote", "address": self.url, "isolated": True}

    def close(self) -> None:
        self.client.close()


def wait_until_up(
    what: str,
    healthz: Callable[[], object],
    timeout: float,
    *,
    clock: Callable[[], float] = time.monotonic,  # for tests
    sleep: Callable[[float], None] = time.sleep,  # for tests
) -> None:
    """Call ``healthz`` until it answers; the servers may start after this pod.

    Raises:
        InfraError: no answer within ``timeout`` seconds (reason ``<What>Unreachable``).
    """
    deadline = clock() + timeout
    delay = 0.2
    while True:
        try:
            healthz()
            return
        except (InfraError, OSError) as exc:
            if clock() + delay > deadline:
                raise InfraError(
                    f"{what.capitalize()}Unreachable",
                    f"the {what} did not answer within {timeout:g} s: {exc}",
                ) from exc
        sleep(delay)
        delay = min(delay * 2, 5.0)


def make_agent(config: TrialConfig, environ: Mapping[str, str]) -> agents.Agent:
    """The trial's agent; a model agent gets its key from the pod's environment.

    Raises:
        ConfigError: the agent cannot run here (an external image, a bad replay file,
            a missing key variable, a model litellm cannot route).
    """
    spec = config.agent
    starter = config.task.spec.starter_code
    agent = agents.make_agent(
        spec,
        task=config.task.name,
        run_dir=Path.cwd(),
        baseline_command=starter.baseline_command if starter else None,
        seed=config.spec.seed,
        # Read by a model agent only: the pod's key is in the variable the agent names.
        api_key=environ.get(spec.api_key_env or MODEL_KEY_ENV) or None,
    )
    client = getattr(agent, "client", None)  # a model agent, of either preset
    if isinstance(client, models.ModelClient):
        client.check_provider()  # a model litellm cannot route fails before the trial
    return agent


@dataclass
class _Outcome:
    """What the attempt produced, whatever stopped it."""

    exit: trials.ExitReason
    message: str = ""
    results: results_api.TrialResult | None = None
    scores: list[trials.Score] | None = None
    infra_reason: trials.InfraReason | None = None


def run_attempt(settings: PodSettings, environ: Mapping[str, str]) -> summary.TrialSummary:
    """Run the attempt, upload its artifacts, and write its summary (twice: before and after
    the upload, so a stuck store cannot lose it).

    Returns:
        The summary written.

    Raises:
        OSError: the termination message could not be written.
    """
    config: TrialConfig | None = None
    outcome: _Outcome
    env: Any = None
    try:
        config = TrialConfig.load(settings.trial_config)
        outcome, env = _run(config, settings, environ)
    except InfraError as exc:
        outcome = _infra_error(exc)
    except Exception as exc:
        log.error("agent_pod_failed", error=repr(exc), traceback=traceback.format_exc())
        outcome = _Outcome("agent_error", _describe(exc))
    if outcome.results is None and env is not None:
        outcome.scores = list(getattr(env, "scores", []))
    if config is not None:
        _finish_evaluator(settings)
    metric = config.task.spec.evaluation.metric().name if config is not None else None
    first = _summary(outcome, settings.output)
    _write_message(settings.termination_log, first, metric)
    if config is None:
        return first
    note = _store_artifacts(config, settings, outcome, env)
    if env is not None:
        with contextlib.suppress(Exception):
            env.close()
    if not note:
        return first
    final = first.model_copy(update={"message": "; ".join(p for p in (first.message, note) if p)})
    _write_message(settings.termination_log, final, metric)
    return final


def _finish_evaluator(settings: PodSettings) -> None:
    """Tell the evaluator the agent is done, so that its record (the trial's scores, which
    the operator waits for) is final now rather than at the wall time. Best effort: after
    a submit it may have ended already."""
    from kubegym.evaluator import client as evaluator_client

    try:
        evaluator_client.EvaluatorClient(
            settings.evaluator_url, settings.evaluator_token, timeout=30, attempts=1
        ).finish()
    except KubegymError as exc:
        log.info("evaluator_not_finished", error=str(exc))


def _run(
    config: TrialConfig, settings: PodSettings, environ: Mapping[str, str]
) -> tuple[_Outcome, Any]:
    from kubegym.agent_runner.env import ResearchEnv
    from kubegym.evaluator import client as evaluator_client
    from kubegym.tasks.catalog import TaskBundle

    bound = log.bind(trial=config.trial, attempt=config.attempt, task=config.task.name)
    agent = make_agent(config, environ)
    spec = config.task.spec
    # A validate scores twice (validation and hidden test data), and may wait for another.
    evaluator = evaluator_client.EvaluatorClient(
        settings.evaluator_url,
        settings.evaluator_token,
        timeout=4 * spec.evaluation.timeout_seconds + 60,
    )
    command_timeout = float(spec.limits.training_timeout_seconds)
    probe = RemoteSandbox(settings.sandbox_url, settings.sandbox_token, 30)
    try:
        wait_until_up("sandbox", probe.client.healthz, settings.connect_timeout)
    finally:
        probe.close()
    evaluator_probe = evaluator_client.EvaluatorClient(
        settings.evaluator_url, settings.evaluator_token, timeout=30, attempts=1
    )
    wait_until_up("evaluator", evaluator_probe.healthz, settings.connect_timeout)

    def attach(request: local_sandbox.SandboxRequest) -> sandbox_backends.OpenSandbox:
        # The sandbox pod already holds the workspace the request would describe.
        return RemoteSandbox(settings.sandbox_url, settings.sandbox_token, command_timeout)

    env = ResearchEnv(
        # The bundle's folder is never read here: the sandbox and evaluator pods hold the files.
        [TaskBundle(config.task, Path.cwd())],
        sandbox=attach,
        validation=config.validation,
        tool_names=agents.tool_names(config.agent),
        # The agent's preset decides how its tools behave (window, lint, timeouts).
        tool_config=tools.ToolConfig.for_preset(config.agent.preset),
        evaluator=evaluator,
        layout=False,
    )
    settings.output.mkdir(parents=True, exist_ok=True)
    recorder = trajectory.Recorder(settings.output)
    bound.info("trial_started", agent=config.agent.name, seed=config.spec.seed)
    try:
        results = loop.run_trial(
            env,
            agent,
            task=config.task.name,
            seed=config.spec.seed,
            trial_id=config.trial,
            attempt=config.attempt,
            limits=config.limits,
            recorder=recorder,
            reset_options={"trial": config.trial},
        )
    except InfraError as exc:
        return _infra_error(exc), env
    except Exception as exc:
        bound.error("trial_failed", error=repr(exc), traceback=traceback.format_exc())
        return _Outcome("agent_error", _describe(exc)), env
    finally:
        recorder.close()
    bound.info("trial_ended", exit=results.exit_reason, score=results.score)
    results.write(settings.output)
    exit_reason = cast(trials.ExitReason, results.exit_reason.value)
    return _Outcome(exit_reason, results.message, results), env


def _infra_error(exc: InfraError) -> _Outcome:
    """An attempt a service failed, named by its reason (the operator reads the field)."""
    cause = reasons.of_cause(exc.reason)
    return _Outcome("infra_error", str(exc), infra_reason=cast(trials.InfraReason, cause.value))


def _summary(outcome: _Outcome, output: Path) -> summary.TrialSummary:
    results = outcome.results
    if results is None:
        # The attempt broke off: what it spent is still spent (the operator counts it
        # toward the run's budget), so take the totals from the steps recorded so far.
        steps, prompt, completion, cost = _recorded_totals(output / results_api.TRAJECTORY_JSONL)
        return summary.TrialSummary(
            exit=outcome.exit,
            scores=outcome.scores or [],
            message=outcome.message or None,
            infra_reason=outcome.infra_reason,
            steps=steps,
            tokens=prompt + completion,
            prompt_tokens=prompt,
            cost_usd=cost,
        )
    return summary.TrialSummary.of(results, outcome.exit)


def _recorded_totals(path: Path) -> tuple[int, int, int, float]:
    """Steps, prompt and completion tokens and USD of a trajectory file (zeros when absent)."""
    steps = prompt = completion = 0
    cost = 0.0
    if not path.is_file():
        return steps, prompt, completion, cost
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            step = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the crash
        steps += 1
        prompt += int(step.get("prompt_tokens") or 0)
        completion += int(step.get("completion_tokens") or 0)
        cost += float(step.get("cost_usd") or 0.0)
    return steps, prompt, completion, cost


def _write_message(path: Path, trial_summary: summary.TrialSummary, metric: str | None) -> None:
    try:
        text = trial_summary.to_message(metric)
    except ValueError:
        bare = trial_summary.model_copy(update={"scores": [], "message": None})
        text = bare.to_message(metric)
    path.write_text(text, encoding="utf-8")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KubegymError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


# -- artifacts ---------------------------------------------------------------------------------


def _store_artifacts(
    config: TrialConfig, settings: PodSettings, outcome: _Outcome, env: Any
) -> str:
    """Upload the trajectory, the workspace and results.json (last); a sentence when not all
    of them are durable, else an empty string. Never raises."""
    if config.store is None:
        log.warning("trial_without_store", trial=config.trial, output=str(settings.output))
        return ""
    notes: list[str] = []
    files: list[tuple[str, Path]] = []
    trajectory_file = settings.output / results_api.TRAJECTORY_JSONL
    if trajectory_file.is_file():
        files.append((results_api.TRAJECTORY_JSONL, trajectory_file))
    if env is not None and outcome.exit != "infra_error":
        try:
            files.append(("workspace.tar.gz", _fetch_workspace(env, config, settings.output)))
        except Exception as exc:
            notes.append(f"workspace not saved ({_describe(exc)})")
    results_file = settings.output / results_api.RESULTS_JSON
    if results_file.is_file():
        files.append((results_api.RESULTS_JSON, results_file))
    try:
        from kubegym.store import factory, keys, uploader

        store = factory.from_spec(config.store)
        up = uploader.Uploader(store, settings.output / ".spool", quiet_seconds=0)
        for name, path in files:
            key = keys.attempt_key(config.spec.run, config.trial, config.attempt, name)
            up.put(key, path, policy="once")
        prefix = keys.attempt_prefix(config.spec.run, config.trial, config.attempt) + "/"
        if not up.durable(prefix):
            up.flush()
        pending = len(up.pending(prefix))
        if pending:
            notes.append(f"store unreachable: {pending} artifact(s) spooled in the pod, not saved")
    except Exception as exc:
        notes.append(f"artifacts not stored ({_describe(exc)})")
    return "; ".join(notes)


def _fetch_workspace(env: Any, config: TrialConfig, output: Path) -> Path:
    """Tar the workspace inside the sandbox (its datasets left out) and read it back."""
    client: sandbox_client.SandboxClient = env._sandbox.client
    # A fresh shell starts in the workspace, wherever the agent left the old one.
    client.restart_session()
    excluded = " ".join(
        f"--exclude=./{d.mount_path or f'data/{d.name}'}" for d in config.task.spec.datasets
    )
    result = client.exec(f"tar -czf {WORKSPACE_TAR} {excluded} . 2>&1", timeout=600)
    if result.exit_code != 0:
        raise RuntimeError(f"tar failed: {result.output.strip()[-300:]}")
    data = client.read_file(WORKSPACE_TAR)
    client.exec(f"rm -f {WORKSPACE_TAR}", timeout=60)
    target = output / "workspace.tar.gz"
    target.write_bytes(data)
    return target


def main(environ: Mapping[str, str] | None = None) -> int:
    """Run the attempt; 0 once the summary is written, 1 when even that failed.

    Returns:
        The exit status.
    """
    from kubegym import log as kubegym_log

    environ = os.environ if environ is None else environ
    kubegym_log.configure()
    try:
        settings = PodSettings.from_environ(environ)
    except ConfigError as exc:
        where = Path(environ.get("KUBEGYM_TERMINATION_LOG") or TERMINATION_LOG)
        try:
            _write_message(where, summary.TrialSummary(exit="agent_error", message=str(exc)), None)
        except OSError:
            print(f"kubegym agent: {exc}", file=sys.stderr)
            return 1
        return 0
    try:
        run_attempt(settings, environ)
    except OSError as exc:
        print(f"kubegym agent: cannot write the summary: {exc}", file=sys.stderr)
        return 1
    return 0
