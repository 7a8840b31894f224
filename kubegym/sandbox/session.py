"""The persistent bash session of a sandbox: one long-lived shell that runs the agent's commands.

`kubegym.sandbox.server` owns one `Session` per trial and calls `Session.run` for every
``POST /v1/exec``; the benchmark in ``bench/`` calls it directly. The working directory and the
exported environment carry over between commands, as in MLGym and SWE-agent.

How a command runs: its text is written to a private file, and one short control line goes to
bash's standard input (the control pipe)::

    { . /tmp/kubegym-sandbox-…/command; } </dev/null; { __kubegym_done $?; } 2>/dev/null

so the command reads ``/dev/null``, never the control pipe, and a syntax error in it cannot
break the control line. ``__kubegym_done`` then prints one framed record: a random marker
(written as octal escapes, so ``set -x`` or ``declare -f`` never show it), the exit status,
``$PWD`` and ``export -p``, which is replayed into a new shell if this one has to be replaced. Standard output and standard error share one pipe,
read with ``poll``/``os.read`` until that record: no sleeps, no polling.

On a timeout the command's processes are killed in steps (see `Session.run`; which processes
are the command's is `kubegym.sandbox.proctree`'s to say); if bash itself is stuck in a builtin
it is restarted in the last working directory with the last exported environment. The output
is kept head and tail (`kubegym.sandbox.output`). Standard library only: this module runs
inside task images.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from kubegym.sandbox import output, proctree
from kubegym.sandbox.protocol import CommandResult

DEFAULT_TIMEOUT_S = 3600.0
"""The timeout of a command when neither the server nor the request names one."""

DEFAULT_MAX_OUTPUT = 100_000
"""How many bytes of a command's output are kept: the first half and the last half."""

TOKEN_ENV = "KUBEGYM_SANDBOX_TOKEN"
"""The variable that may carry the server's token; never passed on to the session."""

_KILL_GRACE_S = 1.0
_READ_SIZE = 1 << 20


class SessionBusy(Exception):
    """A command is already running in this session; commands run one at a time."""


class Session:
    """One persistent ``bash --noprofile --norc`` in its own session and process group.

    Args:
        workspace: the folder the shell starts in.
        timeout: the default timeout of a command, in seconds.
        max_output: how many bytes of each command's output to keep (head and tail).
        env: the environment of the shell; the server's own environment by default.
            ``KUBEGYM_SANDBOX_TOKEN`` is always removed from it.
    """

    def __init__(
        self,
        workspace: Path,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_output: int = DEFAULT_MAX_OUTPUT,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workspace = Path(workspace)
        self.timeout = timeout
        self.max_output = max_output
        self._env = {
            k: v for k, v in (os.environ if env is None else env).items() if k != TOKEN_ENV
        }
        self._tag = secrets.token_hex(8)
        self._env[proctree.SESSION_ENV] = self._tag
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="kubegym-sandbox-", dir=_fast_tmp()))
        self._command_file = self._dir / "command"
        self._exported = b""
        self._source_prefix = f"{self._command_file}: "
        nonce = secrets.token_hex(16)
        self._begin = f"\x1ekubegym-done-{nonce}\x1f".encode()
        self._end = f"\x1fkubegym-end-{nonce}\x1e".encode()
        self._control = (
            f"{{ . {shlex.quote(str(self._command_file))}; }} </dev/null; "
            "{ __kubegym_done $?; } 2>/dev/null\n"
        ).encode()
        self._proc: subprocess.Popen[bytes] | None = None
        self._pending = b""
        self._cwd = str(self.workspace)
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the shell (done lazily by `run` too)."""
        if self._proc is None:
            self._spawn()

    def restart(self) -> None:
        """Kill the shell and everything it started, and start a fresh one in the workspace.

        Raises:
            SessionBusy: a command is running.
        """
        if not self._lock.acquire(blocking=False):
            raise SessionBusy("a command is running; wait for it before restarting the session")
        try:
            self._kill_shell()
            self._cwd = str(self.workspace)
            self._exported = b""
            self._spawn()
        finally:
            self._lock.release()

    def close(self) -> None:
        """Kill the shell and every process it started, and remove the session's files."""
        self._closed = True
        self._kill_shell()
        shutil.rmtree(self._dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The shell's process id (also its session and process group id), when running."""
        return self._proc.pid if self._proc else None

    # -- commands --------------------------------------------------------------------------

    def run(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run one command in the shell and wait for it.

        On a timeout the processes the command started (in the shell's session or below
        it, started after the command began) are killed; if the shell does not come back
        within a second, every other process of the session is killed too; if it still
        does not come back (a builtin loop), the shell is restarted in its last working
        directory with the exported environment of the last finished command, and the
        output says so.

        Args:
            command: bash source; may span lines, define functions, ``cd`` and ``export``.
            timeout: seconds before the command is killed; the session's default if None.

        Returns:
            The output (stdout and stderr interleaved, cut in the middle when too long),
            the exit status (None after a timeout) and the flags.

        Raises:
            SessionBusy: another command is running.
            RuntimeError: the session was closed.
        """
        if not self._lock.acquire(blocking=False):
            raise SessionBusy("a command is already running in this session; one at a time")
        try:
            return self._run(command, self.timeout if timeout is None else timeout)
        finally:
            self._lock.release()

    def _run(self, command: str, timeout: float) -> CommandResult:
        if self._closed:
            raise RuntimeError("the session is closed")
        if self._proc is None or self._proc.poll() is not None:
            self._respawn()
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        started = time.monotonic()
        mark = proctree.mark(proc.pid)
        fd = os.open(self._command_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, command.encode("utf-8", "surrogateescape") + b"\n")
        finally:
            os.close(fd)
        out = output.OutputBuffer(self.max_output)
        with contextlib.suppress(BrokenPipeError):  # a dead shell: reading finds the pipe's end
            os.write(proc.stdin.fileno(), self._control)
        code, timed_out, note = self._collect(proc, out, started + timeout, mark)
        return CommandResult(
            out.text().replace(self._source_prefix, "bash: ") + note,
            None if timed_out else code,
            timed_out=timed_out,
            truncated=out.truncated,
            duration_s=time.monotonic() - started,
        )

    def _collect(
        self,
        proc: subprocess.Popen[bytes],
        out: output.OutputBuffer,
        deadline: float,
        mark: proctree.Mark,
        *,
        recover: bool = True,
    ) -> tuple[int | None, bool, str]:
        """Read the pipe until the command's record; kill in steps past the deadline.

        Returns:
            The exit status, whether the deadline passed, and a note for the output.
        """
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        carry, self._pending = self._pending, b""
        record: bytearray | None = None
        timed_out = False
        steps = iter(("command", "session", "shell"))
        while True:
            if record is None:
                start = carry.find(self._begin)
                if start >= 0:
                    out.feed(carry[:start])
                    record = bytearray(carry[start + len(self._begin) :])
                    carry = b""
                else:
                    keep = len(self._begin) - 1
                    if len(carry) > keep:
                        out.feed(carry[:-keep])
                        carry = carry[-keep:]
            if record is not None:
                end = record.find(self._end)
                if end >= 0:
                    self._pending = bytes(record[end + len(self._end) :])
                    status_text, cwd, self._exported = bytes(record[:end]).split(b"\0", 2)
                    self._cwd = cwd.decode("utf-8", "surrogateescape")
                    return int(status_text), timed_out, ""
            wait = deadline - time.monotonic()
            if wait <= 0:
                timed_out = True
                step = next(steps)
                if step == "shell":
                    out.feed(carry)
                    if not recover or self._closed:
                        return None, True, ""
                    return None, True, self._recover("was stuck after its timeout")
                killed = self._kill_step(proc.pid, mark if step == "command" else None)
                deadline = time.monotonic() + (_KILL_GRACE_S if killed else 0.0)
                continue
            if not poller.poll(max(1, min(int(wait * 1000) + 1, 2**31 - 1))):
                continue
            chunk = os.read(fd, _READ_SIZE)
            if not chunk:  # the shell exited (``exit``, ``set -e``, ``exec``…)
                out.feed(carry)
                if record is not None:
                    out.feed(bytes(record))
                code = proc.wait()
                note = (
                    ""
                    if not recover or self._closed
                    else self._recover(f"exited with status {code}")
                )
                return code, timed_out, note
            if record is None:
                carry += chunk
            else:
                record += chunk

    def _kill_step(self, shell_pid: int, mark: proctree.Mark | None) -> bool:
        """SIGKILL the session's processes but the shell; with a mark, only the command's
        (`proctree.command_pids`). Whether any was alive."""
        pids = proctree.command_pids(shell_pid, self._tag, mark)
        proctree.kill(pids)
        return bool(pids)

    def _recover(self, why: str) -> str:
        """Restart the shell in its last directory with its last exported environment."""
        cwd = self._live_cwd() or self._cwd
        self._kill_shell()
        self._cwd = cwd
        self._respawn()
        return (
            f"\n[kubegym: the shell {why}; a new shell was started in {cwd} with the exported "
            "environment of the last finished command (shell functions, aliases and options are lost)]\n"
        )

    # -- the shell process -----------------------------------------------------------------

    def _spawn(self) -> None:
        proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.workspace if self.workspace.is_dir() else "/",  # `_respawn` cds back
            env=self._env,
            start_new_session=True,
            bufsize=0,
        )
        self._proc = proc
        self._pending = b""
        begin = "".join(f"\\{b:03o}" for b in self._begin)
        end = "".join(f"\\{b:03o}" for b in self._end)
        init = (
            f'__kubegym_done() {{ builtin printf \'{begin}%d\\000%s\\000\' "$1" "$PWD"; '
            f"builtin export -p; builtin printf '{end}'; return \"$1\"; }}\n"
        )
        assert proc.stdin is not None
        os.write(proc.stdin.fileno(), init.encode())

    def _respawn(self) -> None:
        """Start a new shell and restore the last working directory and exported variables."""
        self._kill_shell()
        if self._closed:
            return
        self._spawn()
        restore = f"builtin cd -- {shlex.quote(self._cwd)} 2>/dev/null\n".encode()
        if _EXPORTS.fullmatch(self._exported):
            restore = (
                b"builtin unset $(builtin compgen -e) 2>/dev/null\n" + self._exported + restore
            )
        self._command_file.write_bytes(restore)
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            os.write(proc.stdin.fileno(), self._control)
        self._collect(
            proc,
            output.OutputBuffer(0),
            time.monotonic() + 10.0,
            proctree.Mark(0, frozenset()),
            recover=False,
        )

    def _live_cwd(self) -> str | None:
        if self._proc is None or self._proc.poll() is not None:
            return None
        try:
            return os.readlink(f"/proc/{self._proc.pid}/cwd")
        except OSError:
            return None

    def _kill_shell(self) -> None:
        """SIGKILL the shell, its process group, its session and its descendants."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # Once the shell is reaped its pid may be reused: walk its children only while it lives
        # (a session or group id is never reused while a member lives, so those stay safe).
        pids = (
            proctree.tree(proc.pid, self._tag)
            if proc.poll() is None
            else proctree.tagged(self._tag)
        )
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proctree.kill(pids)
        proctree.kill(p for p in proctree.session_members(proc.pid) if p != os.getpid())
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


_EXPORTS = re.compile(
    rb'(?:declare -[-a-zA-Z]+ [A-Za-z_][A-Za-z0-9_]*(?:="(?:[^"\\]|\\.)*")?\n)+', re.S
)
"""What ``export -p`` prints: only such text is replayed into a new shell (never stray output)."""


def _fast_tmp() -> str | None:
    """A tmpfs for the session's files when there is one (truncating files on ext4 is slow)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
