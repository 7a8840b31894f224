"""The jails an evaluation runs agent code in: the trusted side of ``kubegym_eval.start``.

`JailLauncher` serves one evaluation script over a Unix socket (the script
holds the other end as ``KUBEGYM_JAIL_FD``): for every request it copies the
task's adapter (and the files it names) and the scored submission into fresh
scratch folders, starts ``kubegym_eval.py serve`` there through
`kubegym.sandbox.isolation` (a bubblewrap jail: no network, an unprivileged
uid, its own pid namespace and cgroup, a cleared environment, read-only
Python) and hands the script the jail's stdin, stdout and stderr pipes
(``SCM_RIGHTS``). The jail never sees the evaluation script, the hidden data,
the metrics pipe or any token. `JailLauncher.close` kills every jail whole.

Where bubblewrap cannot run (the evaluator container of a cluster pod may
refuse user namespaces), ``backend="process"`` starts the same command as a
separate process: its own session, rlimits or a cgroup, a scrubbed
environment, no inherited file descriptors and its cwd in a scratch copy, but
the evaluator's uid and file system view. `Launch.describe` says which.

Called only by `kubegym.evaluator.scorer`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import structlog

from kubegym.errors import ConfigError
from kubegym.sandbox import isolation

KIT_DIR = Path(__file__).resolve().parent / "kit"
"""The folder holding only ``kubegym_eval.py``: on the script's PYTHONPATH and bound into jails."""

JailMode = Literal["auto", "bwrap", "process"]
"""``auto``: bubblewrap when it runs here, else a separate process; or force one."""

_INSIDE_KIT = "/opt/kubegym-eval"
_INSIDE_TASK = "/task"
_INSIDE_SUBMISSION = "/submission"
_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
log = structlog.get_logger()


@dataclass(frozen=True)
class JailLimits:
    """What one jail may use: memory for all its processes, CPUs, processes at once."""

    memory_bytes: int | None = 4 << 30
    cpus: float | None = None
    pids: int | None = 256


@dataclass
class JailLauncher:
    """Starts the jails of one evaluation and kills them all when it ends.

    Args:
        task_dir: the task's folder; adapters and their files must lie inside it.
        submission: the scorer's read-only scratch copy of the submission.
        python: the task's interpreter (its venv is bound read-only).
        forbidden: host paths a jail must never see (the script, the hidden data).
        mode: ``auto``, ``bwrap`` or ``process`` (see the module docstring).
        limits: the jail's limits.
    """

    task_dir: Path
    submission: Path
    python: str
    forbidden: Sequence[Path]
    mode: JailMode = "auto"
    limits: JailLimits = field(default_factory=JailLimits)
    jails: list[isolation.Jail] = field(default_factory=list)
    _scratch: list[Path] = field(default_factory=list)
    _sockets: tuple[socket.socket, socket.socket] | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def backend(self) -> isolation.Backend:
        """The backend the jails use here (``auto`` resolved)."""
        if self.mode != "auto":
            return self.mode
        try:
            isolation.check_available("bwrap")
        except ConfigError:
            return "process"
        return "bwrap"

    def open(self) -> int:
        """Start serving; returns the file descriptor the evaluation script inherits."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sockets = (ours, theirs)
        self._thread = threading.Thread(target=self._serve, name="jail-launcher", daemon=True)
        self._thread.start()
        return theirs.fileno()

    def after_start(self) -> None:
        """Drop the scorer's copy of the script's end once the script has started."""
        if self._sockets is not None:
            self._sockets[1].close()

    def describe(self) -> list[dict[str, Any]]:
        """What each jail was (backend, isolation, limits), for `Scoring.details`."""
        return [jail.describe() for jail in self.jails]

    def close(self) -> None:
        """Kill every jail (its session and cgroup) and remove the scratch folders."""
        if self._sockets is not None:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for jail in self.jails:
                jail.cleanup()
            for path in self._scratch:
                shutil.rmtree(path, ignore_errors=True)
            self._scratch.clear()

    # --- the socket's requests ------------------------------------------------------

    def _serve(self) -> None:
        assert self._sockets is not None
        stream = self._sockets[0].makefile("rb")
        with contextlib.suppress(OSError):  # the script ended: no more requests
            self._serve_lines(stream)

    def _serve_lines(self, stream: Any) -> None:
        for line in stream:
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._answer({"error": "the jail request is not a JSON object"}, [])
                continue
            if "stop" in request:
                self._stop(request["stop"])
                self._answer({"stopped": True}, [])
                continue
            try:
                fds, jail_id = self._start(request)
            except (ConfigError, OSError, ValueError) as exc:
                log.warning("jail_not_started", reason=str(exc))
                self._answer({"error": f"the jail could not start: {exc}"}, [])
                continue
            try:
                self._answer({"jail": jail_id}, fds)
            finally:
                for fd in fds:
                    os.close(fd)

    def _answer(self, message: dict[str, Any], fds: list[int]) -> None:
        assert self._sockets is not None
        with contextlib.suppress(OSError):
            socket.send_fds(self._sockets[0], [json.dumps(message).encode()], fds)

    def _stop(self, jail_id: object) -> None:
        with self._lock:
            if isinstance(jail_id, int) and 0 <= jail_id < len(self.jails):
                self.jails[jail_id].cleanup()

    def _start(self, request: dict[str, Any]) -> tuple[list[int], int]:
        builtin = request.get("adapter") == "builtin:call"
        files = request.get("files", [])
        if not isinstance(files, list):
            raise ValueError("files must be a list of paths")
        wanted = [_task_file(self.task_dir, f, self.forbidden) for f in files]
        if not builtin:
            wanted.insert(0, _task_file(self.task_dir, request.get("adapter"), self.forbidden))
        root = Path(tempfile.mkdtemp(prefix="kubegym-jail-"))
        root.chmod(0o755)
        with self._lock:
            self._scratch.append(root)
        task_copy, workspace, runtime = root / "task", root / "workspace", root / "runtime"
        task_copy.mkdir()
        for source in wanted:
            target = task_copy / source.relative_to(self.task_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        for path in [task_copy, *task_copy.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        workspace.mkdir()
        workspace.chmod(0o777)  # the jail's uid is not ours: its one writable folder
        backend = self.backend
        inside = backend == "bwrap"
        kit = _INSIDE_KIT if inside else str(KIT_DIR)
        task_root = _INSIDE_TASK if inside else str(task_copy)
        sub_root = _INSIDE_SUBMISSION if inside else str(self.submission.parent)
        binds: list[tuple[str | os.PathLike[str], str]] = [
            (KIT_DIR, _INSIDE_KIT),
            (task_copy, _INSIDE_TASK),
            (self.submission.parent, _INSIDE_SUBMISSION),
            *_python_binds(self.python),
        ]
        spec = isolation.IsolationSpec(
            workspace=workspace,
            runtime_dir=runtime,
            read_only=binds,
            network="none",
            memory_bytes=self.limits.memory_bytes,
            cpus=self.limits.cpus,
            pids=self.limits.pids,
            env={**_THREADS, "PYTHONPATH": kit, "PYTHONDONTWRITEBYTECODE": "1"},
            forbidden=list(self.forbidden),
            bind_kubegym=False,
            name=f"eval-{os.getpid()}-{len(self.jails)}",
        )
        jail = isolation.prepare(spec, backend)
        with self._lock:
            self.jails.append(jail)
            jail_id = len(self.jails) - 1
        argv = [self.python, "-s", f"{kit}/kubegym_eval.py", "serve"]
        adapter = "builtin:call" if builtin else f"{task_root}/{request['adapter']}"
        argv += ["--adapter", adapter]
        argv += ["--submission", f"{sub_root}/{self.submission.name}"]
        process = jail.popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert process.stdin and process.stdout and process.stderr
        fds = [os.dup(s.fileno()) for s in (process.stdin, process.stdout, process.stderr)]
        for pipe in (process.stdin, process.stdout, process.stderr):
            pipe.close()  # the script holds the only copies: an ended jail reads as EOF
        log.info("jail_started", backend=backend, jail=spec.name, adapter=adapter)
        return fds, jail_id


def _task_file(task_dir: Path, relative: object, forbidden: Sequence[Path]) -> Path:
    """A regular file inside the task folder that no jail is forbidden to see."""
    if not isinstance(relative, str) or not relative:
        raise ValueError("name the adapter and its files as paths inside the task folder")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"{relative} is not a path inside the task folder")
    path = task_dir / pure
    info = path.lstat() if path.exists() or path.is_symlink() else None
    if info is None or not stat.S_ISREG(info.st_mode):
        raise ValueError(f"{relative} is not a regular file of the task")
    resolved = path.resolve()
    for secret in forbidden:
        secret = secret.resolve()
        if resolved == secret or secret in resolved.parents:
            raise ValueError(f"{relative} may not be shown to agent code")
    return path


def _python_binds(python: str) -> list[tuple[str | os.PathLike[str], str]]:
    """The task's venv (when it is not the running interpreter's), read-only at its own path."""
    root = Path(python).parent.parent
    if not (root / "pyvenv.cfg").exists() or root.resolve() == Path(sys.prefix).resolve():
        return []
    if str(root).startswith("/usr/") or root == Path("/usr"):
        return []  # /usr is always bound read-only
    return [(root, str(root))]
