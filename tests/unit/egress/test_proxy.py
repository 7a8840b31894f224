"""The egress proxy against real servers through its real Unix socket: what a listed host
gets, and every way around the allowlist an agent might try, refused and recorded."""

from __future__ import annotations

import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from kubegym import egress
from kubegym.egress import records
from tests.support.egress_servers import Server
from tests.unit.egress.conftest import Proxy, ask, start_proxy, status_and_body


def client_hello(server_name: str) -> bytes:
    """A real TLS ClientHello, as Python's ssl sends it for ``server_name``."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


@pytest.fixture
def proxy(tmp_path: Path, http_server: Server, tcp_server: Server) -> Iterator[Proxy]:
    """A proxy for a trial allowed `localhost`, the test servers' ports allowed as tests only."""
    started = start_proxy(
        tmp_path, ["localhost", "pypi.org"], frozenset({http_server.port, tcp_server.port})
    )
    yield started
    started.egress.close()


def get(url: str, *headers: str) -> bytes:
    lines = [f"GET {url} HTTP/1.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_listed_host_gets_the_request_in_origin_form(proxy: Proxy, http_server: Server) -> None:
    url = f"http://localhost:{http_server.port}/simple/pkg/?q=1"
    answer = ask(proxy.socket, get(url, "User-Agent: t", "Proxy-Authorization: Basic c2VjcmV0"))
    status, body = status_and_body(answer)
    assert status == 200
    seen = json.loads(body)
    assert seen["path"] == "/simple/pkg/?q=1"
    assert seen["headers"]["host"] == f"localhost:{http_server.port}"
    assert seen["headers"]["user-agent"] == "t"
    assert "proxy-authorization" not in seen["headers"]  # the proxy's own header stays here
    proxy.egress.close()
    (record,) = proxy.records()
    assert (record.trial, record.method, record.host, record.port) == (
        "trial-1",
        "GET",
        "localhost",
        http_server.port,
    )
    assert record.allowed and record.reason == "allowed"
    assert record.address == "127.0.0.1"
    assert record.bytes_up == 0 and record.bytes_down == len(answer)


def test_a_body_goes_up_exactly_and_nothing_after_it(proxy: Proxy, http_server: Server) -> None:
    """A second request pipelined after the first body never reaches the host."""
    url = f"http://localhost:{http_server.port}/upload"
    first = f"POST {url} HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello".encode()
    smuggled = b"GET /admin HTTP/1.1\r\nHost: internal.example\r\n\r\n"
    status, body = status_and_body(ask(proxy.socket, first, then=smuggled))
    assert status == 200 and json.loads(body)["body"] == "hello"
    assert [r["path"] for r in http_server.seen.requests] == ["/upload"]
    proxy.egress.close()
    assert proxy.records()[0].bytes_up == 5


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("http://example.com/", "not_listed"),
        ("http://pypi.org.evil.example/", "not_listed"),
        ("http://127.0.0.1/", "ip_literal"),
        ("http://[::1]/", "ip_literal"),
        ("http://2130706433/", "bad_host"),
        ("http://localhost:8080/", "port"),
        ("http://localhost:443/", "port"),
    ],
)
def test_refused_requests_say_why(
    proxy: Proxy, http_server: Server, target: str, reason: str
) -> None:
    status, body = status_and_body(ask(proxy.socket, get(target)))
    assert status == 403
    assert body.startswith(b"kubegym egress proxy: refused GET ")
    assert http_server.seen.requests == []
    proxy.egress.close()
    (record,) = proxy.records()
    assert not record.allowed and record.reason == reason and record.address == ""


def test_host_header_naming_another_host_is_refused(proxy: Proxy, http_server: Server) -> None:
    url = f"http://localhost:{http_server.port}/"
    for host in ("internal.example", f"127.0.0.1:{http_server.port}", "localhost"):
        status, body = status_and_body(ask(proxy.socket, get(url, f"Host: {host}")))
        assert status == 400 and b"Host header" in body
    twice = get(url, f"Host: localhost:{http_server.port}", "Host: internal.example")
    assert status_and_body(ask(proxy.socket, twice))[0] == 400
    assert http_server.seen.requests == []
    proxy.egress.close()
    assert [r.reason for r in proxy.records()] == ["host_mismatch"] * 3 + ["malformed"]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /relative HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"GET https://localhost/ HTTP/1.1\r\n\r\n",
        b"GET http://localhost/ HTTP/2.0\r\n\r\n",
        b"GET http://localhost/ HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        b"GET http://localhost/ HTTP/1.1\r\nX: a\rb\r\n\r\n",
        b"POST http://localhost/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST http://localhost/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET http://user@localhost/ HTTP/1.1\r\n\r\n",
        b"CONNECT localhost HTTP/1.1\r\n\r\n",
        b"NONSENSE\r\n\r\n",
    ],
)
def test_malformed_requests_are_refused(proxy: Proxy, request_bytes: bytes) -> None:
    status, body = status_and_body(ask(proxy.socket, request_bytes))
    assert status == 400 and body.startswith(b"kubegym egress proxy: refused")
    proxy.egress.close()
    (record,) = proxy.records()
    assert not record.allowed and record.reason == "malformed"


def test_other_methods_are_refused(proxy: Proxy) -> None:
    status, _ = status_and_body(ask(proxy.socket, b"TRACE http://localhost/ HTTP/1.1\r\n\r\n"))
    assert status == 403
    proxy.egress.close()
    assert proxy.records()[0].reason == "method"


def test_an_oversized_head_is_refused(proxy: Proxy) -> None:
    huge = get("http://localhost/", "X-Pad: " + "a" * 20000)
    status, body = status_and_body(ask(proxy.socket, huge))
    assert status == 431 and b"over 16384 bytes" in body
    proxy.egress.close()
    assert proxy.records()[0].reason == "too_large"


def test_a_tls_tunnel_to_a_listed_host_carries_bytes_both_ways(
    proxy: Proxy, tcp_server: Server
) -> None:
    hello = client_hello("localhost")
    answer = ask(
        proxy.socket, f"CONNECT localhost:{tcp_server.port} HTTP/1.1\r\n\r\n".encode(), then=hello
    )
    assert answer.startswith(b"HTTP/1.1 200 Connection established\r\n\r\n")
    assert answer.endswith(b"pong:" + hello)
    assert tcp_server.seen.raw == [hello]
    proxy.egress.close()
    (record,) = proxy.records()
    assert record.allowed and record.method == "CONNECT"
    assert record.bytes_up == len(hello) and record.bytes_down == len(hello) + 5


@pytest.mark.parametrize(
    ("first_bytes", "reason"),
    [
        (b"GET / HTTP/1.1\r\nHost: internal.example\r\n\r\n", "not_tls"),
        (client_hello("internal.example"), "sni_mismatch"),
        (client_hello("pypi.org"), "sni_mismatch"),
    ],
)
def test_a_tunnel_that_speaks_to_another_host_is_cut(
    proxy: Proxy, tcp_server: Server, first_bytes: bytes, reason: str
) -> None:
    """CONNECT a listed name, then try to reach another site (or protocol) behind it."""
    request = f"CONNECT localhost:{tcp_server.port} HTTP/1.1\r\n\r\n".encode()
    answer = ask(proxy.socket, request, then=first_bytes)
    assert answer == b"HTTP/1.1 200 Connection established\r\n\r\n"
    assert b"".join(tcp_server.seen.raw) == b""  # the host got not one byte
    proxy.egress.close()
    (record,) = proxy.records()
    assert not record.allowed and record.reason == reason and record.bytes_up == 0


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("example.com:443", "not_listed"),
        ("1.1.1.1:443", "ip_literal"),
        ("[2606:4700:4700::1111]:443", "ip_literal"),
        ("pypi.org:22", "port"),
        ("pypi.org:80", "port"),
    ],
)
def test_refused_tunnels(proxy: Proxy, target: str, reason: str) -> None:
    status, body = status_and_body(ask(proxy.socket, f"CONNECT {target} HTTP/1.1\r\n\r\n".encode()))
    assert status == 403 and b"refused CONNECT" in body
    proxy.egress.close()
    assert proxy.records()[0].reason == reason


def test_localhost_is_refused_unless_listed(tmp_path: Path, http_server: Server) -> None:
    started = start_proxy(tmp_path, ["pypi.org"], frozenset({http_server.port}))
    try:
        url = f"http://localhost:{http_server.port}/"
        assert status_and_body(ask(started.socket, get(url)))[0] == 403
    finally:
        started.egress.close()
    assert started.records()[0].reason == "not_listed"
    assert http_server.seen.requests == []


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.7",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
    ],
)
def test_a_listed_name_resolving_to_a_private_address_is_refused(
    tmp_path: Path, http_server: Server, address: str
) -> None:
    """DNS rebinding: a listed public name that resolves to the host's or a private network."""

    async def rebinding(name: str, port: int) -> list[str]:
        del name, port
        return [address]

    started = start_proxy(tmp_path, ["rebind.example"], frozenset({http_server.port}), rebinding)
    try:
        answer = ask(started.socket, get(f"http://rebind.example:{http_server.port}/"))
        status, body = status_and_body(answer)
        assert status == 403 and b"private" in body
    finally:
        started.egress.close()
    assert started.records()[0].reason == "private_address"
    assert http_server.seen.requests == []


def test_a_trusted_network_is_reached_behind_a_listed_name(
    tmp_path: Path, http_server: Server
) -> None:
    """The proxy's operator (never the trial) may trust a network, such as a mirror's."""

    async def mirror(name: str, port: int) -> list[str]:
        del name, port
        return ["127.0.0.1"]

    log = tmp_path / "egress.jsonl"
    settings = egress.ProxySettings(
        test_ports=frozenset({http_server.port}),
        resolver=mirror,
        trusted_networks=(ipaddress.ip_network("127.0.0.0/8"),),
    )
    with egress.LocalEgress("t", egress.Allowlist(("mirror.example",)), log, settings) as proxy:
        answer = ask(proxy.socket, get(f"http://mirror.example:{http_server.port}/simple/"))
    assert status_and_body(answer)[0] == 200
    headers = http_server.seen.requests[0]["headers"]
    assert isinstance(headers, dict) and headers["host"] == f"mirror.example:{http_server.port}"


def test_an_unresolvable_listed_name_is_a_502(tmp_path: Path) -> None:
    async def nowhere(name: str, port: int) -> list[str]:
        raise OSError(f"no such host {name}")

    started = start_proxy(tmp_path, ["gone.example"], resolver=nowhere)
    try:
        status, body = status_and_body(ask(started.socket, get("http://gone.example/")))
        assert status == 502 and b"does not resolve" in body
    finally:
        started.egress.close()
    assert started.records()[0].reason == "unresolved"


def test_the_summary_counts_each_host(proxy: Proxy, http_server: Server) -> None:
    ask(proxy.socket, get(f"http://localhost:{http_server.port}/a"))
    ask(proxy.socket, get(f"http://localhost:{http_server.port}/b"))
    ask(proxy.socket, get("http://example.com/"))
    ask(proxy.socket, b"CONNECT 1.1.1.1:443 HTTP/1.1\r\n\r\n")
    summary = proxy.egress.summary()
    assert summary.network == "allowlist" and summary.allowlist == ["localhost", "pypi.org"]
    rows = {h.host: (h.allowed, h.refused) for h in summary.hosts}
    assert rows == {"localhost": (2, 0), "example.com": (0, 1), "1.1.1.1": (0, 1)}
    assert summary.refused == 2 and summary.log == "egress.jsonl"
    assert sum(h.bytes_down for h in summary.hosts) > 0


def test_a_stalled_host_or_client_is_cut_after_the_idle_timeout(tmp_path: Path) -> None:
    """A host that never answers, a tunnel where nothing moves, a body that never comes."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    held: list[socket.socket] = []

    def hold() -> None:  # accept, then never say or read a thing
        for _ in range(3):
            held.append(silent.accept()[0])

    threading.Thread(target=hold, daemon=True).start()
    port = silent.getsockname()[1]
    log = tmp_path / "egress.jsonl"
    settings = egress.ProxySettings(test_ports=frozenset({port}), idle_timeout=0.5)
    with egress.LocalEgress("t", egress.Allowlist(("localhost",)), log, settings) as proxy:
        started = time.monotonic()
        assert ask(proxy.socket, get(f"http://localhost:{port}/")) == b""
        answer = ask(
            proxy.socket,
            f"CONNECT localhost:{port} HTTP/1.1\r\n\r\n".encode(),
            then=client_hello("localhost"),
        )
        assert answer.startswith(b"HTTP/1.1 200")
        body = f"POST http://localhost:{port}/ HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc".encode()
        assert ask(proxy.socket, body) == b""
        assert time.monotonic() - started < 8
    silent.close()
    got = records.read(log)
    assert [(r.method, r.allowed, r.idle) for r in got] == [
        ("GET", True, True),
        ("CONNECT", True, True),
        ("POST", True, True),
    ]
    assert got[2].bytes_up == 3


def test_an_identification_that_fails_ends_one_request_only(tmp_path: Path) -> None:
    """A bug in an identification (or anywhere in a request) is recorded; the proxy serves on."""
    calls = []

    def flaky(listener: egress.Listener, headers: object) -> egress.Identity:
        calls.append(listener.name)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return egress.Identity("t", egress.Allowlist(("pypi.org",)))

    found: list[records.EgressRecord] = []
    proxy = egress.EgressProxy(flaky, found.append)
    thread = egress.ProxyThread(proxy)
    try:
        thread.serve_unix(tmp_path / "p.sock", "shared")
        assert ask(tmp_path / "p.sock", get("http://example.com/")) == b""
        assert status_and_body(ask(tmp_path / "p.sock", get("http://example.com/")))[0] == 403
    finally:
        thread.close()
    assert [r.reason for r in found] == ["proxy_error", "not_listed"]


def test_a_shared_listener_identifies_each_request_by_its_credentials(
    tmp_path: Path, http_server: Server
) -> None:
    """The pluggable identification on TCP: no or wrong credentials get 407, and the
    credentials are never forwarded to the host."""

    def by_token(listener: egress.Listener, headers: Mapping[str, str]) -> egress.Identity:
        assert listener.name == "shared" and listener.peer.startswith("127.0.0.1:")
        if headers.get("proxy-authorization") != "Bearer trial-a-token":
            raise egress.Refused("send this trial's credentials")
        return egress.Identity("trial-a", egress.Allowlist(("localhost",)))

    found: list[records.EgressRecord] = []
    settings = egress.ProxySettings(test_ports=frozenset({http_server.port}))
    thread = egress.ProxyThread(egress.EgressProxy(by_token, found.append, settings))
    url = f"http://localhost:{http_server.port}/"
    try:
        port = thread.serve_tcp("127.0.0.1", 0, "shared")
        answers = []
        for auth in (
            [],
            ["Proxy-Authorization: Bearer guess"],
            ["Proxy-Authorization: Bearer trial-a-token"],
        ):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.sendall(get(url, *auth))
                answers.append(b"".join(iter(lambda: client.recv(65536), b"")))
    finally:
        thread.close()
    assert [status_and_body(a)[0] for a in answers] == [407, 407, 200]
    assert b"Proxy-Authenticate: Basic" in answers[0]
    forwarded = http_server.seen.requests[0]["headers"]
    assert isinstance(forwarded, dict) and "proxy-authorization" not in forwarded
    assert [(r.trial, r.reason) for r in found] == [
        ("", "identity"),
        ("", "identity"),
        ("trial-a", "allowed"),
    ]
