"""The API's objects as the compiler reads them: pods with a pod-network address, policies
with their defaults applied, and label selectors.

Called by `kubegym.devcluster.netpol.compiler` only; `selects` is also public for tests.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from kubegym.devcluster.netpol import rules


@dataclasses.dataclass(frozen=True)
class Pod:
    """A pod that may be programmed or be a peer."""

    namespace: str
    name: str
    node: str
    address: rules.Address
    labels: Mapping[str, str]
    #: (port name, protocol) → number, from every container's ``ports``.
    ports: Mapping[tuple[str, str], int]
    #: Sort key among pods claiming one address: a live pod before a deleted one, then the newest.
    rank: tuple[bool, str]


@dataclasses.dataclass(frozen=True)
class Policy:
    """A NetworkPolicy, its ``policyTypes`` defaulted as the API does."""

    namespace: str
    name: str
    selector: rules.Raw
    types: frozenset[str]
    ingress: Sequence[rules.Raw]
    egress: Sequence[rules.Raw]


def pod(raw: rules.Raw) -> Pod | None:
    """The pod, if it has a pod-network IPv4 address and may still use it."""
    meta, spec, status = raw.get("metadata") or {}, raw.get("spec") or {}, raw.get("status") or {}
    if spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return None
    candidates = [entry.get("ip") for entry in status.get("podIPs") or []]
    address = next((a for a in map(_ipv4, [*candidates, status.get("podIP")]) if a), None)
    if address is None:
        return None
    ports = {
        (p["name"], (p.get("protocol") or "TCP").lower()): int(p["containerPort"])
        for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
        for p in c.get("ports") or []
        if p.get("name") and p.get("containerPort")
    }
    return Pod(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        node=spec.get("nodeName") or "",
        address=address,
        labels=meta.get("labels") or {},
        ports=ports,
        rank=("deletionTimestamp" not in meta, meta.get("creationTimestamp") or ""),
    )


def policy(raw: rules.Raw) -> Policy:
    """The policy, with the API's defaulting: Ingress always, Egress when there are egress rules."""
    meta, spec = raw.get("metadata") or {}, raw.get("spec") or {}
    types = spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    return Policy(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        selector=spec.get("podSelector") or {},
        types=frozenset(types),
        ingress=spec.get("ingress") or [],
        egress=spec.get("egress") or [],
    )


def selects(selector: rules.Raw, labels: Mapping[str, str]) -> bool:
    """Whether a label selector (matchLabels and matchExpressions; ``{}``: all) selects `labels`."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op in ("Exists", "DoesNotExist"):
            ok = (key in labels) == (op == "Exists")
        else:  # an operator the API would have refused: select nothing
            ok = False
        if not ok:
            return False
    return True


def _ipv4(text: Any) -> rules.Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address if isinstance(address, rules.Address) else None
