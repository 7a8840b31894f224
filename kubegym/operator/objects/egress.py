"""What a trial attempt with an egress allowlist adds to its objects.

A trial's allowlist is its task's `egress.hosts` and its run's `sandboxEgress.hosts`
together (`allowlist`); a task with `network: egress` reaches everything already and
gets none. With an allowlist, the attempt's Secret holds the proxy URL with the
attempt's signed credentials (`proxy_url`, `kubegym.egress.credentials`), the sandbox
container reads it as ``HTTP(S)_PROXY`` from that Secret (never in the pod spec, which
more people may read than Secrets), and the sandbox pod's NetworkPolicy lets it reach
the proxy pods' port and nothing else (`proxy_rules`, in the run's policy for sandboxes
labelled ``allowlist``, `network_mode`): no DNS, since the URL names the proxy Service's
cluster IP.

Used by `sandbox` (the env and the mode label), `run` (the rule), the package's
`attempt_objects` (the Secret's key).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final, Literal

from kubegym.api import runs, tasks
from kubegym.egress import credentials
from kubegym.operator.objects.attempt import Attempt, secret_env
from kubegym.operator.settings import EgressProxy

#: The attempt Secret's key holding the proxy URL (with the attempt's credentials).
PROXY_URL: Final = "egress-proxy-url"
#: The variables HTTP clients read (curl and wget read only the lower-case ``http_proxy``).
PROXY_VARIABLES: Final = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
#: Credentials stay valid this long past the pods' own deadline (clock skew, the last upload).
EXPIRY_MARGIN_SECONDS: Final = 600


def hosts(task: tasks.Task, run: runs.BenchmarkRunSpec) -> list[str]:
    """The hosts a trial of `task` in `run` may reach through the proxy, sorted; empty for
    none. A task with `network: egress` reaches everything on its own, so it gets no proxy."""
    if task.spec.network == "egress":
        return []
    return sorted({*task.spec.egress.hosts, *run.sandbox_egress.hosts})


#: A sandbox's network, as its pod's `labels.NETWORK` says: the run's NetworkPolicy for that
#: mode opens its egress (`kubegym.operator.objects.run`); ``none`` has no such policy.
NetworkMode = Literal["none", "allowlist", "open"]

NETWORK_MODES: Final[tuple[NetworkMode, ...]] = ("none", "allowlist", "open")


def network_mode(task: tasks.Task, run: runs.BenchmarkRunSpec) -> NetworkMode:
    """``open`` for a task with `network: egress`, ``allowlist`` for one with egress hosts
    (its own or the run's), else ``none``."""
    if task.spec.network == "egress":
        return "open"
    return "allowlist" if hosts(task, run) else "none"


def allowlist(a: Attempt) -> list[str]:
    """The hosts the attempt's sandbox may reach through the proxy (`hosts`)."""
    return hosts(a.task, a.run)


def grant(a: Attempt, now: float) -> credentials.Grant:
    """The attempt's grant: its allowlist, valid until its pods' deadline (and a margin)."""
    return credentials.Grant(
        namespace=a.namespace,
        trial=a.trial,
        attempt=a.attempt,
        hosts=tuple(allowlist(a)),
        expires=int(now) + a.deadline_seconds() + EXPIRY_MARGIN_SECONDS,
    )


def proxy_url(a: Attempt, clock: Callable[[], float] = time.time) -> str | None:
    """The proxy URL with the attempt's signed credentials; None without an allowlist.

    Raises:
        ValueError: the attempt has an allowlist but the operator knows no proxy (the
            run's logic refuses such runs first, `kubegym.operator.runs.check_tasks`).
    """
    if not allowlist(a):
        return None
    proxy = a.settings.egress
    if proxy is None:
        raise ValueError(f"trial {a.trial} has egress hosts but the operator has no egress proxy")
    user, password = credentials.mint(proxy.key, grant(a, clock()))
    return credentials.proxy_url(proxy.host, proxy.port, user, password)


def proxy_env(a: Attempt) -> list[dict[str, Any]]:
    """The sandbox container's proxy variables, from the attempt's Secret; none without an
    allowlist. ``NO_PROXY`` keeps the sandbox's own local servers off the proxy."""
    if not allowlist(a):
        return []
    return [
        *(secret_env(name, a.base_name, PROXY_URL) for name in PROXY_VARIABLES),
        {"name": "NO_PROXY", "value": "localhost,127.0.0.1,::1"},
        {"name": "no_proxy", "value": "localhost,127.0.0.1,::1"},
    ]


def proxy_egress(a: Attempt) -> list[dict[str, Any]]:
    """The egress rule the attempt's sandbox gets: `proxy_rules` with an allowlist, else none."""
    return proxy_rules(a.settings.egress) if allowlist(a) else []


def proxy_rules(proxy: EgressProxy | None) -> list[dict[str, Any]]:
    """A NetworkPolicy's egress rule to the proxy pods' port and nothing else; none without a
    proxy (a run with egress hosts never starts without one, `runs.check_tasks`)."""
    if proxy is None:
        return []
    return [
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": proxy.namespace}
                    },
                    "podSelector": {"matchLabels": dict(proxy.pod_labels)},
                }
            ],
            "ports": [{"protocol": "TCP", "port": proxy.port}],
        }
    ]
