"""The jail container's program: `JailServer` serves jails to evaluators over a Unix socket.

``python -m kubegym.evaluator jail-serve`` runs it in the sandbox pod's ``jail`` container,
as another non-root uid, with no eval volume, no token and no record. The evaluator
(`remote.RemoteJails`) copies what a jail needs into the shared folder and asks; the
server checks it, starts the jail (`spawn`, with the `syscalls` seccomp filters in
``process`` jails) and sends back its pipes. It kills a connection's jails when the
evaluator stops them or hangs up, and every other process below it (`reaper`: it is
their subreaper) once no evaluation is open.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import shutil
import socket
import stat
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kubegym.errors import ConfigError
from kubegym.evaluator.jails import files, reaper, spawn, spec, syscalls
from kubegym.sandbox import isolation

_PR_SET_CHILD_SUBREAPER = 36
_FOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Standard library only: the jail container carries no structlog.
log = logging.getLogger(__name__)


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
        seccomp: load the jail filters (`syscalls.filter_boot`) in ``process`` jails; tests
            turn it off only to show what it stops.
    """

    def __init__(
        self,
        socket_path: Path,
        share: Path,
        *,
        python: str = sys.executable,
        mode: spec.LocalMode = "auto",
        limits: spec.JailLimits | None = None,
        scratch: Path | None = None,
        seccomp: bool = True,
    ) -> None:
        self.socket_path = socket_path
        self.share = share.resolve()
        self.python = python
        self.backend = spec.local_backend(mode)
        self.limits = limits or spec.JailLimits()
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
            reaper.kill_descendants()

    def _handle(self, connection: _Connection) -> None:
        try:
            with contextlib.suppress(OSError):
                while data := connection.sock.recv(spec.MAX_MESSAGE):
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
                reaper.kill_descendants()

    def _answer(self, connection: _Connection, data: bytes) -> tuple[dict[str, Any], list[int]]:
        request = spec.parse_request(data)
        if request is None:
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
                    reaper.kill_descendants()
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
        task_copy, adapter, submission = self._shared_files(body)
        scratch = Path(tempfile.mkdtemp(prefix="kubegym-jail-", dir=self.scratch))
        scratch.chmod(0o755)
        connection.scratch.append(scratch)
        request = spawn.Request(task_copy, adapter, submission, scratch)
        with self._lock:
            self._count += 1
            jail = spawn.prepare(
                request,
                backend=self.backend,
                python=self.python,
                limits=self.limits,
                forbidden=[],
                name=f"jail-{os.getpid()}-{self._count}",
            )
            connection.jails.append(jail)
            boot = syscalls.filter_boot() if self._filtered(jail) else []
            return spawn.start(jail, self.python, request, boot), jail

    def _shared_files(self, body: dict[str, Any]) -> tuple[Path, str, Path]:
        """What a start request names in the shared folder, checked: the task files' copy,
        the adapter and the submission.

        Raises:
            ValueError: a name leaves its folder, or names something that is not there.
        """
        folder, adapter, name = body.get("folder"), body.get("adapter"), body.get("submission")
        if not isinstance(folder, str) or not _FOLDER.fullmatch(folder):
            raise ValueError("folder must be one name in the shared folder")
        root = self.share / folder
        if root.is_symlink() or not root.is_dir():
            raise ValueError(f"the shared folder has no {folder}")
        task_copy = root / "task"
        if adapter != "builtin:call":
            files.task_file(task_copy, adapter, [])
        if not isinstance(name, str) or PurePosixPath(name).name != name or name in ("", ".", ".."):
            raise ValueError("submission must be one name")
        submission = root / "submission" / name
        info = submission.lstat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise ValueError(f"the submission {name} is not a regular file or folder")
        return task_copy, str(adapter), submission
