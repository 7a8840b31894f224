"""A local trial's network: its egress proxy, how its sandbox reaches it, what results record.

A trial's allowlist is its Task's ``spec.egress.hosts`` and its run's
``spec.sandboxEgress.hosts`` together. With ``network: none`` and an empty allowlist the
sandbox has no network and nothing starts here. With hosts, `TrialNetwork.open` starts the
trial's own proxy (`kubegym.egress.LocalEgress`, log in ``egress.jsonl`` next to
results.json) and hands the research environment a sandbox opener that binds it in
(`kubegym.sandbox.local.EgressRoute`). With ``network: egress``, or a sandbox backend
that does not isolate, the sandbox has the host's network: results say so (``open``).

Used by `kubegym.local.runner` once per attempt.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from pathlib import Path
from typing import Any

from kubegym import egress
from kubegym.api import results as results_api
from kubegym.api import runs, tasks
from kubegym.errors import ConfigError
from kubegym.sandbox import backends as sandbox_backends
from kubegym.sandbox import local as local_sandbox

TRUSTED_ENV = "KUBEGYM_EGRESS_TRUSTED_NETWORKS"
"""Networks, comma-separated CIDRs, that listed names may resolve to besides public
addresses on this machine (`kubegym.egress.ProxySettings.trusted_networks`): a local
mirror, or a gateway that answers DNS for the outside world (a corporate network)."""


def settings_from_environment() -> egress.ProxySettings:
    """The proxies' settings this machine's environment asks for (`TRUSTED_ENV`).

    Raises:
        ConfigError: a part of `TRUSTED_ENV` is not a network.
    """
    trusted = []
    for part in os.environ.get(TRUSTED_ENV, "").split(","):
        if not part.strip():
            continue
        try:
            trusted.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"{part.strip()!r} is not a network",
                field=TRUSTED_ENV,
                hint="CIDRs separated by commas, such as 10.20.0.0/16,203.0.113.80/32",
            ) from None
    return egress.ProxySettings(trusted_networks=tuple(trusted))


def allowlist(task: tasks.Task, run: runs.BenchmarkRun) -> egress.Allowlist:
    """The trial's allowed hosts: the task's and the run's."""
    return egress.Allowlist.union(task.spec.egress.hosts, run.spec.sandbox_egress.hosts)


class TrialNetwork:
    """One attempt's network; `close` it after the attempt.

    Args:
        trial: the trial's id.
        task: its Task (``spec.network``, ``spec.egress``).
        run: its run (``spec.sandboxEgress``).
        folder: the trial's folder (``egress.jsonl`` goes there).
        settings: the proxy's settings; for tests (their server's port).
    """

    def __init__(
        self,
        trial: str,
        task: tasks.Task,
        run: runs.BenchmarkRun,
        folder: Path,
        settings: egress.ProxySettings | None = None,
    ) -> None:
        self.trial = trial
        self.open_network = task.spec.network == "egress"
        self.allowlist = allowlist(task, run)
        self.proxy: egress.LocalEgress | None = None
        self._log = folder / egress.EGRESS_JSONL
        self._settings = settings
        self._closed = False

    @property
    def proxied(self) -> bool:
        """Whether the trial's sandbox goes out through a proxy (hosts listed, no open network)."""
        return bool(self.allowlist) and not self.open_network

    def opener(self, backend: str) -> str | sandbox_backends.Opener:
        """What the research environment's ``sandbox=`` gets: the backend's name when there
        is no proxy, else an opener whose sandboxes reach the proxy (a restarted sandbox too).
        The proxy starts with the first sandbox, so nothing runs for an attempt that fails
        before it has one."""
        if not self.proxied:
            return backend

        def open_with_egress(request: local_sandbox.SandboxRequest) -> sandbox_backends.OpenSandbox:
            proxy = self._started()
            route = local_sandbox.EgressRoute(
                proxy.folder, proxy.socket.name, self.allowlist.patterns
            )
            return sandbox_backends.open_sandbox(
                dataclasses.replace(request, egress=route), backend
            )

        return open_with_egress

    def _started(self) -> egress.LocalEgress:
        if self._closed:
            raise RuntimeError(f"trial {self.trial}'s network is closed")
        if self.proxy is None:
            self.proxy = egress.LocalEgress(self.trial, self.allowlist, self._log, self._settings)
        return self.proxy

    def summary(self, sandbox: dict[str, Any]) -> results_api.EgressSummary | None:
        """What the trial's results record: None for no network at all.

        Args:
            sandbox: the sandbox's description (``isolated`` False: the host's network).
        """
        if self.open_network or (sandbox and not sandbox.get("isolated", True)):
            return results_api.EgressSummary(
                network="open", allowlist=list(self.allowlist.patterns)
            )
        if not self.proxied:
            return None
        if self.proxy is None:  # listed hosts, but no sandbox ever asked for anything
            return egress.summarise([], self.allowlist.patterns).model_copy(update={"log": None})
        return self.proxy.summary()

    def close(self) -> None:
        """Stop the proxy (idempotent); its log stays."""
        self._closed = True
        if self.proxy is not None:
            self.proxy.close()
