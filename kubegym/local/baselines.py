"""Running a task's own baseline solution through the real sandbox and evaluator.

`kubegym tasks baseline` and the task suite's tests call `run_baseline`: the
built-in baseline agent runs the starter code's baseline command in a
sandboxed workspace, then submits, exactly as in a benchmark run. `measure`
(`kubegym tasks baseline --all`) runs many tasks' baselines in turn into one
`kubegym.api.baselines.BaselineTable`, taking each score from the evaluator alone.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from kubegym.agent_runner import agents, loop, trajectory
from kubegym.agent_runner import env as research_env
from kubegym.api import baselines as baselines_api
from kubegym.api import results as results_api
from kubegym.scoring import profiles
from kubegym.tasks.catalog import TaskBundle


def run_baseline(
    bundle: TaskBundle,
    *,
    budget: float = 1.0,
    sandbox: Literal["bwrap", "process"] = "bwrap",
    validation: Literal["heldout", "test"] = "heldout",
    folder: Path | None = None,
) -> results_api.TrialResult:
    """The baseline's results on ``bundle``: its validate and submit scores, its exit.

    Args:
        bundle: the task.
        budget: scales the baseline's training (``KUBEGYM_BUDGET``); 1.0 as designed.
        sandbox: ``bwrap`` or ``process``.
        validation: which data validate uses.
        folder: where the trajectory and workspace go; a temporary folder when None.
    """
    spec = bundle.task.spec
    starter = spec.starter_code
    agent = agents.BaselineAgent("baseline", starter.baseline_command if starter else None)
    with tempfile.TemporaryDirectory(prefix=f"kubegym-baseline-{bundle.name}-") as scratch:
        where = folder or Path(scratch)
        env = research_env.ResearchEnv(
            [bundle], sandbox=sandbox, validation=validation, budget=budget
        )
        recorder = trajectory.Recorder(where)
        try:
            return loop.run_trial(
                env,
                agent,
                task=bundle.name,
                seed=0,
                trial_id=f"{bundle.name}-baseline",
                limits=loop.Limits(
                    max_steps=spec.limits.max_steps,
                    cost_limit_usd=float("inf"),  # the baseline calls no model
                    wall_time_seconds=float(spec.limits.wall_time_seconds),
                ),
                recorder=recorder,
                reset_options={"workspace": where / "workspace"},
            )
        finally:
            recorder.close()
            env.close()


@dataclass(frozen=True)
class Sweep:
    """How `measure` runs the baselines (`kubegym tasks baseline --all`'s options)."""

    budget: float = 1.0
    """Scales every baseline's training; 1.0 as designed."""

    sandbox: Literal["bwrap", "process"] = "bwrap"
    """The sandbox backend."""

    validation: Literal["heldout", "test"] = "heldout"
    """Which data validate uses."""

    gpus: tuple[str, ...] = ()
    """The GPUs of this machine (`find_gpus`); a GPU task runs only when there is one."""

    include_gpu: bool = False
    """Run GPU tasks even without a GPU (on the CPU: slow, but the same code)."""

    skip: Mapping[str, str] = field(default_factory=dict)
    """Tasks left out on purpose, each with the reason its row gives."""


#: Told per task as it starts and as it ends: (index from 1, count, the task, its row or None).
Progress = Callable[[int, int, str, baselines_api.BaselineRow | None], None]


def measure(
    bundles: Sequence[TaskBundle],
    sweep: Sweep,
    *,
    progress: Progress | None = None,
    saved: Callable[[baselines_api.BaselineTable], object] | None = None,
) -> baselines_api.BaselineTable:
    """Run each task's starter baseline in turn, into one table; a failing task does not stop it.

    Args:
        bundles: the tasks, in the order to run them.
        sweep: the budget, sandbox and which tasks to run.
        progress: told when each task starts (row None) and ends.
        saved: given the table after each row (to keep finished rows on disk).

    Returns:
        The table; ``interrupted`` when Ctrl-C stopped it, with the rows finished before.
    """
    table = baselines_api.BaselineTable(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        kubegym_commit=_commit(),
        kubegym_version=_version(),
        budget=sweep.budget,
        sandbox=sweep.sandbox,
        validation=sweep.validation,
        machine=baselines_api.Machine(
            platform=platform.platform(),
            cpus=len(os.sched_getaffinity(0)),
            gpus=list(sweep.gpus),
            python=platform.python_version(),
        ),
    )
    for index, bundle in enumerate(bundles, start=1):
        if progress is not None and skip_reason(bundle, sweep) is None:
            progress(index, len(bundles), bundle.name, None)
        try:
            row = measure_one(bundle, sweep)
        except KeyboardInterrupt:
            table.interrupted = True
            break
        table.rows.append(row)
        if saved is not None:
            saved(table)
        if progress is not None:
            progress(index, len(bundles), bundle.name, row)
    if table.interrupted and saved is not None:
        saved(table)
    return table


def measure_one(bundle: TaskBundle, sweep: Sweep) -> baselines_api.BaselineRow:
    """One task's row: run its baseline, or say why it was skipped or could not run.

    Only ``KeyboardInterrupt`` gets out: any other failure becomes the row's ``error``.
    """
    spec = bundle.task.spec
    metric = spec.evaluation.metric()
    gpus = spec.resources.gpu.count
    row = baselines_api.BaselineRow(
        task=bundle.name,
        suite=(bundle.task.metadata.labels or {}).get("suite"),
        status="skipped",
        primary_metric=metric.name,
        direction="max" if metric.direction == "max" else "min",
        bar=spec.baseline_score(),
        gpus=gpus,
        needs_gpu=gpus > 0,
    )
    row.reason = skip_reason(bundle, sweep)
    if row.reason is not None:
        return row
    row.ran_without_gpu = gpus > 0 and not sweep.gpus
    started = time.monotonic()
    try:
        result = run_baseline(
            bundle, budget=sweep.budget, sandbox=sweep.sandbox, validation=sweep.validation
        )
    except Exception as exc:  # one task's failure is its row, not the end of the table
        row.status = "error"
        row.reason = f"{type(exc).__name__}: {exc}"
        return row
    finally:
        row.wall_seconds = round(time.monotonic() - started, 2)
    return _scored(row, result)


def skip_reason(bundle: TaskBundle, sweep: Sweep) -> str | None:
    """Why ``sweep`` leaves ``bundle`` out; None when it runs it."""
    if bundle.name in sweep.skip:
        return sweep.skip[bundle.name] or "left out by --skip"
    gpus = bundle.task.spec.resources.gpu.count
    if gpus > 0 and not sweep.gpus and not sweep.include_gpu:
        return f"needs {gpus} GPU(s) and this machine has none (--include-gpu runs it anyway)"
    return None


def _scored(
    row: baselines_api.BaselineRow, result: results_api.TrialResult
) -> baselines_api.BaselineRow:
    # The score is the evaluator's (`final`, the submission's hidden test metrics); nothing
    # the baseline command printed reaches the row.
    score = result.final.get(row.primary_metric) if result.final is not None else None
    row.status = "measured" if score is not None else "invalid"
    row.valid = score is not None
    row.score = score
    row.metrics = result.final
    row.exit_reason = str(result.exit_reason)
    row.seconds = round(result.seconds or 0.0, 2)
    row.message = result.message or None
    row.feasible = feasible(score, row.bar, maximize=row.direction == "max")
    return row


def feasible(score: float | None, bar: float | None, *, maximize: bool) -> bool:
    """Whether ``score`` is feasible against ``bar`` under the AUP's rule (one rule: profiles')."""
    pair = np.array([[np.nan if score is None else score, np.nan if bar is None else bar]])
    return bool(profiles.feasibility_matrix(pair, np.array([maximize]), baseline_index=1)[0, 0])


def find_gpus() -> tuple[str, ...]:
    """This machine's GPUs as ``nvidia-smi -L`` lists them; none without a working nvidia-smi."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return ()
    try:
        listed = subprocess.run(
            [tool, "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in listed.splitlines() if line.startswith("GPU "))


def _commit() -> str | None:
    # The checkout kubegym runs from; an installed copy has none.
    source = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if changed else head


def _version() -> str:
    try:
        return importlib.metadata.version("kubegym")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
