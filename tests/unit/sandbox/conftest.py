"""Fixtures for the sandbox tests: real servers, over a Unix socket or TCP, in a temporary workspace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubegym.sandbox.client import SandboxClient, ServerProcess, start_server

TOKEN = "test-token-3f9a7c"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace folder."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


@pytest.fixture
def server(workspace: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on a Unix socket, stopped after the test."""
    proc = start_server(
        workspace=workspace, token=TOKEN, unix_path=tmp_path / "sandbox.sock", timeout=20
    )
    yield proc
    proc.stop()


@pytest.fixture
def tcp_server(workspace: Path) -> Iterator[ServerProcess]:
    """A server on a loopback TCP port, stopped after the test."""
    proc = start_server(workspace=workspace, token=TOKEN, timeout=20)
    yield proc
    proc.stop()


@pytest.fixture
def sandbox(server: ServerProcess) -> Iterator[SandboxClient]:
    """A client of the Unix-socket server."""
    with server.client() as client:
        yield client


def processes_with(marker: str) -> list[int]:
    """The live processes whose command line contains ``marker`` (zombies have none)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(name))
        except OSError:
            continue
    return found
