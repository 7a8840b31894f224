"""A real sandbox server for the tool tests: one per test module, on a Unix socket.

Each test gets a fresh folder inside the server's workspace, with the shell already in it, and a
fresh `ToolState`, so tests of one module share a server but not files or editor state.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym.agent_runner import tools
from kubegym.sandbox import client


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sandbox") / "workspace"
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def server(workspace: Path, request: pytest.FixtureRequest) -> Iterator[client.ServerProcess]:
    """The module's server; its default command timeout (the task's limit, as the tools see it)
    is the module's ``SANDBOX_TIMEOUT_S``, 60 s when it sets none."""
    with client.start_server(
        workspace=workspace,
        token=secrets.token_hex(16),
        unix_path=workspace.parent / "server.sock",
        timeout=getattr(request.module, "SANDBOX_TIMEOUT_S", 60),
    ) as process:
        yield process


@pytest.fixture(scope="module")
def sandbox(server: client.ServerProcess) -> Iterator[client.SandboxClient]:
    with server.client() as connection:
        yield connection


@pytest.fixture
def workdir(sandbox: client.SandboxClient, workspace: Path) -> Path:
    """A fresh folder in the workspace, with the shell in it (the server runs on this machine,
    so its paths are host paths)."""
    path = workspace / f"test-{secrets.token_hex(4)}"
    path.mkdir()
    result = sandbox.exec(f"cd {path}")
    assert result.exit_code == 0, result.output
    return path


MakeCtx = Callable[..., tools.ToolContext]


@pytest.fixture
def make_ctx(sandbox: client.SandboxClient, workdir: Path) -> MakeCtx:
    """Build a tool context on the test's sandbox; keyword arguments go to `ToolConfig`."""

    def make(
        evaluate: Any = None, enabled: frozenset[str] | None = None, **config: Any
    ) -> tools.ToolContext:
        return tools.ToolContext(
            sandbox=sandbox,
            state=tools.ToolState(),
            config=tools.ToolConfig(**config),
            evaluate=evaluate,
            enabled=enabled,
        )

    return make


@pytest.fixture
def ctx(make_ctx: MakeCtx) -> tools.ToolContext:
    return make_ctx()


@pytest.fixture
def mlgym(sandbox: client.SandboxClient, workdir: Path) -> tools.ToolContext:
    """A tool context with the mlgym preset's settings (`ToolConfig.for_preset`), the shell in
    the test's folder."""
    return tools.ToolContext(
        sandbox=sandbox, state=tools.ToolState(), config=tools.ToolConfig.for_preset("mlgym")
    )
