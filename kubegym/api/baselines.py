"""The shape of a baseline table: every task's starter solution, measured on one machine.

`kubegym tasks baseline --all` (`kubegym.local.baselines.measure`) writes a
`BaselineTable`; `task_images/baselines.json` is one, and `kubegym.report.baselines`
renders it as Markdown for the READMEs. Scores in it come only from the evaluator's
results (`kubegym.api.results.TrialResult.final`), never from what the starter prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Final, Literal

import pydantic
from pydantic import ConfigDict, Field

from kubegym.api import results

#: The version of the table's shape; a table of another version is refused, not guessed at.
FORMAT_VERSION: Final = 1

#: What became of one task: ``measured`` (a valid submission was scored), ``invalid`` (the
#: baseline ran but the evaluator scored nothing valid), ``error`` (kubegym could not run it:
#: data, environment, a crash; the message says which), ``skipped`` (not run: the reason says why).
RowStatus = Literal["measured", "invalid", "error", "skipped"]


class _Model(pydantic.BaseModel):
    model_config = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, validate_assignment=True
    )


class BaselineRow(_Model):
    """One task's starter baseline: its scores, how long it ran, how it ended."""

    task: str
    """The task's name."""

    suite: str | None = None
    """The task's ``suite`` label (``mlgym-bench`` for MLGym's tasks)."""

    status: RowStatus
    """What became of the task (see `RowStatus`)."""

    primary_metric: str
    """The task's primary metric."""

    direction: Literal["max", "min"]
    """Which way the primary metric is better."""

    score: float | None = None
    """The submission's primary metric on the hidden test data, from the evaluator; null
    when nothing valid was scored."""

    metrics: dict[str, float] | None = None
    """Every test metric of the submission, from the evaluator."""

    valid: bool = False
    """Whether the evaluator scored a valid submission."""

    exit_reason: str | None = None
    """How the baseline's trial ended (a `kubegym.api.reasons.Reason`); null when it never ran."""

    seconds: float | None = None
    """The trial's own time (sandbox, baseline command, evaluation), in seconds."""

    wall_seconds: float | None = None
    """Wall time of the whole row: the trial plus preparing the data and the task's
    environment when they were not ready (cached for the next run)."""

    bar: float | None = None
    """The task's feasibility bar: its ``baselineScores`` value of the primary metric."""

    feasible: bool | None = None
    """Whether ``score`` is feasible against ``bar`` under the AUP's rule (present, >= 0, not
    worse than the bar; a tie is feasible); null when the task did not run."""

    gpus: Annotated[int, Field(ge=0)] = 0
    """GPUs the task asks for (``resources.gpu.count``)."""

    needs_gpu: bool = False
    """Whether the task asks for a GPU."""

    ran_without_gpu: bool = False
    """A GPU task run on a machine without one (``--include-gpu``): slower, same code."""

    reason: str | None = None
    """Why the task was skipped, or kubegym's error when it could not run it."""

    message: str | None = None
    """The trial's own sentence on its outcome (the evaluator's error for an invalid one)."""


class Machine(_Model):
    """Where a table was measured."""

    platform: str
    """The operating system and architecture (`platform.platform()`)."""

    cpus: Annotated[int, Field(ge=1)]
    """CPU cores the process may use."""

    gpus: list[str] = Field(default_factory=list)
    """The GPUs found (``nvidia-smi -L``), empty on a CPU machine."""

    python: str
    """The Python version."""


class BaselineTable(_Model):
    """Every task's starter baseline, measured on one machine at one budget."""

    format_version: int = FORMAT_VERSION
    """The version of this shape (`FORMAT_VERSION`)."""

    created: str
    """When the measurement started (ISO 8601, UTC)."""

    kubegym_commit: str | None = None
    """The commit of the kubegym checkout that measured it (``+dirty`` when it had changes)."""

    kubegym_version: str
    """kubegym's package version."""

    budget: Annotated[float, Field(gt=0)]
    """The budget every baseline ran at (``KUBEGYM_BUDGET``; 1.0 as designed)."""

    sandbox: str
    """The sandbox backend (``bwrap`` or ``process``)."""

    validation: Literal["heldout", "test"]
    """Which data validate used (scores here are always the submission's hidden test metrics)."""

    machine: Machine
    """Where it ran."""

    interrupted: bool = False
    """Whether the measurement was stopped (Ctrl-C) before every task had its row."""

    rows: list[BaselineRow] = Field(default_factory=list)
    """One row per task, in the order measured."""

    def row(self, task: str) -> BaselineRow | None:
        """The row of ``task``; None when the table has none."""
        return next((r for r in self.rows if r.task == task), None)

    def write(self, path: Path) -> Path:
        """Write the table as JSON, atomically (readers see the old file or the new one)."""
        return results.write_json_atomic(path, self.model_dump(mode="json"))

    def to_text(self) -> str:
        """The table as JSON text, as `write` writes it."""
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def read(path: Path) -> BaselineTable:
    """Read a baseline table.

    Raises:
        ValueError: the file is not a baseline table of this `FORMAT_VERSION`.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: not a baseline table of format_version {FORMAT_VERSION}")
    return BaselineTable.model_validate(data)


__all__ = ["FORMAT_VERSION", "BaselineRow", "BaselineTable", "Machine", "RowStatus", "read"]
