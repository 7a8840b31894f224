"""Sandbox backends by name: what opens a trial's sandbox, behind one protocol.

A `Backend` says whether it can run on this machine (`Backend.check`) and opens a
sandbox for a `kubegym.sandbox.local.SandboxRequest` (`Backend.open`); what it opens
is an `OpenSandbox`: the command server's client, a description for the trajectory,
and a close. `BACKENDS` holds them by name, and its names are ``kubegym run
--sandbox``'s choices (`kubegym.cli.run`):

- ``bwrap``, the default: the command server in a bubblewrap jail;
- ``process``: the same server with no isolation at all, a loud opt-in (it warns,
  `kubegym.sandbox.isolation.IsolationWarning`).

Both are `kubegym.sandbox.local`'s jail. The agent pod's sandbox implements the same
protocol (`kubegym.agent_runner.pod.RemoteSandbox`) but is not registered: it attaches
to the sandbox pod's server with an address and a token only that pod holds, so it is
no choice for a run on this machine.

Adding a backend: a module with a class that has `check` and `open`, and one line at
the bottom of this file that registers an instance of it.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from kubegym import _registry
from kubegym.sandbox import client as sandbox_client
from kubegym.sandbox import local


class OpenSandbox(Protocol):
    """A sandbox a backend opened for one trial."""

    @property
    def client(self) -> sandbox_client.SandboxClient:
        """The sandbox's command server (`kubegym.sandbox.protocol.Sandbox`)."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the sandbox is (backend, isolation, limits), recorded in the trajectory."""
        ...

    def close(self) -> None:
        """Stop the sandbox and everything it started (idempotent)."""
        ...


class Opener(Protocol):
    """Opens a sandbox for a request (`kubegym.agent_runner.env.ResearchEnv` takes one)."""

    def __call__(self, request: local.SandboxRequest) -> OpenSandbox: ...


class Backend(Protocol):
    """One way of running a trial's sandbox, as `BACKENDS` holds it."""

    def check(self) -> None:
        """Make sure the backend can run here, before any trial starts.

        Raises:
            ConfigError: it cannot; the message says what to install or enable.
        """
        ...

    def open(self, request: local.SandboxRequest) -> OpenSandbox:
        """Start a sandbox for one trial.

        Raises:
            ConfigError: the request is wrong or the backend is unusable.
            InfraError: the sandbox did not start (``SandboxStartFailed``).
        """
        ...


BACKENDS: _registry.Registry[Backend] = _registry.Registry("sandbox backend", field="sandbox")
"""Every sandbox backend, by name."""

#: The backend a run gets unless it asks for another: the isolated one.
DEFAULT: Final = "bwrap"


def open_sandbox(request: local.SandboxRequest, backend: str = DEFAULT) -> OpenSandbox:
    """Open a sandbox for ``request`` with the backend called ``backend``.

    Raises:
        ConfigError: no backend has that name (the known ones listed), or it cannot run.
        InfraError: the sandbox did not start.
    """
    return BACKENDS.get(backend).open(request)


BACKENDS.add("bwrap", local.JailBackend("bwrap"))
BACKENDS.add("process", local.JailBackend("process"))
