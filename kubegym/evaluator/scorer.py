"""Scores one submission artifact with a task's evaluation script, outside the sandbox.

The script runs in a fresh process that sees a read-only copy of the submission
and the data of one split (validation or hidden test), never the workspace
itself. It prints its metrics as one JSON object on its last line of output.
Anything wrong with the artifact or the script's answer is an `EvalError`: the
agent sees the reason as an observation, it never crashes a trial.

Called by `kubegym.evaluator.judge` (validate/submit) locally, and by the
evaluator container's server on a cluster.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubegym.api import tasks

# The environment the evaluation script gets: enough to run Python, nothing secret.
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_STDERR_TAIL = 2000


class EvalError(Exception):
    """The artifact could not be scored; the message is shown to the agent."""


@dataclass(frozen=True)
class Scoring:
    """One evaluation of one artifact on one split."""

    split: str
    metrics: dict[str, float] | None
    error: str | None = None
    seconds: float = 0.0
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def score(
    evaluation: tasks.Evaluation,
    *,
    task_dir: Path,
    workspace: Path,
    data: Mapping[str, Path],
    split: str,
    python: str = sys.executable,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Scoring:
    """Score the workspace's submission artifact on one split.

    Args:
        evaluation: the task's evaluation section (script, metrics, artifact).
        task_dir: the task's folder, where the evaluation script lives.
        workspace: the agent's workspace (read, never written).
        data: dataset name → file or folder of this split's data.
        split: ``validation`` or ``test``, passed to the script.
        python: the interpreter that runs the script (the task's environment).
        timeout: seconds; the evaluation's own timeout when None.
        env: more environment for the script (such as ``KUBEGYM_BUDGET``); never secrets.

    Returns:
        The metrics, or the reason scoring failed (``error``).
    """
    started = time.monotonic()
    try:
        metrics = _run(evaluation, task_dir, workspace, data, split, python, timeout, env or {})
    except EvalError as exc:
        return Scoring(split, None, str(exc), time.monotonic() - started)
    return Scoring(split, metrics, None, time.monotonic() - started)


def _run(
    evaluation: tasks.Evaluation,
    task_dir: Path,
    workspace: Path,
    data: Mapping[str, Path],
    split: str,
    python: str,
    timeout: float | None,
    extra_env: Mapping[str, str],
) -> dict[str, float]:
    artifact = _artifact_path(workspace, evaluation.submission.path)
    script = (task_dir / evaluation.script).resolve()
    if not script.is_file():
        # A task bug, not the agent's: say so plainly.
        raise EvalError(f"the task's evaluation script {evaluation.script} is missing")
    with tempfile.TemporaryDirectory(prefix="kubegym-eval-") as scratch:
        root = Path(scratch)
        submission = root / "submission" / Path(evaluation.submission.path).name
        _copy_read_only(artifact, submission)
        argv = [python, str(script), "--submission", str(submission), "--split", split]
        for name, path in sorted(data.items()):
            argv += ["--data", f"{name}={path}"]
        env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
        env["HOME"] = str(root)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.update(extra_env)
        try:
            result = subprocess.run(
                argv,
                cwd=root,
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout or evaluation.timeout_seconds,
                start_new_session=True,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise EvalError(
                f"evaluation took longer than {exc.timeout:g} s and was stopped"
            ) from None
        finally:
            _make_writable(root)
    if result.returncode != 0:
        tail = result.stderr.strip()[-_STDERR_TAIL:] or result.stdout.strip()[-_STDERR_TAIL:]
        raise EvalError(
            f"evaluation failed (exit status {result.returncode}) on "
            f"{evaluation.submission.path}:\n{tail}"
        )
    return _parse_metrics(result.stdout, evaluation.metrics)


def _artifact_path(workspace: Path, relative: str) -> Path:
    artifact = (workspace / relative).resolve()
    root = workspace.resolve()
    if root != artifact and root not in artifact.parents:
        raise EvalError(f"the submission path {relative} points outside the workspace")
    if not artifact.exists():
        raise EvalError(
            f"no submission found: the task expects {relative} in the workspace, "
            "and it does not exist yet"
        )
    return artifact


def _copy_read_only(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=False)
    else:
        shutil.copyfile(source, target)
    for path in [target, *(target.rglob("*") if target.is_dir() else [])]:
        mode = stat.S_IMODE(path.stat().st_mode)
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _make_writable(root: Path) -> None:
    # So the temporary folder can be removed after a read-only copy.
    for path in root.rglob("*"):
        if not path.is_symlink():
            path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR)


def _parse_metrics(stdout: str, declared: Sequence[tasks.Metric]) -> dict[str, float]:
    lines = [line for line in stdout.strip().splitlines() if line.strip()]
    if not lines:
        raise EvalError("the evaluation script printed no metrics")
    try:
        payload = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise EvalError(
            f"the evaluation script's last line is not JSON: {lines[-1][:200]!r}"
        ) from None
    if not isinstance(payload, dict):
        raise EvalError("the evaluation script's last line is not a JSON object of metrics")
    metrics: dict[str, float] = {}
    for metric in declared:
        value = payload.get(metric.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EvalError(f"the evaluation did not report the metric {metric.name!r}")
        if not math.isfinite(value):
            raise EvalError(f"the metric {metric.name!r} is {value}, not a finite number")
        metrics[metric.name] = float(value)
    return metrics
