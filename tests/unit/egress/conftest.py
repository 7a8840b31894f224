"""Fixtures for the egress proxy's tests: a real HTTP server, a raw TCP server, a real proxy
on a real Unix socket, and a client that speaks bytes. No mocks."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kubegym import egress
from kubegym.egress import records


@dataclass
class Seen:
    """What a test server received."""

    requests: list[dict[str, object]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with a JSON of what it received (HTTP/1.0: one per connection)."""

    seen: Seen

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        got: dict[str, object] = {
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("latin-1"),
        }
        self.seen.requests.append(got)
        data = json.dumps(got).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = do_PUT = _answer

    def log_message(self, *args: object) -> None:
        del args


@dataclass
class Server:
    port: int
    seen: Seen


@pytest.fixture
def http_server() -> Iterator[Server]:
    """An HTTP server on the host's loopback that echoes what it receives."""
    seen = Seen()
    handler = type("Echo", (_Echo,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Server(server.server_address[1], seen)
    server.shutdown()
    server.server_close()


@pytest.fixture
def tcp_server() -> Iterator[Server]:
    """A raw TCP server on the host's loopback: records the bytes and answers 'pong:' + them."""
    seen = Seen()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = self.request.recv(65536)
            seen.raw.append(data)
            self.request.sendall(b"pong:" + data)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Server(server.server_address[1], seen)
    server.shutdown()
    server.server_close()


@dataclass
class Proxy:
    """A running per-trial proxy and where its log is."""

    egress: egress.LocalEgress
    log: Path

    @property
    def socket(self) -> Path:
        return self.egress.socket

    def records(self) -> list[records.EgressRecord]:
        return records.read(self.log)


def start_proxy(
    tmp_path: Path,
    hosts: list[str],
    test_ports: frozenset[int] = frozenset(),
    resolver: egress.Resolver | None = None,
) -> Proxy:
    log = tmp_path / "egress.jsonl"
    settings = egress.ProxySettings(
        test_ports=test_ports, resolver=resolver, head_timeout=5, hello_timeout=5
    )
    return Proxy(egress.LocalEgress("trial-1", egress.Allowlist.union(hosts), log, settings), log)


def ask(path: Path, request: bytes, *, then: bytes = b"", timeout: float = 10) -> bytes:
    """Send ``request`` (then ``then``) to the proxy's socket; everything it answers until it closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(str(path))
        client.sendall(request)
        if then:
            client.sendall(then)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer


def status_and_body(answer: bytes) -> tuple[int, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
