"""Timeouts kill the command's whole process tree; the session survives, even a stuck shell."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from kubegym.sandbox.client import SandboxClient
from tests.unit.sandbox.conftest import processes_with


def _marker() -> str:
    return f"{100000 + uuid.uuid4().int % 100000}.{uuid.uuid4().int % 1000}"


def test_timeout_kills_background_and_nested_children(
    sandbox: SandboxClient, workspace: Path
) -> None:
    a, b, c = _marker(), _marker(), _marker()
    sandbox.exec("mkdir -p w && cd w")
    started = time.monotonic()
    result = sandbox.exec(
        f"echo begun; sleep {a} & sh -c 'sleep {b}' & (setsid sleep {c} &); sleep 100", timeout=0.5
    )
    assert time.monotonic() - started < 3
    assert result.timed_out and result.exit_code is None
    assert result.output.startswith("begun\n")
    assert processes_with(a) == processes_with(b) == processes_with(c) == []
    # bash may still report a killed background job ("Killed  sleep …") before the output
    assert sandbox.exec("pwd").output.endswith(f"{workspace}/w\n")


def test_background_jobs_of_earlier_commands_survive(sandbox: SandboxClient) -> None:
    keep = _marker()
    sandbox.exec(f"sleep {keep} &")
    assert sandbox.exec("sleep 100", timeout=0.3).timed_out
    assert processes_with(keep)
    sandbox.exec(f"pkill -f 'sleep {keep}'")


def test_busy_builtin_loop_restarts_the_shell_keeping_cwd_and_env(
    sandbox: SandboxClient, workspace: Path
) -> None:
    sandbox.exec("mkdir -p deep/er && cd deep/er && export MODEL=small")
    result = sandbox.exec("while :; do :; done", timeout=0.5)
    assert result.timed_out and result.exit_code is None
    assert "the shell was stuck after its timeout" in result.output
    assert sandbox.exec('pwd; echo "$MODEL"').output == f"{workspace}/deep/er\nsmall\n"


def test_per_request_timeout_overrides_the_default(sandbox: SandboxClient) -> None:
    result = sandbox.exec("sleep 0.2; echo done", timeout=5)
    assert result.output == "done\n" and not result.timed_out
    assert 0.2 <= result.duration_s < 2
