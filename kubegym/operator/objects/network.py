"""The attempt's Service and NetworkPolicies: the sandbox pod admits only its agent pod and
reaches nothing, or only the egress proxy when it has an allowlist; the agent pod reaches
only DNS, its sandbox pod, its store and its model endpoints.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kubegym.operator import labels
from kubegym.operator.objects.agent import store_access
from kubegym.operator.objects.attempt import (
    PRIVATE_CIDRS,
    ROLE_AGENT,
    ROLE_SANDBOX,
    Attempt,
    metadata,
)
from kubegym.operator.objects.egress import proxy_egress


def service(a: Attempt) -> dict[str, Any]:
    """The attempt's Service: the agent pod reaches the sandbox and the evaluator through it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(a, a.service),
        "spec": {
            # Headless: no cluster IP to allocate per trial (a /12 runs out), no kube-proxy
            # rules; the name resolves straight to the sandbox pod.
            "clusterIP": "None",
            "selector": {
                labels.TRIAL: a.trial,
                labels.ATTEMPT: str(a.attempt),
                labels.ROLE: ROLE_SANDBOX,
            },
            "ports": [
                {"name": "sandbox", "port": a.settings.sandbox_port, "targetPort": "sandbox"},
                {"name": "evaluator", "port": a.settings.evaluator_port, "targetPort": "evaluator"},
            ],
        },
    }


def network_policy(a: Attempt) -> dict[str, Any]:
    """Only the attempt's agent pod reaches the sandbox pod; no egress unless the task asks
    (`network: egress`: anywhere; egress hosts: the egress proxy's port only)."""
    policy: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(a, a.base_name),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    labels.TRIAL: a.trial,
                    labels.ATTEMPT: str(a.attempt),
                    labels.ROLE: ROLE_SANDBOX,
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchLabels": {
                                    labels.TRIAL: a.trial,
                                    labels.ATTEMPT: str(a.attempt),
                                    labels.ROLE: ROLE_AGENT,
                                }
                            }
                        }
                    ],
                    "ports": [
                        {"protocol": "TCP", "port": a.settings.sandbox_port},
                        {"protocol": "TCP", "port": a.settings.evaluator_port},
                    ],
                }
            ],
            "egress": [{}] if a.task.spec.network == "egress" else proxy_egress(a),
        },
    }
    return policy


def agent_policy_name(trial: str, attempt: int) -> str:
    """The name of the agent pod's egress NetworkPolicy."""
    return f"{trial}-a{attempt}-agent"


def agent_egress(a: Attempt) -> list[dict[str, Any]]:
    """Where the agent pod may connect besides DNS and its sandbox pod (NetworkPolicy rules).

    The agent's `egress` when it declares one; else, for a model agent or an external
    image, TCP 443 (and `apiBase`'s port) to public addresses; for a built-in agent,
    nothing. kubegym's own agent runner also reaches the store it uploads to.
    """
    rules: list[dict[str, Any]] = []
    public = {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_CIDRS)}}
    if a.agent.egress is not None:
        for rule in a.agent.egress:
            block: dict[str, Any] = {"cidr": rule.cidr}
            if rule.except_cidrs:
                block["except"] = list(rule.except_cidrs)
            rules.append({"to": [{"ipBlock": block}], "ports": [_tcp(port) for port in rule.ports]})
    elif a.agent.builtin is None:
        ports = {443}
        if a.agent.api_base:
            ports.add(_url_port(a.agent.api_base))
        rules.append({"to": [public], "ports": [_tcp(p) for p in sorted(ports)]})
    store_ports = store_access(a).ports
    if store_ports:
        # The store may be in the cluster (MinIO): its ports, to any address.
        rules.append({"ports": [_tcp(port) for port in store_ports]})
    return rules


def agent_network_policy(a: Attempt) -> dict[str, Any]:
    """The agent pod's NetworkPolicy: no ingress; egress to DNS, its sandbox pod's two ports,
    and `agent_egress` only."""
    sandbox = {
        "podSelector": {
            "matchLabels": {
                labels.TRIAL: a.trial,
                labels.ATTEMPT: str(a.attempt),
                labels.ROLE: ROLE_SANDBOX,
            }
        }
    }
    dns = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(a, agent_policy_name(a.trial, a.attempt)),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    labels.TRIAL: a.trial,
                    labels.ATTEMPT: str(a.attempt),
                    labels.ROLE: ROLE_AGENT,
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                dns,
                {
                    "to": [sandbox],
                    "ports": [_tcp(a.settings.sandbox_port), _tcp(a.settings.evaluator_port)],
                },
                *agent_egress(a),
            ],
        },
    }


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)
