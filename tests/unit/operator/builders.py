"""Small builders for the operator's pure parts: Tasks, runs, attempts, pods and Trials.

Each builder starts from a valid object and takes the few fields a test changes,
so a test reads as the one thing it is about. Shared by every file in this folder.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

from kubegym.api import runs, tasks, trials
from kubegym.api.summary import EvaluatorRecord, TrialSummary
from kubegym.operator import objects
from kubegym.operator import trials as trial_logic
from kubegym.operator.runs import RunView
from kubegym.operator.settings import Settings

#: The fake clock every test reads.
NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
NAMESPACE = "bench"
IMAGE = "registry.example/task-toy:0.1"


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` with `changes` merged in, dicts recursively (a None value deletes the key)."""
    result = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


# -- Tasks and runs ---------------------------------------------------------------------------


def task(
    name: str = "toy",
    *,
    metric: str = "r2",
    direction: str = "max",
    baseline: float | None = 0.5,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> tasks.Task:
    """A valid Task with an image; `spec` (camelCase) is merged into its spec."""
    base: dict[str, Any] = {
        "description": "Predict y.",
        "image": IMAGE,
        "evaluation": {
            "script": "evaluate.py",
            "metrics": [{"name": metric, "direction": direction}],
            "primaryMetric": metric,
            "submission": {"path": "submission.csv"},
        },
    }
    if baseline is not None:
        base["baselineScores"] = {metric: baseline}
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if labels:
        metadata["labels"] = labels
    return tasks.Task.model_validate({"metadata": metadata, "spec": merge(base, spec)})


def run_spec(**spec: Any) -> runs.BenchmarkRunSpec:
    """A valid run spec over task `toy` with one model agent; `spec` (camelCase) is merged in."""
    base: dict[str, Any] = {
        "tasks": {"names": ["toy"]},
        "agents": [{"name": "gpt", "model": "openai/gpt-4o"}],
    }
    if "tasks" in spec:  # one way of choosing tasks replaces the other
        base["tasks"] = spec.pop("tasks")
    return runs.BenchmarkRunSpec.model_validate(merge(base, spec))


def run_view(
    name: str = "demo",
    *,
    status: runs.BenchmarkRunStatus | None = None,
    generation: int = 1,
    **spec: Any,
) -> RunView:
    return RunView(
        namespace=NAMESPACE,
        name=name,
        uid="run-uid",
        generation=generation,
        spec=run_spec(**spec),
        status=status or runs.BenchmarkRunStatus(),
    )


def attempt(
    *,
    task_obj: tasks.Task | None = None,
    run: runs.BenchmarkRunSpec | None = None,
    agent: str | None = None,
    settings: Settings | None = None,
    trial: str = "demo-toy-gpt-s0-1a2b3c4d",
    number: int = 0,
) -> objects.Attempt:
    """An attempt of the trial (demo, toy, gpt, 0), by default attempt 0."""
    run = run or run_spec()
    chosen = next(a for a in run.agents if agent is None or a.name == agent)
    task_obj = task_obj or task()
    return objects.Attempt(
        namespace=NAMESPACE,
        trial=trial,
        trial_uid="trial-uid",
        spec=trials.TrialSpec(run="demo", task=task_obj.name, agent=chosen.name, seed=0),
        attempt=number,
        task=task_obj,
        agent=chosen,
        run=run,
        settings=settings or Settings(agent_image="registry.example/kubegym:1.0"),
    )


# -- Pods as the API server returns them -----------------------------------------------------


def running(name: str, image: str = IMAGE) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ready": True,
        "state": {"running": {"startedAt": "2025-03-01T12:00:05Z"}},
    }


def waiting(name: str, reason: str, message: str = "", image: str = IMAGE) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "ready": False,
        "state": {"waiting": {"reason": reason, "message": message}},
    }


def terminated(
    name: str,
    exit_code: int = 0,
    reason: str = "Completed",
    message: str | None = None,
    image: str = IMAGE,
) -> dict[str, Any]:
    state: dict[str, Any] = {"exitCode": exit_code, "reason": reason}
    if message is not None:
        state["message"] = message
    return {"name": name, "image": image, "ready": False, "state": {"terminated": state}}


def condition(
    kind: str, status: str = "True", reason: str = "", message: str = ""
) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2025-03-01T12:00:05Z",
    }


def pod(
    phase: str = "Running",
    containers: list[dict[str, Any]] | None = None,
    *,
    init: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    reason: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "containerStatuses": containers or []}
    if init is not None:
        status["initContainerStatuses"] = init
    if conditions is not None:
        status["conditions"] = conditions
    if reason is not None:
        status["reason"] = reason
    if message is not None:
        status["message"] = message
    return {"metadata": {"name": "p", "namespace": NAMESPACE}, "status": status}


def sandbox_running() -> dict[str, Any]:
    return pod(
        "Running",
        [running("sandbox"), running("evaluator")],
        init=[terminated("workspace"), terminated("task-data", image="x-data")],
        conditions=[condition("Ready")],
    )


def agent_running() -> dict[str, Any]:
    return pod("Running", [running("agent", image="agent")], conditions=[condition("Ready")])


def agent_done(message: str, exit_code: int = 0) -> dict[str, Any]:
    phase = "Succeeded" if exit_code == 0 else "Failed"
    reason = "Completed" if exit_code == 0 else "Error"
    return pod(phase, [terminated("agent", exit_code, reason, message, image="agent")])


def summary(**fields: Any) -> TrialSummary:
    """A scored summary: submitted after 12 steps with r2 0.8."""
    base: dict[str, Any] = {
        "exit": "submitted",
        "scores": [
            {"step": 3, "action": "validate", "metrics": {"r2": 0.7}, "testMetrics": {"r2": 0.69}},
            {"step": 12, "action": "submit", "metrics": {"r2": 0.8}, "testMetrics": {"r2": 0.8}},
        ],
        "final": {"r2": 0.8},
        "steps": 12,
        "tokens": 5120,
        "cost_usd": 0.31,
    }
    base.update(fields)
    return TrialSummary.model_validate(base)


# -- Trials ------------------------------------------------------------------------------------


def trial_view(
    *,
    admitted: bool = True,
    name: str = "demo-toy-gpt-s0-1a2b3c4d",
    spec: trials.TrialSpec | None = None,
    **status: Any,
) -> trial_logic.TrialView:
    """A Trial of run `demo` (task toy, agent gpt, seed 0) with `status` (snake_case fields)."""
    return trial_logic.TrialView(
        namespace=NAMESPACE,
        name=name,
        uid="trial-uid",
        spec=spec or trials.TrialSpec(run="demo", task="toy", agent="gpt", seed=0),
        status=trials.TrialStatus(**status),
        admitted=admitted,
        created=NOW - seconds(60),
    )


# -- The evaluator's record --------------------------------------------------------------------


def honest_record(result: TrialSummary, **fields: Any) -> EvaluatorRecord:
    """The record an honest evaluator writes for what `result` reports (`fields` override)."""
    base: dict[str, Any] = {
        "end": "submitted" if any(s.action == "submit" for s in result.scores) else "finished",
        "scores": [s.model_dump(by_alias=True) for s in result.scores],
        "final": result.final,
        "validations": sum(1 for s in result.scores if s.action == "validate"),
    }
    base.update(fields)
    return EvaluatorRecord.model_validate(base)


def sandbox_scored(record: EvaluatorRecord, exit_code: int = 0) -> dict[str, Any]:
    """A sandbox pod whose evaluator container has ended, leaving `record` as its message."""
    return pod(
        "Running",
        [running("sandbox"), terminated("evaluator", exit_code, message=record.to_message())],
        init=[terminated("workspace"), terminated("task-data", image="x-data")],
        conditions=[condition("Ready")],
    )


def sandbox_for(agent: dict[str, Any]) -> dict[str, Any]:
    """The sandbox pod beside `agent`: running while the agent runs; once the agent has
    ended, its evaluator has ended too, with the honest record of the agent's summary
    (an empty one when the agent left no summary)."""
    for status in agent["status"]["containerStatuses"]:
        ended = status["state"].get("terminated")
        if ended is None:
            continue
        try:
            result = TrialSummary.from_message(ended.get("message") or "")
        except ValueError:
            return sandbox_scored(EvaluatorRecord(end="stopped"))
        return sandbox_scored(honest_record(result))
    return sandbox_running()
