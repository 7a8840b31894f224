"""The evaluator's half of a remote jail server: copies into the shared folder, forwards requests.

On a cluster the evaluator container may not start jails itself; the sandbox pod's
``jail`` container runs `kubegym.evaluator.jails.server.JailServer`. `RemoteJails` copies
the adapter, its files and the submission into the folder both containers mount
(read-only in the jail's), forwards each request over the server's Unix socket and
returns the pipes the server sends back (``SCM_RIGHTS`` works across containers: one
kernel). The metrics pipe never leaves the evaluator. Called by the launcher only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubegym.evaluator.jails import files, spec

REMOTE_TIMEOUT = 60.0
"""Seconds the evaluator waits for the jail server to answer one request."""


class RemoteJails:
    """The launcher's half of a `JailServer`: copies into the shared folder, forwards requests.

    One connection per evaluation; the server kills the connection's jails when it
    is asked to (``close``) or when the connection ends.
    """

    def __init__(
        self, remote: spec.Remote, task_dir: Path, submission: Path, forbidden: Sequence[Path]
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
        """This evaluation's folder in the shared one."""
        return self.remote.share / self.folder

    def start(self, request: dict[str, Any]) -> tuple[list[int], int]:
        """Have the server start a jail for ``request``; its three pipes and its id."""
        builtin, wanted = files.wanted_files(request, self.task_dir, self.forbidden)
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
        """Have the server kill one jail of this evaluation."""
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
        files.copy_task_files(self.task_dir, wanted, task_copy)
        for path in [self.root, *self.root.rglob("*")]:
            if not path.is_symlink():
                path.chmod(0o755 if path.is_dir() else 0o644)

    def _ask(self, message: dict[str, Any], max_fds: int) -> tuple[dict[str, Any], list[int]]:
        """Send one request and read its answer, with at most ``max_fds`` descriptors."""
        if self._conn is None:
            self._conn = self._connect()
        self._conn.sendall(json.dumps(message).encode())
        data, fds, _, _ = socket.recv_fds(self._conn, spec.MAX_MESSAGE, max(max_fds, 1))
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

    def _connect(self) -> socket.socket:
        """A connection to the server, waited for a while: its container may still be starting."""
        # Datagram-like messages: one request, one answer (with its descriptors).
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.settimeout(REMOTE_TIMEOUT)
        deadline = time.monotonic() + REMOTE_TIMEOUT
        while True:
            try:
                conn.connect(str(self.remote.socket))
                return conn
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
