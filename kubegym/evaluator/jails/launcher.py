"""The evaluator's side of ``kubegym_eval.start``: `JailLauncher` serves one evaluation script.

The script holds the other end of a Unix socket as ``KUBEGYM_JAIL_FD``. For every request
the launcher copies the task's adapter (and the files it names) into a fresh scratch
folder and starts a jail over it and the scored submission (`spawn`), or, with a `Remote`
mode, has the sandbox pod's jail server start one (`remote`); it hands the script the
jail's stdin, stdout and stderr (``SCM_RIGHTS``) and, at `JailLauncher.close`, kills
every jail whole. Called by `kubegym.evaluator.scorer`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kubegym.errors import ConfigError
from kubegym.evaluator.jails import files, remote, spawn, spec
from kubegym.sandbox import isolation

# Standard library only: the evaluator container carries no structlog.
log = logging.getLogger(__name__)


@dataclass
class JailLauncher:
    """Starts the jails of one evaluation and kills them all when it ends.

    Args:
        task_dir: the task's folder; adapters and their files must lie inside it.
        submission: the scorer's read-only scratch copy of the submission.
        python: the task's interpreter (its venv is bound read-only).
        forbidden: host paths a jail must never see (the script, the hidden data).
        mode: ``auto``, ``bwrap``, ``process`` or a `Remote` server (see the package docstring).
        limits: the jail's limits (a `Remote` server applies its own).
    """

    task_dir: Path
    submission: Path
    python: str
    forbidden: Sequence[Path]
    mode: spec.JailMode = "auto"
    limits: spec.JailLimits = field(default_factory=spec.JailLimits)
    jails: list[isolation.Jail] = field(default_factory=list)
    _scratch: list[Path] = field(default_factory=list)
    _sockets: tuple[socket.socket, socket.socket] | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _remote: remote.RemoteJails | None = None

    @property
    def backend(self) -> isolation.Backend | Literal["remote"]:
        """The backend the jails use here (``auto`` resolved)."""
        if isinstance(self.mode, spec.Remote):
            return "remote"
        return spec.local_backend(self.mode)

    def open(self) -> int:
        """Start serving; returns the file descriptor the evaluation script inherits."""
        if isinstance(self.mode, spec.Remote):
            self._remote = remote.RemoteJails(
                self.mode, self.task_dir, self.submission, self.forbidden
            )
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
            request = spec.parse_request(line)
            if request is None:
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
        builtin, wanted = files.wanted_files(request, self.task_dir, self.forbidden)
        root = Path(tempfile.mkdtemp(prefix="kubegym-jail-"))
        root.chmod(0o755)
        with self._lock:
            self._scratch.append(root)
        task_copy = root / "task"
        task_copy.mkdir()
        files.copy_task_files(self.task_dir, wanted, task_copy)
        adapter = "builtin:call" if builtin else str(request["adapter"])
        assert not isinstance(self.mode, spec.Remote)
        jail = spawn.prepare(
            spawn.Request(task_copy, adapter, self.submission, root),
            backend=spec.local_backend(self.mode),
            python=self.python,
            limits=self.limits,
            forbidden=self.forbidden,
            name=f"eval-{os.getpid()}-{len(self.jails)}",
        )
        with self._lock:
            self.jails.append(jail)
            jail_id = len(self.jails) - 1
        return spawn.start(
            jail, self.python, spawn.Request(task_copy, adapter, self.submission, root)
        ), jail_id
