"""The local sandbox backend: the command server in a bubblewrap jail, reached over a Unix socket.

`open_sandbox` prepares the jail (`kubegym.sandbox.isolation`), starts
``python -m kubegym.sandbox serve`` inside it with the task's Python, and
returns a client. The jail has no network namespace shared with the host,
so the server listens on a Unix socket in a runtime folder bound into it. A trial with an
egress allowlist gets its host-side proxy's socket bound in too (`EgressRoute`), and the
server starts behind `kubegym.sandbox.relay`, which serves the proxy on the jail's loopback
where the proxy variables (``HTTPS_PROXY``…) point.
Used by the research environment (`kubegym.agent_runner.env`) for every local trial;
`JailBackend` is how `kubegym.sandbox.backends` registers it, as ``bwrap`` and as
``process`` (the same server, no jail).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubegym.sandbox import client as sandbox_client
from kubegym.sandbox import isolation, relay

SOCKET = "sandbox.sock"
TOKEN_FILE = "token"


@dataclass(frozen=True)
class EgressRoute:
    """The way out of a jail with an egress allowlist: its trial's proxy on this machine."""

    folder: Path
    """The host folder holding the proxy's Unix socket, and nothing else (bound read-only)."""

    socket: str
    """The socket's name in that folder."""

    hosts: tuple[str, ...]
    """The trial's allowlist, for the sandbox's description and ``NO_PROXY``."""

    def environment(self) -> dict[str, str]:
        """The proxy variables every HTTP client in the jail reads (curl only the lower-case
        ``http_proxy``, pip and requests either). ``NO_PROXY`` keeps the jail's own loopback
        direct; ``localhost`` goes to the proxy (the host's loopback) only when listed."""
        url = f"http://127.0.0.1:{relay.PORT}"
        direct = "127.0.0.1,::1" if "localhost" in self.hosts else "localhost,127.0.0.1,::1"
        env = {}
        for name in ("HTTP_PROXY", "HTTPS_PROXY"):
            env[name] = env[name.lower()] = url
        env["NO_PROXY"] = env["no_proxy"] = direct
        return env


@dataclass(frozen=True)
class SandboxRequest:
    """What one trial's local sandbox needs."""

    name: str
    """The trial's id, for logs and the cgroup's name."""

    workspace: Path
    """The host folder the agent works in (the only writable place)."""

    python_root: Path | None = None
    """The task's venv, bound read-only at the same path and first on PATH."""

    read_only: Sequence[tuple[Path, str]] = ()
    """``(host path, sandbox path)`` of the agent's datasets."""

    forbidden: Sequence[Path] = ()
    """Host paths that must never be visible: the evaluation script, the hidden data."""

    masked: Sequence[Path] = ()
    """System paths to hide inside (a Debian package's copy of a data set, say)."""

    network: str = "none"
    """``none`` or ``egress``."""

    memory_bytes: int | None = None
    cpus: float | None = None
    pids: int | None = 4096
    disk_bytes: int | None = None
    """The most the workspace (and /tmp) may hold: the task's ephemeral storage."""
    command_timeout: float | None = None
    """The default timeout of one command (the task's training timeout)."""

    env: Mapping[str, str] = field(default_factory=dict)

    egress: EgressRoute | None = None
    """The trial's egress proxy, when its allowlist is not empty (``network`` ``none`` only;
    the ``process`` backend ignores it: it has the host's network anyway)."""


class LocalSandbox:
    """A running local sandbox: its client, its jail, and how to stop it."""

    def __init__(
        self,
        request: SandboxRequest,
        jail: isolation.Jail,
        server: sandbox_client.ServerProcess,
        runtime_dir: Path,
    ):
        self.request = request
        self.jail = jail
        self.server = server
        self.client = server.client(timeout=(request.command_timeout or 1800) + 60)
        self._runtime_dir = runtime_dir
        self._memory_kills = 0
        self._pids_refusals = 0
        self._disk_full = False

    def limit_events(self) -> list[str]:
        """Limits hit since the last call, in words for the agent (cgroup limits, disk quota)."""
        events = self._disk_events()
        cgroup = self.jail.cgroup
        if cgroup is None:
            return events
        kills, refusals = cgroup.memory_kills() or 0, cgroup.pids_refusals() or 0
        if kills > self._memory_kills:
            events.append(
                f"A process was killed because the sandbox ran out of memory "
                f"(limit: {self.request.memory_bytes} bytes). Use less memory."
            )
        if refusals > self._pids_refusals:
            events.append(
                f"The sandbox reached its limit of {self.request.pids} processes; "
                "some could not be started."
            )
        self._memory_kills, self._pids_refusals = kills, refusals
        return events

    def _disk_events(self) -> list[str]:
        """One event each time the workspace fills up (or, unenforced, grows past its quota)."""
        disk = self.jail.disk
        if disk is None:
            return []
        full = disk.exceeded()
        told, self._disk_full = self._disk_full, full
        if not full or told:
            return []
        if disk.mechanism == "unenforced":
            return [
                f"The workspace holds more than its disk quota of {disk.limit_bytes} bytes "
                "(the task's ephemeral storage). Delete files you do not need."
            ]
        return [
            f"The workspace is full: it may hold at most {disk.limit_bytes} bytes (the task's "
            "ephemeral storage), and writes fail with 'No space left on device'. "
            "Delete files you do not need."
        ]

    def describe(self) -> dict[str, Any]:
        """The jail's description, for the trajectory."""
        described = self.jail.describe()
        route = self.request.egress
        if route is not None and self.jail.isolated:
            described["egress"] = {"hosts": list(route.hosts), "proxy": f"127.0.0.1:{relay.PORT}"}
        return described

    def close(self) -> None:
        """Stop the server and everything it started; remove the jail (idempotent)."""
        # Each step runs even when an earlier one fails: a jail left behind keeps its
        # processes, its cgroup and its mounted workspace image.
        try:
            self.client.close()
            self.server.stop()
        finally:
            try:
                self.jail.cleanup()
            finally:
                shutil.rmtree(self._runtime_dir, ignore_errors=True)


def open_sandbox(request: SandboxRequest, backend: isolation.Backend = "bwrap") -> LocalSandbox:
    """Start a sandbox for one trial.

    Raises:
        ConfigError: bubblewrap is missing or unusable (with how to install it), or
            the request is wrong.
        InfraError: the server did not start (``SandboxStartFailed``).
    """
    runtime_dir = Path(tempfile.mkdtemp(prefix="kubegym-run-"))
    runtime_dir.chmod(0o755)  # the server inside runs as another uid and must reach its socket
    read_only: list[tuple[str, str]] = [(str(h), t) for h, t in request.read_only]
    env = dict(request.env)
    python = "python3"
    if request.python_root is not None:
        # The task's venv and the interpreter it was made from; nothing of kubegym's own venv.
        read_only.append((str(request.python_root), str(request.python_root)))
        base = _venv_base(request.python_root)
        if base is not None:
            read_only.append((str(base), str(base)))
        env["PATH"] = f"{request.python_root / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        env["VIRTUAL_ENV"] = str(request.python_root)
        python = str(request.python_root / "bin" / "python")
    if backend == "process":
        # No jail binds the kubegym package at /opt/kubegym: import it from where it is.
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    route = request.egress if backend == "bwrap" and request.network == "none" else None
    if route is not None:
        env.update(route.environment())
    spec = isolation.IsolationSpec(
        workspace=request.workspace,
        runtime_dir=runtime_dir,
        read_only=read_only,
        network="egress" if request.network == "egress" else "none",
        memory_bytes=request.memory_bytes,
        cpus=request.cpus,
        pids=request.pids,
        disk_bytes=request.disk_bytes,
        env=env,
        forbidden=[str(p) for p in request.forbidden],
        masked=[str(p) for p in request.masked],
        name=request.name,
        bind_python=request.python_root is None,
        egress_proxy=route.folder if route is not None else None,
    )
    jail = isolation.prepare(spec, backend)
    popen = jail.popen if route is None else _behind_relay(jail, python, route)
    try:
        inside_runtime = isolation.RUNTIME if jail.isolated else str(runtime_dir)
        inside_workspace = isolation.WORKSPACE if jail.isolated else str(request.workspace)
        token = secrets.token_urlsafe(32)
        token_file = runtime_dir / TOKEN_FILE
        token_file.write_text(token)
        token_file.chmod(0o644)
        server = sandbox_client.start_server(
            workspace=inside_workspace,
            token=token,
            token_file=f"{inside_runtime}/{TOKEN_FILE}",
            unix_path=runtime_dir / SOCKET,
            server_unix_path=f"{inside_runtime}/{SOCKET}",
            timeout=request.command_timeout,
            python=python,
            popen=popen,
        )
        # The server has read its token: nothing inside needs the file any more.
        token_file.unlink(missing_ok=True)
    except BaseException:
        jail.cleanup()
        shutil.rmtree(runtime_dir, ignore_errors=True)
        raise
    return LocalSandbox(request, jail, server, runtime_dir)


class JailBackend:
    """`open_sandbox` with one isolation backend, as `kubegym.sandbox.backends` holds it.

    Args:
        backend: ``bwrap`` (a bubblewrap jail) or ``process`` (no isolation: it warns).
    """

    def __init__(self, backend: isolation.Backend) -> None:
        self.backend: isolation.Backend = backend

    def check(self) -> None:
        """Raises ConfigError when bubblewrap is missing or unusable (``process``: never)."""
        isolation.check_available(self.backend)

    def open(self, request: SandboxRequest) -> LocalSandbox:
        """A jail for ``request``, its command server started (`open_sandbox`)."""
        return open_sandbox(request, self.backend)


def _behind_relay(
    jail: isolation.Jail, python: str, route: EgressRoute
) -> Callable[..., subprocess.Popen[bytes]]:
    """`Jail.popen` with the server started behind the relay, in the server's own network
    namespace (each `Jail.popen` gets a namespace of its own, so it must be the same process)."""
    proxy_socket = f"{isolation.EGRESS_DIR}/{route.socket}"

    def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        front = [python, "-m", "kubegym.sandbox.relay", "--port", str(relay.PORT)]
        return jail.popen([*front, "--socket", proxy_socket, "--", *argv], **kwargs)

    return popen


def _venv_base(venv: Path) -> Path | None:
    """The prefix of the interpreter a venv was made from (``home`` in its pyvenv.cfg)."""
    config = venv / "pyvenv.cfg"
    if not config.is_file():
        return None
    for line in config.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            return Path(value.strip()).parent
    return None
