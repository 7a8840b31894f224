"""The client of the sandbox command server, and a helper that starts a server as a child.

The agent runner and the evaluator hold a `SandboxClient` (it implements
`kubegym.sandbox.protocol.Sandbox`); the local backend and the tests start servers with
`start_server`. One keep-alive HTTP connection per client, over TCP
(``http://127.0.0.1:PORT``) or a Unix socket (``unix:///path/to.sock``). Standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

from kubegym.errors import InfraError, KubegymError
from kubegym.sandbox.protocol import CommandResult, FileEntry
from kubegym.sandbox.session import TOKEN_ENV

_RESPONSE_MARGIN_S = 60.0
"""How much longer than a command's timeout the client waits for the server's answer."""


class SandboxError(KubegymError):
    """The sandbox server refused or failed a request; the message is the server's.

    Args:
        message: the server's explanation.
        status: the HTTP status.
        code: the server's error code (``bad_request``, ``busy``, ``unauthorized``…).
        field: the request field at fault, when the server named one.
    """

    def __init__(self, message: str, *, status: int = 0, code: str = "", field: str | None = None):
        self.status = status
        self.code = code
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class SandboxBusy(SandboxError):
    """A command is already running in the sandbox's shell (HTTP 409); commands run one at a time."""


@dataclass(frozen=True)
class Listing:
    """A folder listing, with whether the server's entry cap cut it."""

    entries: list[FileEntry]
    truncated: bool


class SandboxClient:
    """Speaks to one sandbox server over one keep-alive connection.

    Args:
        address: ``http://HOST:PORT`` or ``unix:///path/to.sock``.
        token: the server's bearer token.
        timeout: seconds to wait for the server on requests other than ``exec``.

    Raises:
        ValueError: the address is neither form.
    """

    def __init__(self, address: str, token: str, *, timeout: float = 300.0) -> None:
        self.address = address
        self.timeout = timeout
        self._headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
        }
        self._conn: http.client.HTTPConnection | None = None
        self._used = False
        if address.startswith("unix://"):
            self._unix: str | None = address[len("unix://") :]
            self._host, self._port = "localhost", 0
        elif address.startswith("http://"):
            self._unix = None
            host, _, port = address[len("http://") :].rstrip("/").rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"sandbox address {address!r}: write http://HOST:PORT")
            self._host, self._port = host.strip("[]"), int(port)
        else:
            raise ValueError(
                f"sandbox address {address!r}: write http://HOST:PORT or unix:///path/to.sock"
            )

    # -- the Sandbox protocol ----------------------------------------------------------------

    def exec(self, command: str, timeout: float | None = None) -> CommandResult:
        """Run a command in the sandbox's persistent shell (cwd and env carry over).

        Args:
            command: bash source.
            timeout: seconds before the server kills it; the server's default if None.

        Raises:
            SandboxBusy: another command is running.
            SandboxError: the server refused the request.
            InfraError: the server cannot be reached (reason ``SandboxUnreachable``).
        """
        body: dict[str, Any] = {"command": command}
        if timeout is not None:
            body["timeout"] = timeout
        wait = None if timeout is None else timeout + _RESPONSE_MARGIN_S
        answer = self._request("POST", "/v1/exec", body, wait)
        return CommandResult(
            output=answer["output"],
            exit_code=answer["exit_code"],
            timed_out=answer["timed_out"],
            truncated=answer["truncated"],
            duration_s=answer["duration_s"],
        )

    def read_file(self, path: str) -> bytes:
        """The bytes of a file. Raises FileNotFoundError or IsADirectoryError."""
        answer = self._request("POST", "/v1/files/read", {"path": path})
        return base64.b64decode(answer["content_b64"])

    def write_file(self, path: str, data: bytes) -> None:
        """Create or atomically replace a file, making parent folders."""
        content = base64.b64encode(data).decode("ascii")
        self._request("POST", "/v1/files/write", {"path": path, "content_b64": content})

    def list_files(self, path: str = ".", recursive: bool = False) -> list[FileEntry]:
        """The entries under a folder (at most the server's cap; see `list_directory`).

        Raises:
            FileNotFoundError: the folder does not exist.
            NotADirectoryError: the path is a file.
        """
        return self.list_directory(path, recursive).entries

    def close(self) -> None:
        """Close the connection; the next request opens a new one."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- more than the protocol --------------------------------------------------------------

    def list_directory(
        self, path: str = ".", recursive: bool = False, max_entries: int | None = None
    ) -> Listing:
        """A folder listing with its truncation flag. Entry paths are as you would pass them
        back: under ``path`` as given (relative to the workspace, or absolute)."""
        body: dict[str, Any] = {"path": path, "recursive": recursive}
        if max_entries is not None:
            body["max_entries"] = max_entries
        answer = self._request("POST", "/v1/files/list", body)
        entries = [
            FileEntry(
                e["path"], cast(Literal["file", "dir", "link", "other"], e["kind"]), e["size"]
            )
            for e in answer["entries"]
        ]
        return Listing(entries, answer["truncated"])

    def restart_session(self) -> None:
        """Kill the shell and all it started; a fresh shell starts in the workspace."""
        self._request("POST", "/v1/session/restart", {})

    def healthz(self) -> dict[str, Any]:
        """The server's liveness answer (needs no token)."""
        return self._request("GET", "/healthz", None)

    def __enter__(self) -> SandboxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP --------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._unix is not None:
                self._conn = _UnixConnection(self._unix, self.timeout)
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout
                )
            self._used = False
        return self._conn

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, wait: float | None = -1.0
    ) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        timeout = self.timeout if wait == -1.0 else wait
        for attempt in (1, 2):
            conn = self._connection()
            reused = self._used
            try:
                conn.timeout = timeout
                if conn.sock is not None:
                    conn.sock.settimeout(timeout)
                conn.request(method, path, body=data, headers=self._headers)
                response = conn.getresponse()
                raw = response.read()
                self._used = True
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if attempt == 1 and reused:
                    continue  # the server closed an idle keep-alive connection: reconnect once
                raise InfraError("SandboxUnreachable", f"{self.address}: {exc!r}") from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise InfraError(
                    "SandboxUnreachable",
                    f"{self.address}: {exc!r} (is the sandbox server running?)",
                ) from exc
        if response.will_close:
            self.close()
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise SandboxError(
                f"the server answered {response.status} with a body that is not JSON",
                status=response.status,
            ) from exc
        if response.status >= 400:
            raise _error(response.status, answer)
        return cast(dict[str, Any], answer)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _error(status: int, answer: Any) -> Exception:
    """The exception for an error answer: file errors map to Python's own."""
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    code = str(error.get("code", ""))
    message = str(error.get("message", f"HTTP {status}"))
    field = error.get("field")
    if code == "not_found":
        return FileNotFoundError(message)
    if code == "is_a_directory":
        return IsADirectoryError(message)
    if code == "not_a_directory":
        return NotADirectoryError(message)
    if code == "forbidden":
        return PermissionError(message)
    if code == "busy":
        return SandboxBusy(message, status=status, code=code, field=field)
    if code == "unauthorized":
        message = f"{message} (the client's token does not match the server's)"
    return SandboxError(message, status=status, code=code, field=field)


# -- starting a server -----------------------------------------------------------------------


class ServerProcess:
    """A sandbox server started by `start_server`; stop it with `stop` (or ``with``)."""

    def __init__(
        self, process: subprocess.Popen[bytes], address: str, token: str, log: IO[bytes]
    ) -> None:
        self.process = process
        self.address = address
        self._token = token
        self._log = log

    @property
    def pid(self) -> int:
        """The process id of the started command (the server, or the wrapper around it)."""
        return self.process.pid

    def client(self, timeout: float = 300.0) -> SandboxClient:
        """A new client of this server."""
        return SandboxClient(self.address, self._token, timeout=timeout)

    def log(self) -> str:
        """What the server wrote to its standard error so far."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM the server (it kills its shell's processes), SIGKILL after ``timeout``.

        Returns:
            The server's exit status.
        """
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    argv_prefix: Sequence[str] = (),
    *,
    workspace: str | Path,
    token: str,
    token_file: str | Path | None = None,
    unix_path: str | Path | None = None,
    server_unix_path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float | None = None,
    max_output: int | None = None,
    env: Mapping[str, str] | None = None,
    python: str = sys.executable,
    popen: Callable[..., subprocess.Popen[bytes]] | None = None,
    ready_timeout: float = 30.0,
) -> ServerProcess:
    """Start ``python -m kubegym.sandbox serve`` as a child and wait for its ready line.

    Args:
        argv_prefix: a wrapper to run the server in, such as ``["bwrap", …]``; none by default.
        workspace: the workspace as the server sees it (inside the wrapper).
        token: the bearer token, for the clients; unless ``token_file`` is given it reaches the
            server in ``KUBEGYM_SANDBOX_TOKEN``, never on the command line.
        token_file: a file holding the token, as the server sees it (``--token-file``); the
            server has read it once the ready line comes, so the caller may delete it then.
        unix_path: serve on this Unix socket (as this process sees it) instead of TCP.
        server_unix_path: the same socket as the server sees it, when a wrapper moves it.
        host: the TCP address to listen on.
        port: the TCP port; 0 picks a free one.
        timeout: the default command timeout, in seconds (the server's default if None).
        max_output: bytes of output kept per command (the server's default if None).
        env: the server's environment (and so the shell's); this process's by default.
        python: the interpreter that runs the server (inside the wrapper).
        popen: starts the command instead of `subprocess.Popen`, called as
            ``popen(argv, stdout=…, stderr=…)``; a jail's launcher, which sets the environment
            itself (so ``env`` is not passed and the token must come by ``token_file``).
        ready_timeout: seconds to wait for the ready line.

    Returns:
        The running server.

    Raises:
        ValueError: ``popen`` without ``token_file`` (the token would have no way in).
        InfraError: the server exited or did not print its ready line in time (reason
            ``SandboxStartFailed``; the message holds its standard error).
    """
    argv = [*argv_prefix, python, "-m", "kubegym.sandbox", "serve", "--workspace", str(workspace)]
    argv += _listen_options(unix_path, server_unix_path, host=host, port=port)
    if token_file is not None:
        argv += ["--token-file", str(token_file)]
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    if max_output is not None:
        argv += ["--max-output", str(max_output)]
    log = tempfile.TemporaryFile()  # noqa: SIM115 - ServerProcess owns and closes it
    process = _launch(argv, log, token=token, token_file=token_file, env=env, popen=popen)
    ready = _await_ready(process, argv, log, ready_timeout)
    if unix_path is not None:
        address = f"unix://{unix_path}"
    else:
        shown = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)
        address = f"http://{shown}:{ready['port']}"
    return ServerProcess(process, address, token, log)


def _listen_options(
    unix_path: str | Path | None, server_unix_path: str | Path | None, *, host: str, port: int
) -> list[str]:
    """The server's options for where to listen: a Unix socket (as it sees it), else TCP."""
    if unix_path is not None:
        return ["--unix", str(server_unix_path or unix_path)]
    return ["--host", host, "--port", str(port)]


def _launch(
    argv: list[str],
    log: IO[bytes],
    *,
    token: str,
    token_file: str | Path | None,
    env: Mapping[str, str] | None,
    popen: Callable[..., subprocess.Popen[bytes]] | None,
) -> subprocess.Popen[bytes]:
    """Start the server, its output piped and its errors to `log`, the token in its environment.

    A `popen` launcher sets the environment itself, so the token must come by `token_file`.

    Raises:
        ValueError: `popen` without `token_file` (`log` is closed first).
    """
    if popen is not None:
        if token_file is None:
            log.close()
            raise ValueError("start_server(popen=…) needs token_file: the launcher sets the env")
        return popen(argv, stdout=subprocess.PIPE, stderr=log)
    child_env = dict(os.environ if env is None else env)
    if token_file is None:
        child_env[TOKEN_ENV] = token
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log, env=child_env)


def _await_ready(
    process: subprocess.Popen[bytes], argv: list[str], log: IO[bytes], timeout: float
) -> dict[str, Any]:
    """The server's ready line; if it does not come, the server is stopped and its log told.

    Raises:
        InfraError: ``SandboxStartFailed``, with the end of the server's standard error.
    """
    try:
        return _read_ready_line(process, timeout)
    except InfraError:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.seek(0)
        detail = log.read().decode("utf-8", "replace").strip()[-4000:]
        log.close()
        if process.stdout is not None:
            process.stdout.close()
        raise InfraError(
            "SandboxStartFailed", f"{' '.join(argv)} did not start: {detail or 'no output'}"
        ) from None


def _read_ready_line(process: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The server's first line of output, parsed; InfraError if it does not come."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise InfraError("SandboxStartFailed", f"no ready line within {timeout} s")
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise InfraError("SandboxStartFailed", f"exited with status {process.wait()}")
            line += chunk
    try:
        ready = json.loads(line)
    except ValueError:
        ready = None
    if not isinstance(ready, dict) or ready.get("ready") is not True:
        raise InfraError("SandboxStartFailed", f"unexpected first line {line[:200]!r}")
    return ready
