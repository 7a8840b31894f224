"""The sandbox command server: the one process that runs inside every sandbox.

It serves the HTTP API described in ``openapi.yaml`` (beside this module) on a TCP port or a
Unix socket, with one persistent bash `kubegym.sandbox.session.Session` per server (one server
per trial) and file reads, writes and listings. ``python -m kubegym.sandbox serve`` starts it
(see `kubegym.sandbox.__main__`); `kubegym.sandbox.client` speaks to it. Standard library only.

File contents travel as base64 inside JSON (``content_b64``). Paths are relative to the
workspace, or absolute (the sandbox itself is the jail). Commands run one at a time: a second
``/v1/exec`` while one runs gets 409, it is not queued.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import posixpath
import signal
import socketserver
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kubegym.sandbox import httpapi
from kubegym.sandbox import session as session_mod
from kubegym.sandbox.httpapi import ApiError, Payload
from kubegym.sandbox.protocol import CommandResult

API_VERSION = "v1"
MAX_REQUEST_BYTES = 256 * 1024 * 1024
"""The largest request body accepted (a base64 file of about 190 MiB)."""
MAX_READ_BYTES = 128 * 1024 * 1024
"""The largest file ``/v1/files/read`` returns; read bigger ones in parts with ``exec``."""
DEFAULT_MAX_ENTRIES = 10_000
"""How many entries ``/v1/files/list`` returns unless the request asks for another cap."""


@dataclass(frozen=True)
class ServerConfig:
    """How one sandbox server runs; built from ``python -m kubegym.sandbox serve`` flags."""

    workspace: Path
    """The folder relative paths and the shell start from."""
    token: str
    """The bearer token every request but ``GET /healthz`` must carry."""
    host: str = "127.0.0.1"
    """The address to listen on (``0.0.0.0`` in a pod), unless ``unix`` is set."""
    port: int = 0
    """The TCP port; 0 picks a free one (the ready line says which)."""
    unix: str | None = None
    """A Unix socket path to listen on instead of TCP."""
    timeout: float = session_mod.DEFAULT_TIMEOUT_S
    """The default timeout of a command, in seconds."""
    max_output: int = session_mod.DEFAULT_MAX_OUTPUT
    """How many bytes of a command's output are kept (head and tail)."""


class SandboxApp:
    """The API's behaviour, apart from HTTP: one session, one workspace, one token.

    Args:
        config: the server's settings.
        session: the shell; a new `Session` in the workspace by default.
    """

    def __init__(self, config: ServerConfig, session: session_mod.Session | None = None) -> None:
        self.config = config
        self.workspace = config.workspace
        self.session = session or session_mod.Session(
            config.workspace, timeout=config.timeout, max_output=config.max_output
        )
        self._token = config.token.encode()
        self._umask = _current_umask()

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the server's bearer token."""
        return httpapi.bearer_matches(header, self._token)

    # -- endpoints ---------------------------------------------------------------------------

    def healthz(self, body: Payload) -> Payload:
        """Liveness; needs no token."""
        return {"ok": True, "api": API_VERSION}

    def exec(self, body: Payload) -> Payload:
        """Run a command in the persistent shell."""
        command = httpapi.require(body, "command", str)
        timeout = body.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise ApiError(400, "bad_request", "must be a positive number of seconds", "timeout")
        try:
            result = self.session.run(command, None if timeout is None else float(timeout))
        except session_mod.SessionBusy as exc:
            raise ApiError(409, "busy", f"{exc}: wait for the running command to finish") from exc
        return _result_body(result)

    def read_file(self, body: Payload) -> Payload:
        """Return a file's bytes, base64-encoded."""
        path = self._path(body)
        with _file_errors(body["path"]), open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_READ_BYTES:
                raise ApiError(
                    413,
                    "too_large",
                    f"{body['path']} is {size} bytes, more than the {MAX_READ_BYTES} bytes "
                    "/v1/files/read returns; read it in parts with exec (head -c, split, tar)",
                    "path",
                )
            data = f.read(MAX_READ_BYTES + 1)
        return {"path": body["path"], "size": len(data), "content_b64": _b64(data)}

    def write_file(self, body: Payload) -> Payload:
        """Create or atomically replace a file, making its parent folders."""
        path = self._path(body)
        encoded = httpapi.require(body, "content_b64", str)
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, "bad_request", f"not valid base64: {exc}", "content_b64") from exc
        with _file_errors(body["path"]):
            if path.is_dir():
                raise IsADirectoryError(str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except FileNotFoundError:
                mode = 0o666 & ~self._umask
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    os.fchmod(f.fileno(), mode)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return {"path": body["path"], "size": len(data)}

    def list_files(self, body: Payload) -> Payload:
        """List a folder's entries (recursively on request), at most ``max_entries``."""
        body.setdefault("path", ".")
        path = self._path(body)
        recursive = body.get("recursive", False)
        if not isinstance(recursive, bool):
            raise ApiError(400, "bad_request", "must be true or false", "recursive")
        cap = body.get("max_entries", DEFAULT_MAX_ENTRIES)
        if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
            raise ApiError(400, "bad_request", "must be a positive integer", "max_entries")
        entries: list[Payload] = []
        with _file_errors(body["path"]):
            if not path.is_dir():
                os.stat(path)  # FileNotFoundError when missing
                raise NotADirectoryError(str(path))
            truncated = _walk(path, body["path"], recursive, cap, entries)
        return {"path": body["path"], "entries": entries, "truncated": truncated}

    def restart(self, body: Payload) -> Payload:
        """Kill the shell and everything it started; start a fresh one in the workspace."""
        try:
            self.session.restart()
        except session_mod.SessionBusy as exc:
            raise ApiError(409, "busy", str(exc)) from exc
        return {"ok": True}

    def _path(self, body: Payload) -> Path:
        raw: str = httpapi.require(body, "path", str)
        if not raw or "\0" in raw:
            raise ApiError(400, "bad_request", "must be a non-empty path without NUL bytes", "path")
        return self.workspace / raw


ROUTES: dict[tuple[str, str], Callable[[SandboxApp, Payload], Payload]] = {
    ("GET", "/healthz"): SandboxApp.healthz,
    ("POST", "/v1/exec"): SandboxApp.exec,
    ("POST", "/v1/files/read"): SandboxApp.read_file,
    ("POST", "/v1/files/write"): SandboxApp.write_file,
    ("POST", "/v1/files/list"): SandboxApp.list_files,
    ("POST", "/v1/session/restart"): SandboxApp.restart,
}
"""Every route the server serves; the OpenAPI file lists exactly these (a test checks)."""

# -- HTTP ------------------------------------------------------------------------------------


class _Handler(httpapi.JsonHandler):
    server_version = "kubegym-sandbox"
    realm = "kubegym-sandbox"
    routes = ROUTES
    max_request_bytes = MAX_REQUEST_BYTES
    app: SandboxApp


class _UnixHandler(_Handler):
    disable_nagle_algorithm = False  # TCP_NODELAY does not exist on Unix sockets


class _TCPServer(httpapi.ThreadingTCPServer):
    pass


class _UnixServer(httpapi.ThreadingUnixServer):
    pass


def make_http_server(app: SandboxApp) -> socketserver.BaseServer:
    """Bind the HTTP server for ``app`` (TCP or Unix socket), ready for ``serve_forever``.

    Raises:
        OSError: the address cannot be bound (port in use, folder missing…).
    """
    config = app.config
    handler: type[_Handler]
    server: socketserver.BaseServer
    if config.unix:
        handler = type("Handler", (_UnixHandler,), {"app": app})
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(config.unix).st_mode):
                os.unlink(config.unix)  # a stale socket from a killed server
        server = _UnixServer(config.unix, handler)
        # Clients may run as another uid (a jail's user namespace); the token guards the socket.
        os.chmod(config.unix, 0o666)
    else:
        handler = type("Handler", (_Handler,), {"app": app})
        server = _TCPServer((config.host, config.port), handler)
    return server


def serve(config: ServerConfig) -> int:
    """Start the session, bind, print the ready line, serve until SIGTERM or SIGINT.

    Returns:
        The process exit status (0 after a clean stop).
    """
    app = SandboxApp(config)
    app.session.start()
    server = make_http_server(app)
    if config.unix:
        ready: Payload = {"ready": True, "unix": config.unix}
    else:
        assert isinstance(server, _TCPServer)
        ready = {"ready": True, "port": server.server_address[1]}
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True
    )
    thread.start()
    print(json.dumps(ready), flush=True)
    try:
        stop.wait()
    finally:
        app.session.close()
        server.shutdown()
        server.server_close()
        if config.unix:
            with contextlib.suppress(OSError):
                os.unlink(config.unix)
    return 0


# -- helpers ---------------------------------------------------------------------------------


def _result_body(result: CommandResult) -> Payload:
    return {
        "output": result.output,
        "exit_code": result.exit_code,
        "timed_out": result.timed_out,
        "truncated": result.truncated,
        "duration_s": round(result.duration_s, 6),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def _file_errors(shown: str) -> Iterator[None]:
    """Turn OS errors about ``shown`` into API errors the client maps back to exceptions."""
    try:
        yield
    except FileNotFoundError as exc:
        raise ApiError(404, "not_found", f"no such file or folder: {shown}", "path") from exc
    except IsADirectoryError as exc:
        raise ApiError(400, "is_a_directory", f"{shown} is a folder", "path") from exc
    except NotADirectoryError as exc:
        raise ApiError(400, "not_a_directory", f"{shown} is not a folder", "path") from exc
    except FileExistsError as exc:  # mkdir met a file where a parent folder should be
        raise ApiError(400, "not_a_directory", f"a parent of {shown} is a file", "path") from exc
    except PermissionError as exc:
        raise ApiError(403, "forbidden", f"permission denied: {shown}", "path") from exc


def _walk(root: Path, shown: str, recursive: bool, cap: int, entries: list[Payload]) -> bool:
    """Fill ``entries`` depth-first in name order; True when the cap cut the listing."""
    stack = [(_scan(root, must=True), shown)]
    while stack:
        items, prefix = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        if len(entries) >= cap:
            return True
        name = posixpath.normpath(posixpath.join(prefix, item.name))
        kind, size = _kind(item)
        entries.append({"path": name, "kind": kind, "size": size})
        if recursive and kind == "dir":
            stack.append((_scan(Path(item.path)), name))
    return False


def _scan(folder: Path, must: bool = False) -> Iterator[os.DirEntry[str]]:
    """A folder's entries sorted by name; nothing for a vanished or unreadable sub-folder."""
    try:
        with os.scandir(folder) as it:
            return iter(sorted(it, key=lambda e: e.name))
    except OSError:
        if must:
            raise
        return iter(())


def _kind(item: os.DirEntry[str]) -> tuple[str, int]:
    try:
        info = item.stat(follow_symlinks=False)
    except OSError:
        return "other", 0
    if stat.S_ISLNK(info.st_mode):
        return "link", info.st_size
    if stat.S_ISDIR(info.st_mode):
        return "dir", 0
    if stat.S_ISREG(info.st_mode):
        return "file", info.st_size
    return "other", 0
