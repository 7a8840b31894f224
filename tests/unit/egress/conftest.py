"""Fixtures for the egress proxy's tests: a real HTTP server, a raw TCP server, a real proxy
on a real Unix socket, and a client that speaks bytes. No mocks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubegym import egress
from kubegym.egress import records
from tests.support import egress_servers
from tests.support.egress_servers import Server


@pytest.fixture
def http_server() -> Iterator[Server]:
    """An HTTP server on the host's loopback that echoes what it receives."""
    with egress_servers.echo_http() as server:
        yield server


@pytest.fixture
def tcp_server() -> Iterator[Server]:
    """A raw TCP server on the host's loopback: records the bytes and answers 'pong:' + them."""
    with egress_servers.raw_tcp() as server:
        yield server


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
