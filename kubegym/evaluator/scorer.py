"""Scores one submission artifact with a task's evaluation script, outside the sandbox.

The script runs in a fresh process that sees a read-only copy of the submission
and the data of one split (validation or hidden test), never the workspace
itself. It reports its metrics through ``kubegym_eval.report`` into a private
pipe (``KUBEGYM_METRICS_FD``) that only it holds: never "the last line of
stdout", which agent code could write. Agent code the script must run (a
strategy, a heuristic, a model) runs in jails that this scorer starts and
owns (`kubegym.evaluator.jails`), handed to the script over ``KUBEGYM_JAIL_FD``.
When the script ends, its process group and every jail are killed before the
metrics are read. The metrics are checked (declared names, finite numbers)
and `Scoring.details` records which code produced them (sha256 of the script
and of the submission) and how the agent code was jailed.

The submission must be a regular file, or a folder of regular files and
folders: a link, FIFO, socket or device is an `EvalError` naming the path,
found without blocking and without following links. Anything wrong with the
artifact or the script's answer is an `EvalError`: the agent sees the reason
as an observation, it never crashes a trial.

Called by `kubegym.evaluator.judge` (validate/submit) locally, and by the
evaluator container's server on a cluster.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kubegym.api import tasks
from kubegym.evaluator import jails

# The environment the evaluation script gets: enough to run Python, nothing secret.
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_STDERR_TAIL = 2000
_MAX_METRICS = 1 << 20
_NO_FOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


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
    """Provenance: ``script_sha256``, ``submission_sha256``, ``metrics_channel`` and ``jails``."""

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
    jail: jails.JailMode = "auto",
    jail_limits: jails.JailLimits | None = None,
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
        jail: how agent code the script runs is jailed: ``auto`` (bubblewrap where it
            runs, else a separate process), ``bwrap``, or ``process`` (tests and
            bench/jail_cost.py compare against it).
        jail_limits: memory, CPUs and processes of each jail.

    Returns:
        The metrics, or the reason scoring failed (``error``).
    """
    started = time.monotonic()
    details: dict[str, object] = {"metrics_channel": "fd"}
    try:
        metrics = _run(
            evaluation,
            _Where(task_dir, workspace, data, split, python),
            timeout,
            env or {},
            jail,
            jail_limits or jails.JailLimits(),
            details,
        )
    except EvalError as exc:
        return Scoring(split, None, str(exc), time.monotonic() - started, details)
    return Scoring(split, metrics, None, time.monotonic() - started, details)


@dataclass(frozen=True)
class _Where:
    task_dir: Path
    workspace: Path
    data: Mapping[str, Path]
    split: str
    python: str


def _run(
    evaluation: tasks.Evaluation,
    where: _Where,
    timeout: float | None,
    extra_env: Mapping[str, str],
    jail: jails.JailMode,
    jail_limits: jails.JailLimits,
    details: dict[str, object],
) -> dict[str, float]:
    artifact = _artifact_path(where.workspace, evaluation.submission.path)
    script = (where.task_dir / evaluation.script).resolve()
    if not script.is_file():
        # A task bug, not the agent's: say so plainly.
        raise EvalError(f"the task's evaluation script {evaluation.script} is missing")
    details["script_sha256"] = hashlib.sha256(script.read_bytes()).hexdigest()
    with tempfile.TemporaryDirectory(prefix="kubegym-eval-") as scratch:
        root = Path(scratch)
        (root / "submission").mkdir()
        submission = root / "submission" / PurePosixPath(evaluation.submission.path).name
        details["submission_sha256"] = _copy_read_only(
            artifact, submission, evaluation.submission.path
        )
        (root / "submission").chmod(0o555)  # readable by a jail's unprivileged uid
        argv = [where.python, str(script), "--submission", str(submission), "--split", where.split]
        for name, path in sorted(where.data.items()):
            argv += ["--data", f"{name}={path}"]
        launcher = jails.JailLauncher(
            task_dir=where.task_dir.resolve(),
            submission=submission,
            python=where.python,
            forbidden=[script, *(Path(p) for p in where.data.values())],
            mode=jail,
            limits=jail_limits,
        )
        metrics_read, metrics_write = os.pipe()
        open_fds = [metrics_read, metrics_write]
        try:
            jail_fd = launcher.open()
            env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
            env["HOME"] = str(root)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
            env.update(extra_env)
            # Set last: nothing the caller passes may point the script elsewhere.
            env["PYTHONPATH"] = str(jails.KIT_DIR)
            env["KUBEGYM_METRICS_FD"] = str(metrics_write)
            env["KUBEGYM_JAIL_FD"] = str(jail_fd)

            def started() -> None:
                # The script holds the only write end of the metrics pipe now (so the
                # reader sees EOF when it ends), and the only other end of the jail socket.
                # Closed exactly once: a second close of a reused number would close
                # another thread's file.
                open_fds.remove(metrics_write)
                os.close(metrics_write)
                launcher.after_start()

            result, reported = _execute(
                argv,
                root,
                env,
                (metrics_write, jail_fd),
                metrics_read,
                launcher,
                timeout or evaluation.timeout_seconds,
                started,
            )
        finally:
            launcher.close()
            details["jails"] = launcher.describe()
            for fd in open_fds:
                os.close(fd)
            _make_writable(root)
    if result.returncode != 0:
        tail = result.stderr.strip()[-_STDERR_TAIL:] or result.stdout.strip()[-_STDERR_TAIL:]
        raise EvalError(
            f"evaluation failed (exit status {result.returncode}) on "
            f"{evaluation.submission.path}:\n{tail}"
        )
    return _parse_metrics(reported, evaluation.metrics)


def _execute(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    pass_fds: tuple[int, int],
    metrics_read: int,
    launcher: jails.JailLauncher,
    timeout: float,
    started: Callable[[], None],
) -> tuple[subprocess.CompletedProcess[str], bytes]:
    """Run the script; kill its whole process group and its jails before reading the metrics."""
    chunks: list[bytes] = []

    def drain() -> None:  # the script may write before it ends; never let the pipe fill
        size = 0
        while chunk := os.read(metrics_read, 65536):
            size += len(chunk)
            if size <= _MAX_METRICS:
                chunks.append(chunk)

    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
        pass_fds=pass_fds,
    )
    started()
    reader = threading.Thread(target=drain, name="metrics-reader", daemon=True)
    reader.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        process.communicate()
        raise EvalError(f"evaluation took longer than {timeout:g} s and was stopped") from None
    finally:
        _kill_group(process.pid)
        launcher.close()  # every jail, whole, before any result is read
    reader.join(timeout=5)
    result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
    return result, b"".join(chunks)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _artifact_path(workspace: Path, relative: str) -> Path:
    """The artifact's path, checked without following its last component or blocking."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise EvalError(f"the submission path {relative} points outside the workspace")
    root = workspace.resolve()
    path = root / pure
    parent = path.parent.resolve()
    if root != parent and root not in parent.parents:
        raise EvalError(f"the submission path {relative} points outside the workspace")
    path = parent / path.name
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise EvalError(
            f"no submission found: the task expects {relative} in the workspace, "
            "and it does not exist yet"
        ) from None
    except OSError as exc:
        raise EvalError(f"the submission {relative} cannot be read: {exc.strerror}") from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        raise EvalError(f"the submission {relative} is {_kind(info.st_mode)}, not a regular file")
    return path


def _kind(mode: int) -> str:
    kinds = {
        stat.S_ISLNK: "a symbolic link",
        stat.S_ISFIFO: "a FIFO (named pipe)",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _copy_read_only(source: Path, target: Path, shown: str) -> str:
    """Copy the artifact without following links; returns its sha256 (a folder's: of its tree)."""
    digest = hashlib.sha256()
    parent_fd = os.open(source.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_entry(parent_fd, source.name, target, shown, digest)
    finally:
        os.close(parent_fd)
    return digest.hexdigest()


def _copy_entry(dir_fd: int, name: str, target: Path, shown: str, digest: hashlib._Hash) -> None:
    try:
        fd = os.open(name, _NO_FOLLOW, dir_fd=dir_fd)
    except OSError as exc:  # ELOOP: a link swapped in after the check
        raise EvalError(f"the submission {shown} cannot be copied: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            target.mkdir()
            digest.update(f"D {shown}\n".encode())
            for entry in sorted(os.listdir(fd)):
                _copy_entry(fd, entry, target / entry, f"{shown}/{entry}", digest)
            target.chmod(0o555)
            return
        if not stat.S_ISREG(info.st_mode):
            raise EvalError(
                f"the submission holds {shown}, which is {_kind(info.st_mode)}: "
                "a submission holds only regular files and folders"
            )
        digest.update(f"F {shown}\n".encode())
        os.set_blocking(fd, True)
        with open(fd, "rb", closefd=False) as reader, target.open("wb") as writer:
            while block := reader.read(1 << 20):
                digest.update(block)
                writer.write(block)
        target.chmod(0o444)
    finally:
        os.close(fd)


def _make_writable(root: Path) -> None:
    # So the temporary folder can be removed after a read-only copy.
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IWUSR | stat.S_IXUSR)


def _parse_metrics(reported: bytes, declared: Sequence[tasks.Metric]) -> dict[str, float]:
    """The metrics the script handed to the metrics pipe: one JSON object, declared names, finite."""
    text = reported.decode("utf-8", errors="replace").strip()
    if not text:
        raise EvalError(
            "the evaluation script reported no metrics (it reports them with kubegym_eval.report)"
        )
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        raise EvalError(
            f"the evaluation script reported metrics that are not JSON: {text[:200]!r}"
        ) from None
    if not isinstance(payload, dict):
        raise EvalError("the evaluation script's metrics are not a JSON object")
    metrics: dict[str, float] = {}
    for metric in declared:
        value = payload.get(metric.name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EvalError(f"the evaluation did not report the metric {metric.name!r}")
        if not math.isfinite(value):
            raise EvalError(f"the metric {metric.name!r} is {value}, not a finite number")
        metrics[metric.name] = float(value)
    return metrics
