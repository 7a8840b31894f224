"""The cluster's shared egress proxy, for real: its TCP listener, a real HTTP server behind
an allowed name, the records endpoint. A sandbox gets through with its own credentials to
its own hosts only; forged, widened, borrowed, closed or missing credentials get nothing;
every identified request is in its trial's records, which only the operator may read."""

from __future__ import annotations

import asyncio
import base64
import http.client
import http.server
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kubegym.egress import credentials, records, service

KEY = b"s" * 32


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from upstream"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Running:
    proxy_port: int
    records_port: int
    upstream_port: int
    clock: list[float]


@pytest.fixture
def running() -> Iterator[Running]:
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    upstream_port = upstream.server_address[1]
    clock = [1_000.0]
    loop = asyncio.new_event_loop()
    svc = service.Service(KEY, test_ports=frozenset({upstream_port}), clock=lambda: clock[0])
    ports = loop.run_until_complete(svc.start(("127.0.0.1", 0), ("127.0.0.1", 0)))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield Running(ports[0], ports[1], upstream_port, clock)
    finally:
        asyncio.run_coroutine_threadsafe(svc.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        upstream.shutdown()


def grant(trial: str = "trial-a", hosts: tuple[str, ...] = ("localhost",)) -> tuple[str, str]:
    return credentials.mint(KEY, credentials.Grant("bench", trial, 0, hosts=hosts, expires=5_000))


def get(
    r: Running,
    auth: tuple[str, str] | None,
    host: str = "localhost",
    source: str = "127.0.0.1",
) -> tuple[int, str]:
    """GET http://host:<upstream>/ through the proxy, from ``source``."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", r.proxy_port, timeout=10, source_address=(source, 0)
    )
    headers = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Proxy-Authorization"] = f"Basic {token}"
    connection.request("GET", f"http://{host}:{r.upstream_port}/", headers=headers)
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, body


def admin(r: Running, method: str, path: str, token: str | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", r.records_port, timeout=10)
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, headers=headers)
    response = connection.getresponse()
    data = json.loads(response.read())
    connection.close()
    return response.status, data


def records_of(r: Running, trial: str = "trial-a") -> list[dict[str, Any]]:
    status, body = admin(r, "GET", f"/v1/records/bench/{trial}/0", credentials.admin_token(KEY))
    assert status == 200, body
    records: list[dict[str, Any]] = body["records"]
    return records


def test_an_allowed_host_is_reached_and_recorded(running: Running) -> None:
    assert get(running, grant()) == (200, "hello from upstream")
    (record,) = records_of(running)
    assert record["trial"] == "bench/trial-a/0"
    assert (record["host"], record["allowed"], record["reason"]) == ("localhost", True, "allowed")
    assert record["bytes_down"] > 0


def test_a_host_off_the_allowlist_is_refused_and_recorded(running: Running) -> None:
    status, body = get(running, grant(hosts=("pypi.org",)))
    assert status == 403 and "not on this trial's egress allowlist" in body
    (record,) = records_of(running)
    assert (record["allowed"], record["reason"]) == (False, "not_listed")


def test_no_credentials_get_407(running: Running) -> None:
    status, body = get(running, None)
    assert status == 407 and "credentials are required" in body


def test_forged_and_widened_credentials_get_nothing(running: Running) -> None:
    """A grant for pypi.org only, its allowlist rewritten to localhost: the signature fails.
    Credentials signed with another key fail too. None of it lands in a trial's records."""
    user, password = grant(hosts=("pypi.org",))
    payload, _, signature = password.partition(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["hosts"] = ["localhost"]
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    widened = base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature
    assert get(running, (user, widened))[0] == 407
    other_key = credentials.mint(
        b"o" * 32, credentials.Grant("bench", "trial-a", 0, ("localhost",), 5_000)
    )
    assert get(running, other_key)[0] == 407
    assert records_of(running) == []


def test_another_trials_credentials_do_not_work_from_another_sandbox(running: Running) -> None:
    """Trial A's credentials, once A used them, are refused from another address (trial B's
    sandbox that got hold of them); A keeps working."""
    a = grant("trial-a")
    assert get(running, a, source="127.0.0.1")[0] == 200
    status, body = get(running, a, source="127.0.0.2")
    assert status == 403 and "belong to another sandbox" in body
    assert get(running, a, source="127.0.0.1")[0] == 200
    assert [r["allowed"] for r in records_of(running)] == [True, True]


def test_a_closed_trials_credentials_are_refused(running: Running) -> None:
    a = grant("trial-a")
    assert get(running, a)[0] == 200
    token = credentials.admin_token(KEY)
    assert admin(running, "DELETE", "/v1/records/bench/trial-a/0", token)[0] == 200
    status, body = get(running, a)
    assert status == 407 and "closed" in body
    assert records_of(running) == []  # forgotten once taken


def test_expired_credentials_are_refused(running: Running) -> None:
    a = grant("trial-a")
    running.clock[0] = 5_000.0
    assert get(running, a)[0] == 407


def test_only_the_operator_reads_the_records(running: Running) -> None:
    """No token, a wrong one, or a sandbox's own proxy password: 401."""
    assert get(running, grant())[0] == 200
    path = "/v1/records/bench/trial-a/0"
    assert admin(running, "GET", path)[0] == 401
    assert admin(running, "GET", path, "not-the-token")[0] == 401
    assert admin(running, "GET", path, grant()[1])[0] == 401
    assert admin(running, "DELETE", path, credentials.admin_token(b"o" * 32))[0] == 401
    assert len(records_of(running)) == 1
    assert admin(running, "GET", "/healthz") == (200, {"ok": True})


def test_the_entrypoint_serves_until_sigterm(tmp_path: Path) -> None:
    """``python -m kubegym.egress.service``, as the chart's Deployment runs it."""
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY + b"\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "kubegym.egress.service", "--key-file", str(key_file),
         "--listen", "127.0.0.1:0", "--records", "127.0.0.1:0",
         "--trusted-network", "10.96.0.0/12"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        started = json.loads(process.stdout.readline())
        assert started["event"] == "egress_proxy_started"
        proxy_port, records_port = started["ports"]
        ports = Running(proxy_port, records_port, upstream_port=1, clock=[0.0])
        assert admin(ports, "GET", "/healthz") == (200, {"ok": True})
        assert get(ports, None)[0] == 407
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()


def test_the_entrypoint_refuses_a_short_key(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(b"short")
    result = subprocess.run(
        [sys.executable, "-m", "kubegym.egress.service", "--key-file", str(key_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "fewer than 32" in result.stderr


def test_the_longest_allowlist_the_api_allows_fits_in_the_credentials(running: Running) -> None:
    """A task's 64 hosts and a run's 64, each 253 characters: the request head carrying them
    is read, not refused as too large."""
    label = "a" * 61
    hosts = tuple(
        f"h{i:03d}{label[:57]}.{label}.{label}.{label[:61]}.example"[:253] for i in range(127)
    )
    assert all(len(h) >= 240 for h in hosts)
    assert get(running, grant(hosts=("localhost", *hosts))) == (200, "hello from upstream")


def _record(client: str, n: int) -> records.EgressRecord:
    return records.EgressRecord(
        time="t", trial=client, method="GET", host=f"h{n}.example", port=80,
        allowed=False, reason="not_listed",
    )  # fmt: skip


def test_a_flood_of_requests_cannot_grow_the_proxys_memory() -> None:
    """Past its cap per attempt, and past the cap over every attempt, records are counted
    as dropped (the trial's counts then read incomplete), not kept; taking a trial's records
    and closing it frees its share; uncollected attempts long expired go first."""
    clock = [1_000.0]
    book = service.RecordBook(lambda: clock[0], max_records=3, max_total=5)
    for trial in ("a", "b"):
        grant_ = credentials.Grant("bench", trial, 0, ("x.example",), expires=2_000)
        book.admit(grant_, "10.0.0.1" if trial == "a" else "10.0.0.2")
    for n in range(10):
        book(_record("bench/a/0", n))
    assert (len(book.take("bench/a/0")["records"]), book.take("bench/a/0")["dropped"]) == (3, 7)
    for n in range(4):
        book(_record("bench/b/0", n))
    assert (len(book.take("bench/b/0")["records"]), book.take("bench/b/0")["dropped"]) == (2, 2)
    book.close("bench/a/0")
    book(_record("bench/b/0", 9))
    assert len(book.take("bench/b/0")["records"]) == 3
    # b is never collected: a week past its expiry, its records make room for others.
    clock[0] = 2_000 + service.KEEP_SECONDS
    c = credentials.Grant("bench", "c", 0, ("x.example",), expires=10**10)
    book.admit(c, "10.0.0.3")
    for n in range(5):
        book(_record("bench/c/0", n))
    assert len(book.take("bench/c/0")["records"]) == 3
    assert book.take("bench/b/0")["records"] == []
