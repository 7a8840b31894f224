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

On a cluster the evaluator container gets neither: there the jails are another
container's (`Remote`). `JailServer` (``python -m kubegym.evaluator jail-serve``)
runs in the sandbox pod's ``jail`` container, as another non-root uid, with no
eval volume, no token and no record; the evaluator's `JailLauncher` copies the
adapter, its files and the submission into a folder both containers mount
(read-only in the jail's), forwards each request over the server's Unix socket
and passes the pipes the server sends back (``SCM_RIGHTS`` works across
containers: one kernel) on to the script. The metrics pipe never leaves the
evaluator. The server's jails also get a seccomp filter that refuses
``socket`` (a pod's containers share one network and IPC namespace, so the
sandbox is a ``localhost`` away), SysV IPC and POSIX message queues, and ptrace;
it kills a connection's jails when the evaluator stops them or hangs up, and
every other process it finds below it (it is their subreaper) once no
evaluation is open.

Called by `kubegym.evaluator.scorer` (the launcher) and `kubegym.evaluator.__main__`
(the server).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from kubegym.errors import ConfigError
from kubegym.sandbox import isolation
from kubegym.sandbox import seccomp as _seccomp

KIT_DIR = Path(__file__).resolve().parent / "kit"
"""The folder holding only ``kubegym_eval.py``: on the script's PYTHONPATH and bound into jails."""

LocalMode = Literal["auto", "bwrap", "process"]
"""``auto``: bubblewrap when it runs here, else a separate process; or force one."""


@dataclass(frozen=True)
class Remote:
    """Jails served by a `JailServer` in another container (or as another uid).

    Attributes:
        socket: the server's Unix socket.
        share: the folder both sides see at this same path: the evaluator writes the
            adapter, its files and the submission there; the server only reads it.
    """

    socket: Path
    share: Path


JailMode = LocalMode | Remote
"""Where agent code runs: a local mode, or a `Remote` jail server."""

_INSIDE_KIT = "/opt/kubegym-eval"
_INSIDE_TASK = "/task"
_INSIDE_SUBMISSION = "/submission"
_THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_FOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_MESSAGE = 1 << 16
#: Seconds the evaluator waits for the jail server to answer one request.
REMOTE_TIMEOUT = 60.0
# Standard library only: the evaluator and jail containers carry no structlog.
log = logging.getLogger(__name__)


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
        mode: ``auto``, ``bwrap``, ``process`` or a `Remote` server (see the module docstring).
        limits: the jail's limits (a `Remote` server applies its own).
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
    _remote: _RemoteJails | None = None

    @property
    def backend(self) -> isolation.Backend | Literal["remote"]:
        """The backend the jails use here (``auto`` resolved)."""
        if isinstance(self.mode, Remote):
            return "remote"
        return _local_backend(self.mode)

    def open(self) -> int:
        """Start serving; returns the file descriptor the evaluation script inherits."""
        if isinstance(self.mode, Remote):
            self._remote = _RemoteJails(self.mode, self.task_dir, self.submission, self.forbidden)
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
        if self._remote is not None:
            return list(self._remote.described)
        return [jail.describe() for jail in self.jails]

    def close(self) -> None:
        """Kill every jail (its session and cgroup, or the server's) and remove the scratch folders."""
        if self._sockets is not None:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            if self._remote is not None:
                self._remote.close()
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
                if self._remote is not None:
                    fds, jail_id = self._remote.start(request)
                else:
                    fds, jail_id = self._start(request)
            except (ConfigError, OSError, ValueError) as exc:
                log.warning("jail_not_started reason=%s", exc)
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
        if self._remote is not None:
            self._remote.stop(jail_id)
            return
        with self._lock:
            if isinstance(jail_id, int) and 0 <= jail_id < len(self.jails):
                self.jails[jail_id].cleanup()

    def _start(self, request: dict[str, Any]) -> tuple[list[int], int]:
        builtin, wanted = _wanted_files(request, self.task_dir, self.forbidden)
        root = Path(tempfile.mkdtemp(prefix="kubegym-jail-"))
        root.chmod(0o755)
        with self._lock:
            self._scratch.append(root)
        task_copy = root / "task"
        task_copy.mkdir()
        _copy_task_files(self.task_dir, wanted, task_copy)
        adapter = "builtin:call" if builtin else str(request["adapter"])
        assert not isinstance(self.mode, Remote)
        jail = _spawn_prepare(
            _Request(task_copy, adapter, self.submission, root),
            backend=_local_backend(self.mode),
            python=self.python,
            limits=self.limits,
            forbidden=self.forbidden,
            name=f"eval-{os.getpid()}-{len(self.jails)}",
        )
        with self._lock:
            self.jails.append(jail)
            jail_id = len(self.jails) - 1
        return _spawn_start(
            jail, self.python, _Request(task_copy, adapter, self.submission, root)
        ), jail_id


def _local_backend(mode: LocalMode) -> isolation.Backend:
    if mode != "auto":
        return mode
    try:
        isolation.check_available("bwrap")
    except ConfigError:
        return "process"
    return "bwrap"


def _wanted_files(
    request: dict[str, Any], task_dir: Path, forbidden: Sequence[Path]
) -> tuple[bool, list[Path]]:
    """Whether the request wants the builtin adapter, and the task files it names (checked)."""
    builtin = request.get("adapter") == "builtin:call"
    files = request.get("files", [])
    if not isinstance(files, list):
        raise ValueError("files must be a list of paths")
    wanted = [_task_file(task_dir, f, forbidden) for f in files]
    if not builtin:
        wanted.insert(0, _task_file(task_dir, request.get("adapter"), forbidden))
    return builtin, wanted


def _copy_task_files(task_dir: Path, wanted: Sequence[Path], task_copy: Path) -> None:
    """Copy task files to ``task_copy`` at their relative paths, readable by any uid."""
    for source in wanted:
        target = task_copy / source.relative_to(task_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for path in [task_copy, *task_copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@dataclass(frozen=True)
class _Request:
    """One jail to start: the task files' copy, the adapter in it, the submission, a scratch root."""

    task_copy: Path
    adapter: str
    """``builtin:call`` or a path relative to ``task_copy``."""
    submission: Path
    root: Path
    """A fresh folder of the launcher's: the jail's workspace and runtime folders go here."""


def _spawn_prepare(
    request: _Request,
    *,
    backend: isolation.Backend,
    python: str,
    limits: JailLimits,
    forbidden: Sequence[Path],
    name: str,
) -> isolation.Jail:
    """Prepare the jail of one request (its workspace, limits and binds)."""
    workspace = request.root / "workspace"
    workspace.mkdir()
    workspace.chmod(0o777)  # the jail's uid may not be ours: its one writable folder
    inside = backend == "bwrap"
    kit = _INSIDE_KIT if inside else str(KIT_DIR)
    binds: list[tuple[str | os.PathLike[str], str]] = [
        (KIT_DIR, _INSIDE_KIT),
        (request.task_copy, _INSIDE_TASK),
        (request.submission.parent, _INSIDE_SUBMISSION),
        *_python_binds(python),
    ]
    spec = isolation.IsolationSpec(
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
    return isolation.prepare(spec, backend)


def _spawn_start(
    jail: isolation.Jail, python: str, request: _Request, boot: Sequence[str] = ()
) -> list[int]:
    """Start ``kubegym_eval.py serve`` in ``jail``; its stdin, stdout and stderr (dup'ed fds).

    Args:
        boot: an interpreter prefix that runs before the kit (`_filter_boot`), or none.
    """
    inside = jail.backend == "bwrap"
    kit = _INSIDE_KIT if inside else str(KIT_DIR)
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


# --- the evaluator's side of a remote jail server ---------------------------------------


class _RemoteJails:
    """The launcher's half of a `JailServer`: copies into the shared folder, forwards requests.

    One connection per evaluation; the server kills the connection's jails when it
    is asked to (``close``) or when the connection ends.
    """

    def __init__(
        self, remote: Remote, task_dir: Path, submission: Path, forbidden: Sequence[Path]
    ) -> None:
        self.remote = remote
        self.task_dir = task_dir
        self.submission = submission
        self.forbidden = forbidden
        self.folder = f"e{os.getpid()}-{secrets.token_hex(8)}"
        self.described: list[dict[str, Any]] = []
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self._copied = False

    @property
    def root(self) -> Path:
        return self.remote.share / self.folder

    def start(self, request: dict[str, Any]) -> tuple[list[int], int]:
        builtin, wanted = _wanted_files(request, self.task_dir, self.forbidden)
        with self._lock:
            self._prepare(wanted)
            message = {
                "start": {
                    "folder": self.folder,
                    "adapter": "builtin:call" if builtin else str(request["adapter"]),
                    "submission": self.submission.name,
                }
            }
            reply, fds = self._ask(message, 3)
        if "error" in reply or len(fds) != 3 or not isinstance(reply.get("jail"), int):
            for fd in fds:
                os.close(fd)
            raise ValueError(str(reply.get("error", "the jail server sent no jail")))
        described = reply.get("describe")
        self.described.append(described if isinstance(described, dict) else {})
        return fds, int(reply["jail"])

    def stop(self, jail_id: object) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            if self._conn is not None and isinstance(jail_id, int):
                self._ask({"stop": jail_id}, 0)

    def close(self) -> None:
        """Ask the server to kill this evaluation's jails, wait for it, hang up, clean up."""
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._ask({"close": True}, 0)
                with contextlib.suppress(OSError):
                    self._conn.shutdown(socket.SHUT_RDWR)
                self._conn.close()
                self._conn = None
            shutil.rmtree(self.root, ignore_errors=True)

    def _prepare(self, wanted: Sequence[Path]) -> None:
        """The shared folder: the submission once, and every task file asked for so far."""
        task_copy = self.root / "task"
        if not self._copied:
            (self.root / "submission").mkdir(parents=True)
            task_copy.mkdir()
            target = self.root / "submission" / self.submission.name
            if self.submission.is_dir():
                shutil.copytree(self.submission, target, symlinks=True)
            else:
                shutil.copyfile(self.submission, target)
            self._copied = True
        _copy_task_files(self.task_dir, wanted, task_copy)
        for path in [self.root, *self.root.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)

    def _ask(self, message: dict[str, Any], max_fds: int) -> tuple[dict[str, Any], list[int]]:
        if self._conn is None:
            # Datagram-like messages: one request, one answer (with its descriptors).
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            conn.settimeout(REMOTE_TIMEOUT)
            deadline = time.monotonic() + REMOTE_TIMEOUT
            while True:
                try:
                    conn.connect(str(self.remote.socket))
                    break
                except (FileNotFoundError, ConnectionRefusedError) as exc:
                    # The jail container may still be starting: the platform's delay, not
                    # the agent's failure, so wait for it a while.
                    if time.monotonic() > deadline:
                        conn.close()
                        raise OSError(
                            exc.errno, f"no jail server at {self.remote.socket}: {exc}"
                        ) from None
                    time.sleep(0.2)
                except OSError as exc:
                    conn.close()
                    raise OSError(
                        exc.errno, f"cannot reach the jail server at {self.remote.socket}: {exc}"
                    ) from None
            self._conn = conn
        self._conn.sendall(json.dumps(message).encode())
        data, fds, _, _ = socket.recv_fds(self._conn, _MAX_MESSAGE, max(max_fds, 1))
        if len(fds) > max_fds:
            for fd in fds:
                os.close(fd)
            raise ValueError("the jail server sent more descriptors than a jail has")
        try:
            reply = json.loads(data.decode() or "null")
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            for fd in fds:
                os.close(fd)
            raise ValueError("the jail server's answer is not a JSON object")
        return reply, fds


# --- the jail container's side ---------------------------------------------------------

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_SET_CHILD_SUBREAPER = 36
_SECCOMP_MODE_FILTER = 2

#: System calls a remote jail never makes, by architecture: sockets (a pod's containers
#: share one network namespace: the sandbox is a localhost away; abstract Unix sockets are
#: per network namespace too), SysV IPC and POSIX message queues (one IPC namespace per pod).
#: ``socketpair`` stays allowed (connected pairs reach nothing else).
_NETWORK_CALLS: dict[str, dict[str, int]] = {
    "x86_64": {"socket": 41, "shmget": 29, "shmat": 30, "msgget": 68, "semget": 64,
               "mq_open": 240},
    "aarch64": {"socket": 198, "shmget": 194, "shmat": 196, "msgget": 186, "semget": 190,
                "mq_open": 180},
}  # fmt: skip

_BOOT = """\
import ctypes, runpy, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:
    raise SystemExit('kubegym jail: no_new_privs was refused')
class Program(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]
for hexed in sys.argv[1].split(','):
    code = ctypes.create_string_buffer(bytes.fromhex(hexed))
    program = Program(len(code.raw) // 8, ctypes.addressof(code))
    if libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0:
        raise SystemExit('kubegym jail: the seccomp filter was refused: errno %d' % ctypes.get_errno())
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""
"""Runs first in a remote jail's interpreter: loads the filters (``argv[1]``), then the kit."""


def network_filter() -> bytes:
    """A seccomp program refusing `_NETWORK_CALLS` with EACCES (this machine's architecture).

    Raises:
        ValueError: the architecture is not one the filter knows.
    """
    import errno

    arch = _seccomp.native_arch()
    if arch is None or arch.name not in _NETWORK_CALLS:
        raise ValueError("no seccomp filter for this machine's architecture")
    calls = list(_NETWORK_CALLS[arch.name].values())
    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    code = [(ld_abs, 0, 0, 4), (jeq, 1, 0, arch.audit), (ret, 0, 0, _seccomp.RET_KILL_PROCESS)]
    code.append((ld_abs, 0, 0, 0))
    for index, number in enumerate(calls):
        code.append((jeq, len(calls) - index, 0, number))  # to the final "deny"
    code.append((ret, 0, 0, _seccomp.RET_ALLOW))
    code.append((ret, 0, 0, _seccomp.RET_ERRNO | errno.EACCES))
    return b"".join(struct.pack("<HBBI", op, jt, jf, k) for op, jt, jf, k in code)


def filter_boot() -> list[str]:
    """The interpreter arguments that load the jail filters before the kit runs."""
    programs = [_seccomp.program(), network_filter()]
    return ["-c", _BOOT, ",".join(p.hex() for p in programs)]


@dataclass
class _Connection:
    """One evaluation's connection: its jails and their scratch folders."""

    sock: socket.socket
    jails: list[isolation.Jail] = field(default_factory=list)
    scratch: list[Path] = field(default_factory=list)

    def kill(self) -> None:
        for jail in self.jails:
            jail.cleanup()
        for path in self.scratch:
            shutil.rmtree(path, ignore_errors=True)
        self.scratch.clear()


class JailServer:
    """Serves jails to evaluators over a Unix socket: the ``jail`` container's program.

    Args:
        socket_path: where to listen (a folder the evaluator also mounts).
        share: the folder the evaluator copies adapters and submissions into; only read.
        python: the interpreter that runs agent code (the task's environment).
        mode: ``auto`` (bubblewrap where it runs, else a separate process), ``bwrap`` or
            ``process``.
        limits: each jail's limits.
        scratch: where jails' writable folders go (default: the temporary folder).
        seccomp: load the jail filters (`filter_boot`) in ``process`` jails; tests turn
            it off only to show what it stops.
    """

    def __init__(
        self,
        socket_path: Path,
        share: Path,
        *,
        python: str = sys.executable,
        mode: LocalMode = "auto",
        limits: JailLimits | None = None,
        scratch: Path | None = None,
        seccomp: bool = True,
    ) -> None:
        self.socket_path = socket_path
        self.share = share.resolve()
        self.python = python
        self.backend = _local_backend(mode)
        self.limits = limits or JailLimits()
        self.scratch = scratch
        self.seccomp = seccomp
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._open: list[_Connection] = []
        self._count = 0

    def bind(self) -> None:
        """Listen on the socket (a stale one is replaced); readable and writable by any uid
        that reaches its folder: the evaluator container's runs as another uid."""
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        listener.bind(str(self.socket_path))
        self.socket_path.chmod(0o666)
        listener.listen(16)
        self._listener = listener
        # Orphans of agent code (double forks, setsid) come back to us, and are found and
        # killed once no evaluation is open; in a pod we are PID 1 and get them anyway.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

    def serve_forever(self) -> None:
        """Accept evaluators' connections until `shutdown`; one thread each."""
        if self._listener is None:
            self.bind()
        assert self._listener is not None
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return  # shut down
            connection = _Connection(sock)
            with self._lock:
                self._open.append(connection)
            threading.Thread(
                target=self._handle, args=(connection,), name="jail-connection", daemon=True
            ).start()

    def shutdown(self) -> None:
        """Stop listening and kill every jail and every process below this one."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        with self._lock:
            for connection in self._open:
                connection.kill()
            kill_descendants()

    def _handle(self, connection: _Connection) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := connection.sock.recv(_MAX_MESSAGE):
                    answer, fds = self._answer(connection, data)
                    try:
                        socket.send_fds(connection.sock, [json.dumps(answer).encode()], fds)
                    finally:
                        for fd in fds:
                            os.close(fd)
        finally:
            connection.sock.close()
            self._end(connection)

    def _end(self, connection: _Connection) -> None:
        """Kill a connection's jails; with no evaluation left open, every stray as well."""
        with self._lock:
            connection.kill()
            if connection in self._open:
                self._open.remove(connection)
            if not self._open:
                kill_descendants()

    def _answer(self, connection: _Connection, data: bytes) -> tuple[dict[str, Any], list[int]]:
        try:
            request = json.loads(data)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            return {"error": "the jail request is not a JSON object"}, []
        if "stop" in request:
            jail_id = request["stop"]
            if isinstance(jail_id, int) and 0 <= jail_id < len(connection.jails):
                connection.jails[jail_id].cleanup()
            return {"stopped": True}, []
        if "close" in request:
            with self._lock:
                connection.kill()
                if self._open == [connection]:
                    kill_descendants()
            return {"closed": True}, []
        body = request.get("start")
        if not isinstance(body, dict):
            return {"error": "ask for start, stop or close"}, []
        try:
            fds, jail = self._start(connection, body)
        except (ConfigError, OSError, ValueError) as exc:
            log.warning("jail_not_started reason=%s", exc)
            return {"error": f"the jail could not start: {exc}"}, []
        described = {**jail.describe(), "server": "remote", "filtered": self._filtered(jail)}
        return {"jail": len(connection.jails) - 1, "describe": described}, fds

    def _filtered(self, jail: isolation.Jail) -> bool:
        return self.seccomp and jail.backend == "process"

    def _start(
        self, connection: _Connection, body: dict[str, Any]
    ) -> tuple[list[int], isolation.Jail]:
        folder, adapter, name = body.get("folder"), body.get("adapter"), body.get("submission")
        if not isinstance(folder, str) or not _FOLDER.fullmatch(folder):
            raise ValueError("folder must be one name in the shared folder")
        root = self.share / folder
        if root.is_symlink() or not root.is_dir():
            raise ValueError(f"the shared folder has no {folder}")
        task_copy = root / "task"
        if adapter != "builtin:call":
            _task_file(task_copy, adapter, [])
        if not isinstance(name, str) or PurePosixPath(name).name != name or name in ("", ".", ".."):
            raise ValueError("submission must be one name")
        submission = root / "submission" / name
        info = submission.lstat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise ValueError(f"the submission {name} is not a regular file or folder")
        scratch = Path(tempfile.mkdtemp(prefix="kubegym-jail-", dir=self.scratch))
        scratch.chmod(0o755)
        connection.scratch.append(scratch)
        request = _Request(task_copy, str(adapter), submission, scratch)
        with self._lock:
            self._count += 1
            jail = _spawn_prepare(
                request,
                backend=self.backend,
                python=self.python,
                limits=self.limits,
                forbidden=[],
                name=f"jail-{os.getpid()}-{self._count}",
            )
            connection.jails.append(jail)
            boot = filter_boot() if self._filtered(jail) else []
            return _spawn_start(jail, self.python, request, boot), jail


def kill_descendants(pid: int | None = None) -> list[int]:
    """SIGKILL every process below ``pid`` (default: this one) and reap our dead children.

    Returns:
        The pids killed.
    """
    me = os.getpid() if pid is None else pid
    killed: list[int] = []
    for _ in range(20):  # a process may fork between a scan and its kill: scan again
        _reap()
        found = _below(me)
        if not found:
            break
        for child in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
                killed.append(child)
    _reap()
    return killed


def _below(pid: int) -> list[int]:
    """Live processes whose ancestry reaches ``pid`` (zombies left out)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def adapter_files(task_dir: Path, script: str) -> list[str]:
    """The task's adapters (``adapter*.py`` beside its evaluation script), relative to ``task_dir``.

    With the starter code, these are the task files an evaluation may show agent code:
    the data image's eval folder (`kubegym.images.stage_data`) and the dev-cluster
    kubelet's (`kubegym.devcluster.kubelet.lay_out`) carry them, so the evaluator can copy
    them to the jail container. Never hidden data.
    """
    folder = (task_dir / script).parent
    return sorted(
        str(path.relative_to(task_dir))
        for path in folder.glob("adapter*.py")
        if path.is_file() and not path.is_symlink()
    )


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
