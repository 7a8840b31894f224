"""Running a task's own baseline solution through the real sandbox and evaluator.

`kubegym tasks baseline` and the task suite's tests call `run_baseline`: the
built-in baseline agent runs the starter code's baseline command in a
sandboxed workspace, then submits, exactly as in a benchmark run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from kubegym.agent_runner import agents, loop, trajectory
from kubegym.agent_runner import env as research_env
from kubegym.api import results as results_api
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
