"""Attacks on the evaluator server's HTTP side (issue 11 point 8): the guards it shares with
the sandbox server (`kubegym.sandbox.httpapi`), tried against the evaluator itself.

An external agent holds the evaluator's address, and agent code in a sandbox pod may reach
it: each test acts as that client, abusing connections and bodies, and asserts the guard held
and that an honest validate is still scored afterwards. The real server runs as the
evaluator container runs it (``python -m kubegym.evaluator serve``, its own defaults);
the half-open attack serves the same app in this process with a 1-second idle timeout, as
waiting out the real 60 seconds would make the suite slow.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from kubegym.evaluator import judge, server
from kubegym.sandbox import httpapi
from kubegym.tasks.catalog import TaskBundle
from tests.support import trial_pod

TOKEN = trial_pod.EVALUATOR_TOKEN


def _polyfit_files(repo: Path, root: Path) -> tuple[Path, Path]:
    """A workspace where the baseline has run (a valid submission) and the eval folder."""
    workspace = trial_pod.make_workspace(repo, root / "workspace")
    subprocess.run([sys.executable, "baseline.py"], cwd=workspace, check=True, capture_output=True)
    return workspace, trial_pod.make_eval_dir(repo, root / "eval")


@pytest.fixture
def real_evaluator(repo: Path, tmp_path: Path) -> Iterator[int]:
    """``python -m kubegym.evaluator serve`` over polyfit, with its default guards; its port."""
    workspace, eval_dir = _polyfit_files(repo, tmp_path)
    config = tmp_path / "trial.json"
    trial_pod.write_trial_config(repo, config, {"name": "a", "builtin": "baseline"})
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    evaluator = trial_pod.start_evaluator(config, eval_dir, workspace, token)
    try:
        yield int(urlparse(evaluator.url).port or 0)
    finally:
        evaluator.stop()


@pytest.fixture
def quick_evaluator(repo: Path, tmp_path: Path) -> Iterator[tuple[httpapi.GuardedServer, int]]:
    """The evaluator's app and HTTP server, in this process, with a 1-second idle timeout."""
    workspace, eval_dir = _polyfit_files(repo, tmp_path)
    task = trial_pod.polyfit_task(repo)
    the_judge = judge.Judge(TaskBundle(task, eval_dir), "heldout", data_dir=eval_dir)
    app = server.EvaluatorApp(
        the_judge, server.ServerConfig(workspace=workspace, token=TOKEN, port=0)
    )
    srv = server.make_http_server(app)
    srv.RequestHandlerClass.timeout = 1.0  # type: ignore[attr-defined]
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield srv, int(srv.server_address[1])
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join()


def _call(port: int, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        conn.request(method, path, body=data, headers=headers)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def _validate_is_scored(port: int, step: int) -> None:
    """An honest validate: scored on the validation data, no hidden test metrics in the answer."""
    status, answer = _call(port, "POST", "/v1/validate", {"step": step})
    assert status == 200, answer
    score = answer["score"]
    assert score.get("error") is None and score["metrics"]["r2"] > 0.3
    assert not score.get("testMetrics")


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock``; waits at most 20 s (a hung server fails the test)."""
    sock.settimeout(20)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _push(sock: socket.socket, size: int) -> int:
    """Send up to ``size`` body bytes until the server stops taking them; how many went."""
    sent = 0
    chunk = b"x" * (1 << 20)
    sock.settimeout(5)
    try:
        while sent < size:
            sent += sock.send(chunk[: size - sent])
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        pass
    return sent


def test_half_open_connections_to_the_evaluator_are_closed_and_validate_still_works(
    quick_evaluator: tuple[httpapi.GuardedServer, int],
) -> None:
    """Attack 8 (servers keep idle connections for ever): 50 connections send half a validate
    request and stall. Guarantee: a validate is scored meanwhile, the evaluator closes all 50
    within its timeout, holds nothing for them afterwards, and validate still works."""
    srv, port = quick_evaluator
    stalled = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"POST /v1/validate HTTP/1.1\r\nHost: x\r\n")
        stalled.append(sock)
    _validate_is_scored(port, 1)
    assert all(_closed_by_server(sock) for sock in stalled)
    for sock in stalled:
        sock.close()
    deadline = time.monotonic() + 20
    while srv.open_connections() > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.open_connections() == 0
    _validate_is_scored(port, 2)


def test_a_256_mib_body_without_the_token_is_refused_unread(real_evaluator: int) -> None:
    """Attack 8 (256 MiB read before refusing): a client without the token announces a
    256 MiB validate body. Guarantee: the refusal (413: over the evaluator's limit, checked
    before the token) arrives before one body byte is sent, the connection is closed so the
    body cannot be pushed through, and validate still works."""
    port = real_evaluator
    size = 256 * 1024 * 1024
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
    )
    sock.settimeout(20)
    answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    sent = _push(sock, size)
    sock.close()
    assert sent < 32 * 1024 * 1024, sent  # socket buffers at most, never the body
    _validate_is_scored(port, 1)


def test_a_body_under_the_limit_with_a_wrong_token_is_refused_unread(real_evaluator: int) -> None:
    """The same under the evaluator's body limit: a wrong token and a 900 KiB body. Guarantee:
    401 before the body is sent, nothing of it read, the connection closed; a short refused
    body keeps its connection usable; and validate still works."""
    port = real_evaluator
    size = httpapi.DEFAULT_MAX_REQUEST_BYTES - 100 * 1024
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(
        b"POST /v1/validate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer guessed\r\n"
        + f"Content-Length: {size}\r\n\r\n".encode()
    )
    sock.settimeout(20)
    assert sock.recv(65536).startswith(b"HTTP/1.1 401")
    _push(sock, size)
    assert _closed_by_server(sock)
    sock.close()
    _validate_is_scored(port, 1)


def test_connections_past_the_evaluators_cap_get_503_and_validate_works_after(
    real_evaluator: int,
) -> None:
    """Attack 8 (one thread per connection, for ever): a client opens the evaluator's whole
    connection cap and more. Guarantee: those past the cap are answered 503 and closed at once
    (no thread each), and once the held ones go the evaluator scores a validate again."""
    port = real_evaluator
    # One at a time: each is in the listen queue before the next, so the server takes them
    # in this order and the cap is full when the extra ones arrive.
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(httpapi.MAX_CONNECTIONS)]
    try:
        for _ in range(3):
            extra = socket.create_connection(("127.0.0.1", port))
            extra.settimeout(20)
            assert extra.recv(65536).startswith(b"HTTP/1.1 503")
            assert _closed_by_server(extra)
            extra.close()
    finally:
        for sock in held:
            sock.close()
    # The held connections end as the server reads their EOF: wait until one is free.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        finally:
            conn.close()
        time.sleep(0.05)
    _validate_is_scored(port, 1)
