"""The operator's side of the installation's egress proxy: where it is, and a trial's records.

`resolve` turns the proxy Service's name (the chart's setting) into its cluster IP once,
when the operator starts (`kubegym.operator.main`), so sandboxes get an address and need
no DNS. `Records` reads an attempt's requests from the proxy's records endpoint
(`kubegym.egress.service`, a port only operator pods reach, behind a token derived from
the signing key) and closes the attempt there: its credentials are refused from then
on, and the proxy forgets its records. `finish` says what a finishing trial's egress
comes to (`status_of`: its `status.egress`, which `kubegym.operator.results` turns into
the trial's results' `EgressSummary`).

The controller writes it into the finished Trial's status and only then closes the
attempts at the proxy: an operator killed in between reads the same records again.

Called by `kubegym.operator.controller` when a trial with an allowlist finishes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from kubegym.api import runs, tasks, trials
from kubegym.egress import credentials, records
from kubegym.errors import ConfigError, InfraError
from kubegym.operator import trials as trials_logic
from kubegym.operator.objects import egress as objects_egress
from kubegym.operator.settings import EgressProxy

#: How long `resolve` waits for the proxy Service's name (installed with the operator).
RESOLVE_SECONDS: Final = 60.0
#: One call to the records endpoint.
TIMEOUT_SECONDS: Final = 10.0
#: Straight to the proxy's records port, whatever proxy variables the operator's env holds.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def resolve(proxy: EgressProxy, wait_seconds: float = RESOLVE_SECONDS) -> EgressProxy:
    """`proxy` with its host as an IPv4 address (a name is looked up, retried a while).

    Raises:
        ConfigError: the name does not resolve within `wait_seconds`.
    """
    try:
        ipaddress.ip_address(proxy.host)
        return proxy
    except ValueError:
        pass
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            found = socket.getaddrinfo(proxy.host, proxy.port, socket.AF_INET, socket.SOCK_STREAM)
            return dataclasses.replace(proxy, host=str(found[0][4][0]))
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"the egress proxy {proxy.host} does not resolve: {exc}",
                    field="KUBEGYM_EGRESS_PROXY",
                ) from None
            time.sleep(1.0)


@dataclass(frozen=True)
class Taken:
    """One attempt's records as the proxy kept them."""

    records: list[records.EgressRecord]
    since: dt.datetime
    """When the proxy started keeping records: a later start than the attempt's lost some."""
    dropped: int
    """Records past the proxy's cap per attempt, counted but not kept."""


def _path(namespace: str, trial: str, attempt: int) -> str:
    return f"/v1/records/{namespace}/{trial}/{attempt}"


class Records:
    """The proxy's records endpoint, as the operator calls it."""

    def __init__(self, proxy: EgressProxy, timeout: float = TIMEOUT_SECONDS) -> None:
        self.base = proxy.records_url
        self.token = credentials.admin_token(proxy.key)
        self.timeout = timeout

    def read(self, namespace: str, trial: str, attempt: int) -> Taken:
        """The attempt's records so far, and since when the proxy has kept records.

        Raises:
            InfraError: the proxy is unreachable or answers an error (``EgressProxyUnavailable``).
        """
        body = self._call("GET", _path(namespace, trial, attempt))
        try:
            found = [records.EgressRecord(**r) for r in body.get("records", [])]
            since = dt.datetime.fromisoformat(str(body["since"]))
            dropped = int(body.get("dropped", 0))
        except (TypeError, KeyError, ValueError) as exc:
            raise InfraError("EgressProxyUnavailable", f"unreadable records: {exc}") from None
        return Taken(found, since, dropped)

    def close(self, namespace: str, trial: str, attempt: int) -> None:
        """Refuse the attempt's credentials from now on; the proxy forgets its records.

        Raises:
            InfraError: the proxy is unreachable or answers an error.
        """
        self._call("DELETE", _path(namespace, trial, attempt))

    def _call(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(
            self.base + path, method=method, headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with _DIRECT.open(request, timeout=self.timeout) as response:
                data = json.loads(response.read() or b"{}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InfraError("EgressProxyUnavailable", f"{method} {path}: {exc}") from None
        if not isinstance(data, dict):
            raise InfraError("EgressProxyUnavailable", f"{method} {path}: not a JSON object")
        return data


@dataclass(frozen=True)
class Finished:
    """What a finishing trial's egress comes to (`finish`)."""

    egress: trials.TrialEgress | None
    """The trial's `status.egress`; None when its sandbox had no network at all."""
    attempts: list[int]
    """The attempts to close at the proxy once the status holds their records."""
    problem: str | None = None
    """Why the records are incomplete, when the proxy could not give them (a Warning)."""


def finish(
    trial: trials_logic.TrialView,
    attempt: int,
    task: tasks.Task,
    run: runs.BenchmarkRunSpec,
    proxy: EgressProxy | None,
) -> Finished:
    """A finishing trial's egress: the open network (`network: egress`), nothing (no hosts
    or no proxy), or every attempt's requests (0 to `attempt`) read from the proxy, marked
    incomplete when the proxy was unreachable, dropped some, or started after the Trial."""
    if task.spec.network == "egress":
        return Finished(trials.TrialEgress(network="open"), [])
    hosts = objects_egress.hosts(task, run)
    if not hosts or proxy is None:
        return Finished(None, [])
    attempts = list(range(attempt + 1))
    found: list[records.EgressRecord] = []
    complete, problem = True, None
    try:
        reader = Records(proxy)
        for number in attempts:
            taken = reader.read(trial.namespace, trial.name, number)
            found += taken.records
            complete = complete and not taken.dropped and taken.since <= trial.created
    except InfraError as exc:
        complete, problem = False, f"the egress proxy's records could not be read: {exc}"
    return Finished(status_of(hosts, found, complete=complete), attempts, problem)


def status_of(
    allowlist: Iterable[str], found: Sequence[records.EgressRecord], *, complete: bool
) -> trials.TrialEgress:
    """A finished trial's egress for its status, from every attempt's records: per host in
    the order first asked, past `trials.EGRESS_HOSTS_MAX` hosts one row for the rest (as
    `records.summarise` counts them)."""
    summary = records.summarise(found, allowlist)
    return trials.TrialEgress(
        network="allowlist",
        allowlist=summary.allowlist,
        # The same fields by the same names: the results' row is the status's, snake-cased.
        hosts=[trials.EgressHostCount.model_validate(h.model_dump()) for h in summary.hosts],
        complete=complete and summary.complete,
    )
