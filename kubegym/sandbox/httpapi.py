"""The HTTP plumbing shared by kubegym's small JSON servers: routes, a bearer token, JSON errors.

The sandbox command server (`kubegym.sandbox.server`) and the evaluator server
(`kubegym.evaluator.server`) each declare a route table and an app object; `JsonHandler`
dispatches requests to them over a threading HTTP/1.1 server, checks the token with
`hmac.compare_digest`, and answers every outcome, errors included, as JSON. Standard library
only: it runs in task images without dependencies.
"""

from __future__ import annotations

import hmac
import json
import sys
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

Payload = dict[str, Any]
Route = Callable[[Any, Payload], Payload]
"""An endpoint: called with the app and the request's JSON body (``{}`` for GET)."""

DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024


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

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

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
        if handler is None:
            self._skip_body()
            if any(path == route for _, path in self.routes):
                raise ApiError(405, "method_not_allowed", f"{route} does not take {self.command}")
            raise ApiError(404, "no_route", f"no such endpoint: {route}; see openapi.yaml")
        if key not in self.open_routes and not self.app.authorized(
            self.headers.get("Authorization")
        ):
            self._skip_body()
            raise ApiError(401, "unauthorized", "send the header 'Authorization: Bearer <token>'")
        return handler(self.app, self._body() if self.command == "POST" else {})

    def _length(self) -> int:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise ApiError(411, "length_required", "send the body with a Content-Length header")
        try:
            return max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError as exc:
            self.close_connection = True
            raise ApiError(400, "bad_request", "Content-Length is not a number") from exc

    def _skip_body(self) -> None:
        length = self._length()
        if length > self.max_request_bytes:
            self.close_connection = True
        elif length:
            self.rfile.read(length)

    def _body(self) -> Payload:
        length = self._length()
        if length > self.max_request_bytes:
            self.close_connection = True
            raise ApiError(413, "too_large", f"the body is over {self.max_request_bytes} bytes")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise ApiError(400, "bad_request", f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "the body must be a JSON object")
        return body

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: one line per request would cost more than the request."""


class ThreadingTCPServer(ThreadingHTTPServer):
    """One thread per connection; the threads never keep the process alive."""

    daemon_threads = True
