"""Real servers on the host's loopback for the egress tests: an HTTP server that echoes what
it receives (plain, or TLS with a throwaway certificate for ``localhost``), and a raw TCP
server that records bytes. Each runs on a thread and is stopped by its context manager."""

from __future__ import annotations

import contextlib
import json
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Seen:
    """What a test server received."""

    requests: list[dict[str, object]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


@dataclass
class Server:
    port: int
    seen: Seen


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


@contextlib.contextmanager
def _serving(server: socketserver.TCPServer, seen: Seen) -> Iterator[Server]:
    """``server`` on a thread until the block ends."""
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield Server(server.server_address[1], seen)
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def echo_http(tls_files: tuple[Path, Path] | None = None, port: int = 0) -> Iterator[Server]:
    """An HTTP server on 127.0.0.1 echoing what it receives; HTTPS with ``(cert, key)``;
    on ``port`` (0: a free one)."""
    seen = Seen()
    server = ThreadingHTTPServer(("127.0.0.1", port), type("Echo", (_Echo,), {"seen": seen}))
    if tls_files is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls_files)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    with _serving(server, seen) as serving:
        yield serving


@contextlib.contextmanager
def raw_tcp() -> Iterator[Server]:
    """A TCP server on 127.0.0.1: records the first bytes of each client, answers 'pong:' + them."""
    seen = Seen()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data = self.request.recv(65536)
            seen.raw.append(data)
            self.request.sendall(b"pong:" + data)

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    with _serving(server, seen) as serving:
        yield serving


def localhost_certificate(folder: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key for ``localhost`` (openssl's CLI)."""
    cert, key = folder / "localhost.pem", folder / "localhost.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
