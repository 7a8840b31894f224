"""Where a run's agent pods may connect besides DNS and the run's sandboxes: the egress rules
of an agent (`agent_egress`), which `run` puts into the run's NetworkPolicy for that agent.

(The per-attempt Service and policies of operators before per-run objects are owned by
their Trial: the garbage collector removes them with it.)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kubegym.api import runs
from kubegym.operator.objects.agent import store_access
from kubegym.operator.objects.attempt import PRIVATE_CIDRS
from kubegym.operator.settings import Settings


def dns_rule() -> dict[str, Any]:
    """DNS, to any address: an agent pod resolves its sandbox's name and its model's host."""
    return {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def agent_egress(
    agent: runs.Agent, run: runs.BenchmarkRunSpec, settings: Settings
) -> list[dict[str, Any]]:
    """Where the agent's pods may connect besides DNS and the run's sandbox pods (NetworkPolicy rules).

    The agent's `egress` when it declares one; else, for a model agent or an external
    image, TCP 443 (and `apiBase`'s port) to public addresses; for a built-in agent,
    nothing. kubegym's own agent runner also reaches the store it uploads to.
    """
    rules: list[dict[str, Any]] = []
    public = {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_CIDRS)}}
    if agent.egress is not None:
        for rule in agent.egress:
            block: dict[str, Any] = {"cidr": rule.cidr}
            if rule.except_cidrs:
                block["except"] = list(rule.except_cidrs)
            rules.append({"to": [{"ipBlock": block}], "ports": [tcp(port) for port in rule.ports]})
    elif agent.builtin is None:
        ports = {443}
        if agent.api_base:
            ports.add(_url_port(agent.api_base))
        rules.append({"to": [public], "ports": [tcp(p) for p in sorted(ports)]})
    store_ports = store_access(agent, run, settings).ports
    if store_ports:
        # The store may be in the cluster (MinIO): its ports, to any address.
        rules.append({"ports": [tcp(port) for port in store_ports]})
    return rules


def tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
