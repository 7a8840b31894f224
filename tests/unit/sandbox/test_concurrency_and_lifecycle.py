"""One command at a time (409 for a second), and SIGTERM stops the server and all it started."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from pathlib import Path

import pytest

from kubegym.sandbox.client import SandboxBusy, SandboxClient, ServerProcess, start_server
from kubegym.sandbox.protocol import CommandResult
from tests.unit.sandbox.conftest import TOKEN, processes_with


def test_a_second_command_while_one_runs_is_refused_with_409(
    server: ServerProcess, sandbox: SandboxClient
) -> None:
    results: list[CommandResult] = []
    worker = threading.Thread(target=lambda: results.append(sandbox.exec("sleep 1; echo first")))
    worker.start()
    time.sleep(0.3)
    with server.client() as other:
        with pytest.raises(SandboxBusy) as error:
            other.exec("echo second")
        assert error.value.status == 409
        # file requests are not blocked by a running command
        other.write_file("while-busy.txt", b"ok")
        assert other.read_file("while-busy.txt") == b"ok"
    worker.join()
    assert results[0].output == "first\n"
    assert sandbox.exec("echo free").output == "free\n"


def test_sigterm_kills_every_process_and_exits_cleanly(workspace: Path, tmp_path: Path) -> None:
    plain, detached, running = (f"{1000 + uuid.uuid4().int % 9000}.{i}" for i in range(3))
    sock = tmp_path / "term.sock"
    server = start_server(workspace=workspace, token=TOKEN, unix_path=sock)
    client = server.client()
    client.exec(f"sleep {plain} & (setsid sleep {detached} &)")
    worker = threading.Thread(target=lambda: _ignore_errors(client, f"sleep {running}"))
    worker.start()
    time.sleep(0.3)
    assert processes_with(plain) and processes_with(detached) and processes_with(running)
    assert server.stop() == 0
    worker.join(10)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (
        processes_with(plain) or processes_with(detached) or processes_with(running)
    ):
        time.sleep(0.05)
    assert processes_with(plain) == processes_with(detached) == processes_with(running) == []
    assert not sock.exists()


def _ignore_errors(client: SandboxClient, command: str) -> None:
    with contextlib.suppress(Exception):  # the server dies under it
        client.exec(command)
