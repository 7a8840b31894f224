"""Starting one jail: ``kubegym_eval.py serve`` over a scored submission, in bubblewrap or a
separate process (`kubegym.sandbox.isolation`), its pipes handed back as file descriptors.

Called by the launcher (local jails) and the jail server (remote ones); both then pass
the descriptors to the evaluation script over ``SCM_RIGHTS``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kubegym.evaluator.jails import spec
from kubegym.sandbox import isolation

_INSIDE_KIT = "/opt/kubegym-eval"
_INSIDE_TASK = "/task"
_INSIDE_SUBMISSION = "/submission"
_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
# Standard library only: the evaluator and jail containers carry no structlog.
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Request:
    """One jail to start: the task files' copy, the adapter in it, the submission, a scratch root."""

    task_copy: Path
    adapter: str
    """``builtin:call`` or a path relative to ``task_copy``."""
    submission: Path
    root: Path
    """A fresh folder of the caller's: the jail's workspace and runtime folders go here."""


def prepare(
    request: Request,
    *,
    backend: isolation.Backend,
    python: str,
    limits: spec.JailLimits,
    forbidden: Sequence[Path],
    name: str,
) -> isolation.Jail:
    """Prepare the jail of one request (its workspace, limits and binds)."""
    workspace = request.root / "workspace"
    workspace.mkdir()
    workspace.chmod(0o777)  # the jail's uid may not be ours: its one writable folder
    inside = backend == "bwrap"
    kit = _INSIDE_KIT if inside else str(spec.KIT_DIR)
    binds: list[tuple[str | os.PathLike[str], str]] = [
        (spec.KIT_DIR, _INSIDE_KIT),
        (request.task_copy, _INSIDE_TASK),
        (request.submission.parent, _INSIDE_SUBMISSION),
        *_python_binds(python),
    ]
    jail_spec = isolation.IsolationSpec(
        workspace=workspace,
        runtime_dir=request.root / "runtime",
        read_only=binds,
        network="none",
        memory_bytes=limits.memory_bytes,
        cpus=limits.cpus,
        pids=limits.pids,
        env={**_THREADS, "PYTHONPATH": kit, "PYTHONDONTWRITEBYTECODE": "1"},
        forbidden=list(forbidden),
        bind_kubegym=False,
        name=name,
    )
    return isolation.prepare(jail_spec, backend)


def start(
    jail: isolation.Jail, python: str, request: Request, boot: Sequence[str] = ()
) -> list[int]:
    """Start ``kubegym_eval.py serve`` in ``jail``; its stdin, stdout and stderr (dup'ed fds).

    Args:
        jail: the jail `prepare` made for ``request``.
        python: the interpreter that runs the kit.
        request: what the jail serves.
        boot: an interpreter prefix that runs before the kit (`syscalls.filter_boot`), or none.
    """
    inside = jail.backend == "bwrap"
    kit = _INSIDE_KIT if inside else str(spec.KIT_DIR)
    task_root = _INSIDE_TASK if inside else str(request.task_copy)
    sub_root = _INSIDE_SUBMISSION if inside else str(request.submission.parent)
    adapter = (
        "builtin:call" if request.adapter == "builtin:call" else f"{task_root}/{request.adapter}"
    )
    serve = ["serve", "--adapter", adapter, "--submission", f"{sub_root}/{request.submission.name}"]
    argv = [python, "-s", *boot, f"{kit}/kubegym_eval.py", *serve]
    process = jail.popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin and process.stdout and process.stderr
    fds = [os.dup(s.fileno()) for s in (process.stdin, process.stdout, process.stderr)]
    for pipe in (process.stdin, process.stdout, process.stderr):
        pipe.close()  # the script holds the only copies: an ended jail reads as EOF
    log.info("jail_started backend=%s jail=%s adapter=%s", jail.backend, jail.spec.name, adapter)
    return fds


def _python_binds(python: str) -> list[tuple[str | os.PathLike[str], str]]:
    """The task's venv (when it is not the running interpreter's), read-only at its own path."""
    root = Path(python).parent.parent
    if not (root / "pyvenv.cfg").exists() or root.resolve() == Path(sys.prefix).resolve():
        return []
    if str(root).startswith("/usr/") or root == Path("/usr"):
        return []  # /usr is always bound read-only
    return [(root, str(root))]
