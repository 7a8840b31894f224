"""Sandbox backends by name: bubblewrap by default, `process` still loud through the registry,
an unknown name named, a new backend opened by its name and offered by ``kubegym run``."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym.errors import ConfigError
from kubegym.sandbox import backends, isolation, local


class NoSandbox:
    """What a newcomer's backend opens, recording that it was closed."""

    def __init__(self, request: local.SandboxRequest) -> None:
        self.request = request
        self.closed = False

    @property
    def client(self) -> Any:
        raise AssertionError("not used here")

    def describe(self) -> dict[str, Any]:
        return {"backend": "nothing", "isolated": False, "name": self.request.name}

    def close(self) -> None:
        self.closed = True


class NothingBackend:
    checked = 0

    def check(self) -> None:
        NothingBackend.checked += 1

    def open(self, request: local.SandboxRequest) -> NoSandbox:
        return NoSandbox(request)


@pytest.fixture(autouse=True, scope="module")
def nothing_backend() -> Iterator[None]:
    # The one registration a newcomer writes (at import, in their module); here for this
    # module only, so the next tests see kubegym's own backends.
    with backends.BACKENDS.added("nothing-test", NothingBackend()):
        yield


def test_bwrap_is_the_default_and_both_jails_are_registered() -> None:
    assert backends.DEFAULT == "bwrap"
    assert backends.BACKENDS.names()[:2] == ["bwrap", "process"]


def test_the_default_backend_isolates(bwrap: str, tmp_path: Path) -> None:
    request = local.SandboxRequest(name="default", workspace=tmp_path / "w")
    request.workspace.mkdir()
    sandbox = backends.open_sandbox(request)
    try:
        assert sandbox.describe()["isolated"] is True
        assert sandbox.client.exec("echo inside").output.strip() == "inside"
    finally:
        sandbox.close()


def test_the_process_backend_warns_that_it_is_not_isolated(tmp_path: Path) -> None:
    request = local.SandboxRequest(name="loud", workspace=tmp_path / "w")
    request.workspace.mkdir()
    backends.BACKENDS.get("process").check()  # nothing to check: it never isolates
    with pytest.warns(isolation.IsolationWarning, match="WITHOUT isolation"):
        sandbox = backends.open_sandbox(request, "process")
    try:
        assert sandbox.describe()["isolated"] is False
        assert sandbox.client.exec("pwd").output.strip() == str(request.workspace)
    finally:
        sandbox.close()


def test_a_missing_bwrap_is_found_by_the_backends_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap to be found
    with pytest.raises(ConfigError, match="not installed") as caught:
        backends.BACKENDS.get("bwrap").check()
    assert "--sandbox process" in str(caught.value)


def test_an_unknown_backend_names_the_field_and_the_known_ones(tmp_path: Path) -> None:
    request = local.SandboxRequest(name="x", workspace=tmp_path)
    with pytest.raises(ConfigError, match="unknown sandbox backend: 'docker'") as caught:
        backends.open_sandbox(request, "docker")
    assert caught.value.field == "sandbox"
    assert caught.value.hint is not None and "bwrap, process" in caught.value.hint


def test_a_new_backend_is_opened_by_its_name(tmp_path: Path) -> None:
    request = local.SandboxRequest(name="plug", workspace=tmp_path)
    backends.BACKENDS.get("nothing-test").check()
    sandbox = backends.open_sandbox(request, "nothing-test")
    assert isinstance(sandbox, NoSandbox) and sandbox.describe()["name"] == "plug"
    sandbox.close()
    assert sandbox.closed and NothingBackend.checked == 1


def test_kubegym_run_offers_the_registrys_names(repo: Path) -> None:
    # A fresh interpreter: a backend registered before the CLI is built is one of its choices.
    code = (
        "from kubegym.sandbox import backends, local\n"
        "backends.BACKENDS.add('extra', local.JailBackend('process'))\n"
        "from kubegym.cli import run\n"
        "option = next(p for p in run.run.params if p.name == 'sandbox')\n"
        "print(*option.type.choices, option.default)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["bwrap", "process", "extra", "bwrap"]
