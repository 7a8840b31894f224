"""The HTTP plumbing shared by kubegym's small JSON servers: routes, a bearer token, JSON errors.

The sandbox command server (`kubegym.sandbox.server`) and the evaluator server
(`kubegym.evaluator.server`) each declare a route table and an app object; `JsonHandler`
dispatches requests to them over a threading HTTP/1.1 server, checks the token with
`hmac.compare_digest`, and answers every outcome, errors included, as JSON.

Both servers face untrusted clients (agent code reaches the sandbox server's socket; an
external agent holds the evaluator's address), so the plumbing resists abuse before any route
runs: a connection idle past `JsonHandler.timeout` is closed, a request whose head or body
trickles in slower than allowed is cut off (one reaper thread per server, not one timer per
connection), connections past `GuardedServer.max_connections` get a 503 at once, and a body's
length is checked before the token and before one byte of it is read: over the server's limit
is 413, and a request without the token never has more than `UNAUTHENTICATED_BODY_BYTES` read.
Standard library only: it runs in task images without dependencies.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

Payload = dict[str, Any]
Route = Callable[[Any, Payload], Payload]
"""An endpoint: called with the app and the request's JSON body (``{}`` for GET)."""

DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
UNAUTHENTICATED_BODY_BYTES = 64 * 1024
"""The most of a body read from a request without the token (to keep its connection usable);
a longer one is answered without being read and its connection closed."""
IDLE_TIMEOUT_S = 60.0
"""A connection that sends nothing for this long (between or inside requests) is closed."""
MIN_BODY_RATE = 1024 * 1024
"""Bytes per second a body must arrive at, on top of `JsonHandler.timeout`, or it is cut off."""
MAX_CONNECTIONS = 64
"""Open connections a server serves at once; more are answered 503 and closed."""


class ApiError(Exception):
    """An error answered as JSON: ``{"error": {"code", "message", "field"}}``.

    Args:
        status: the HTTP status.
        code: a short machine-readable cause (``bad_request``, ``not_found``…).
        message: what went wrong and what to do, for a person or a model.
        field: the request field at fault, when there is one.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


def bearer_matches(header: str | None, token: bytes) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (compared in constant time)."""
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token)


def require(body: Payload, name: str, kind: type) -> Any:
    """The body's field ``name``, which must be a ``kind``; a 400 naming the field otherwise."""
    if name not in body:
        raise ApiError(400, "bad_request", "is required", name)
    value = body[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError(400, "bad_request", f"must be a {kind.__name__}", name)
    return value


class JsonHandler(BaseHTTPRequestHandler):
    """Dispatches a request to ``routes`` on ``app``; subclass it and set the class attributes.

    ``app`` must have ``authorized(header: str | None) -> bool``; every route not in
    ``open_routes`` needs it to say yes.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    app: Any
    routes: ClassVar[Mapping[tuple[str, str], Route]] = {}
    open_routes: ClassVar[frozenset[tuple[str, str]]] = frozenset({("GET", "/healthz")})
    realm: ClassVar[str] = "kubegym"
    """Names the server in the ``WWW-Authenticate`` header and in its error lines."""
    max_request_bytes: ClassVar[int] = DEFAULT_MAX_REQUEST_BYTES
    unauthenticated_body_bytes: ClassVar[int] = UNAUTHENTICATED_BODY_BYTES
    timeout: ClassVar[float | None] = IDLE_TIMEOUT_S
    """Seconds a connection may stay silent; also the time a request's head may take."""

    def handle_one_request(self) -> None:
        # Waiting for (and reading) a request's head: it has `timeout` seconds in all, so a
        # head trickled in one byte at a time is cut off too, not only a silent connection.
        self._deadline(self.timeout)
        super().handle_one_request()

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _deadline(self, seconds: float | None) -> None:
        guard = getattr(self.server, "set_deadline", None)
        if guard is not None:
            guard(self.connection, seconds)

    def _dispatch(self) -> None:
        try:
            status, payload = 200, self._answer()
        except ApiError as exc:
            status, payload = exc.status, exc.body()
        except Exception as exc:
            print(f"{self.realm}: {self.command} {self.path} failed: {exc!r}", file=sys.stderr)
            status = 500
            payload = ApiError(500, "internal", f"the {self.realm} server failed: {exc!r}").body()
        data = json.dumps(payload).encode()
        self._deadline(self.timeout)  # a client that never reads its answer is cut off too
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", f'Bearer realm="{self.realm}"')
        self.end_headers()
        self.wfile.write(data)

    def _answer(self) -> Payload:
        route = self.path.split("?", 1)[0]
        key = (self.command, route)
        handler = self.routes.get(key)
        # The length first: nothing of a body is read before it and the token are checked.
        length = self._length()
        if length > self.max_request_bytes:
            self.close_connection = True
            raise ApiError(413, "too_large", f"the body is over {self.max_request_bytes} bytes")
        if handler is None:
            self._skip_body(length)
            if any(path == route for _, path in self.routes):
                raise ApiError(405, "method_not_allowed", f"{route} does not take {self.command}")
            raise ApiError(404, "no_route", f"no such endpoint: {route}; see openapi.yaml")
        if key not in self.open_routes and not self.app.authorized(
            self.headers.get("Authorization")
        ):
            self._skip_body(length)
            raise ApiError(401, "unauthorized", "send the header 'Authorization: Bearer <token>'")
        body = self._body(length) if self.command == "POST" else {}
        self._deadline(None)  # the request is in: the route may take as long as it needs
        return handler(self.app, body)

    def _length(self) -> int:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise ApiError(411, "length_required", "send the body with a Content-Length header")
        try:
            return max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError as exc:
            self.close_connection = True
            raise ApiError(400, "bad_request", "Content-Length is not a number") from exc

    def _skip_body(self, length: int) -> None:
        """Drop a refused request's body: a short one is read (the connection stays usable),
        a longer one is never read and the connection closes after the answer."""
        if length > self.unauthenticated_body_bytes:
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    def _body(self, length: int) -> Payload:
        # The body has the idle timeout plus the time it takes at MIN_BODY_RATE, in all.
        self._deadline((self.timeout or IDLE_TIMEOUT_S) + length / MIN_BODY_RATE)
        raw = self.rfile.read(length) if length else b"{}"
        if len(raw) < length:
            self.close_connection = True
            raise ApiError(400, "bad_request", "the body ended before its Content-Length")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "bad_request", f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        return body

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: one line per request would cost more than the request."""


#: What reading from or writing to a client raises once it has gone away.
_CLIENT_GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class GuardedServer(socketserver.ThreadingMixIn, socketserver.BaseServer):
    """A threading server that caps its connections and closes those past their deadline.

    Mixed in before a concrete server class. `JsonHandler` sets each connection's deadline as
    the request moves on (head, body, route, answer); one reaper thread shuts down the sockets
    whose deadline passed, which ends their handler's blocked read or write.
    """

    daemon_threads = True
    max_connections: int = MAX_CONNECTIONS
    reap_interval_s: float = 0.25

    def server_activate(self) -> None:
        self._deadlines: dict[socket.socket, float | None] = {}
        self._guard_lock = threading.Lock()
        self._stopped = threading.Event()
        super().server_activate()
        threading.Thread(target=self._reap, name="http-reaper", daemon=True).start()

    def set_deadline(self, connection: socket.socket, seconds: float | None) -> None:
        """Close ``connection`` unless its request moves on within ``seconds`` (None: no limit)."""
        with self._guard_lock:
            if connection in self._deadlines:
                self._deadlines[connection] = (
                    None if seconds is None else time.monotonic() + seconds
                )

    def open_connections(self) -> int:
        """How many connections are being served now."""
        with self._guard_lock:
            return len(self._deadlines)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard_lock:
            full = len(self._deadlines) >= self.max_connections
            if not full:
                self._deadlines[request] = time.monotonic() + IDLE_TIMEOUT_S
        if full:
            _refuse(request)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard_lock:
            self._deadlines.pop(request, None)
        super().shutdown_request(request)

    def server_close(self) -> None:
        self._stopped.set()
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver's traceback on stderr, but not for a client that went away mid-request
        (it reset or closed its end): that is the client's doing, and a flood of such
        clients would otherwise fill the server's log with tracebacks."""
        if isinstance(sys.exc_info()[1], _CLIENT_GONE):
            return
        super().handle_error(request, client_address)

    def _reap(self) -> None:
        while not self._stopped.wait(self.reap_interval_s):
            now = time.monotonic()
            with self._guard_lock:
                late = [c for c, d in self._deadlines.items() if d is not None and d < now]
                for connection in late:
                    self._deadlines[connection] = None  # shut down once
            for connection in late:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)


def _refuse(connection: socket.socket) -> None:
    """Answer 503 without blocking: the server is at its connection cap."""
    body = json.dumps(
        ApiError(503, "too_many_connections", "the server is at its connection limit").body()
    ).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
    )
    with contextlib.suppress(OSError):
        connection.send(head.encode() + body, socket.MSG_DONTWAIT)


class ThreadingTCPServer(GuardedServer, ThreadingHTTPServer):
    """One thread per connection, at most `MAX_CONNECTIONS`; threads never keep the process alive."""


class ThreadingUnixServer(GuardedServer, socketserver.UnixStreamServer):
    """The same over a Unix socket (the local sandbox server's)."""
