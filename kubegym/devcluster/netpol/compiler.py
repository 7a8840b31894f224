"""NetworkPolicies compiled into a `Ruleset`: a pure function from the API's policies, pods
and namespaces to each programmed pod's allow rules.

`compile_ruleset` is called by the controller on every change (and by the tests, which ask
`Ruleset.allows` what gets through, or load `Ruleset.text` into a real kernel).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
from collections.abc import Iterable, Mapping

from kubegym.devcluster.netpol import objects, rules, script

#: Peer sets of a rule: (addresses, excepted); None addresses: any peer.
_Blocks = list[tuple[tuple[rules.Network, ...] | None, tuple[rules.Network, ...]]]


@dataclasses.dataclass(frozen=True)
class Ruleset:
    """What `compile_ruleset` made: the pods' rules and the nft script that loads them."""

    options: rules.Options
    pods: tuple[rules.PodRules, ...]

    @functools.cached_property
    def text(self) -> str:
        """The ``nft -f`` script: replace both tables in one transaction."""
        return script.render(self.options, self.pods)

    def allows(self, source: str, destination: str, protocol: str, port: int) -> bool:
        """Whether a new connection (``tcp``, ``udp``, ``sctp``; another protocol matches
        only rules without ports) from `source` to `destination` gets through.

        `source` is a pod or another machine, never the node, which is always allowed; the
        node's addresses inside the pod CIDR (the bridge's) read as unknown pods here.
        """
        src, dst, protocol = rules.Address(source), rules.Address(destination), protocol.lower()
        pods = {p.address: p for p in self.pods}
        sender, receiver = pods.get(src), pods.get(dst)
        if sender is not None and any(dst in n for n in rules.FLOODED):
            return False
        if self.options.pod_cidr is not None:
            cidr = rules.Network(self.options.pod_cidr)
            if (sender is None and src in cidr) or (receiver is None and dst in cidr):
                return False
        return all(
            matches is None or any(m.covers(peer, protocol, port) for m in matches)
            for matches, peer in (
                (sender.egress if sender else None, dst),
                (receiver.ingress if receiver else None, src),
            )
        )


def compile_ruleset(
    policies: Iterable[rules.Raw],
    pods: Iterable[rules.Raw],
    namespaces: Iterable[rules.Raw],
    options: rules.Options,
) -> Ruleset:
    """The rules that enforce `policies` for the pods of ``options.node``.

    Args:
        policies: NetworkPolicies (networking.k8s.io/v1), as the API returns them.
        pods: every pod of the cluster (peers may be anywhere); only those on the node with
            an IPv4 pod address are programmed. Host-network pods are neither programmed nor
            peers; pods that ended are ignored.
        namespaces: every namespace, for namespaceSelectors.
        options: the node, its pod CIDR, bridge ports and table name.

    Returns:
        The ruleset, its pods in (namespace, name) order; ``.text`` is the nft script.
    """
    ns_labels = {
        (n.get("metadata") or {}).get("name", ""): (n.get("metadata") or {}).get("labels") or {}
        for n in namespaces
    }
    parsed = sorted((p for p in map(objects.pod, pods) if p), key=lambda p: p.rank, reverse=True)
    owners: dict[rules.Address, objects.Pod] = {}
    for pod in parsed:  # one owner per address: this node's pod, else the live and newest one
        current = owners.get(pod.address)
        if current is None or (pod.node == options.node and current.node != options.node):
            owners[pod.address] = pod
    peers = sorted(owners.values(), key=lambda p: (p.namespace, p.name))
    parsed_policies = [objects.policy(p) for p in policies]
    programmed = tuple(
        _pod_rules(pod, parsed_policies, peers, ns_labels)
        for pod in peers
        if pod.node == options.node
    )
    return Ruleset(options=options, pods=programmed)


def _pod_rules(
    pod: objects.Pod,
    policies: list[objects.Policy],
    peers: list[objects.Pod],
    ns_labels: Mapping[str, rules.Raw],
) -> rules.PodRules:
    selecting = sorted(
        (
            p
            for p in policies
            if p.namespace == pod.namespace and objects.selects(p.selector, pod.labels)
        ),
        key=lambda p: p.name,
    )
    result: dict[str, tuple[rules.Match, ...] | None] = {}
    for kind in ("Ingress", "Egress"):
        chosen = [p for p in selecting if kind in p.types]
        result[kind] = (
            tuple(
                m
                for p in chosen
                for rule in (p.ingress if kind == "Ingress" else p.egress)
                for m in _rule_matches(rule, kind, p, pod, peers, ns_labels)
            )
            if chosen
            else None
        )
    return rules.PodRules(pod.namespace, pod.name, pod.address, result["Ingress"], result["Egress"])


def _rule_matches(
    rule: rules.Raw,
    kind: str,
    policy: objects.Policy,
    target: objects.Pod,
    peers: list[objects.Pod],
    ns_labels: Mapping[str, rules.Raw],
) -> list[rules.Match]:
    """One ingress or egress rule as matches: each peer set × each protocol's ports."""
    source = f"{policy.namespace}/{policy.name}"
    entries = rule.get("from" if kind == "Ingress" else "to") or []
    blocks = _peer_blocks(entries, policy, peers, ns_labels)
    if not rule.get("ports"):
        return [rules.Match(nets, excepted, source=source) for nets, excepted in blocks]
    numeric, named = _ports(rule)
    matches: list[rules.Match] = []
    for name, protocol in named:
        if kind == "Ingress":  # the target pod's own port of that name
            number = target.ports.get((name, protocol))
            ranges = numeric.setdefault(protocol, [])
            if number and ranges is not None:
                ranges.append((number, number))
        else:  # each destination pod's port of that name
            matches.extend(
                rules.Match((rules.Network(q.address),), (), protocol, ((n, n),), source)
                for q in peers
                if (n := q.ports.get((name, protocol))) and _within(blocks, q.address)
            )
    numbered = [
        rules.Match(
            nets, excepted, protocol, _merge(ranges) if ranges is not None else None, source
        )
        for nets, excepted in blocks
        for protocol, ranges in sorted(numeric.items())
        if ranges is None or ranges
    ]
    return numbered + matches


def _peer_blocks(
    entries: Iterable[rules.Raw],
    policy: objects.Policy,
    peers: list[objects.Pod],
    ns_labels: Mapping[str, rules.Raw],
) -> _Blocks:
    """A rule's peers as address sets: the selected pods' addresses first, then each ipBlock;
    no entries means any peer."""
    blocks: _Blocks = []
    selected: set[rules.Address] = set()
    entries = list(entries)
    for entry in entries:
        if "ipBlock" in entry:
            block = _block(entry["ipBlock"])
            if block:
                blocks.append(block)
        elif "podSelector" in entry or "namespaceSelector" in entry:
            selected.update(q.address for q in peers if _peer(entry, policy, q, ns_labels))
    if selected:
        blocks.insert(0, (tuple(rules.Network(a) for a in sorted(selected)), ()))
    if not entries:
        blocks = [(None, ())]
    return blocks


def _ports(
    rule: rules.Raw,
) -> tuple[dict[str, list[tuple[int, int]] | None], list[tuple[str, str]]]:
    """A rule's ports: numbered ranges by protocol (None: every port), and named ports."""
    numeric: dict[str, list[tuple[int, int]] | None] = {}
    named: list[tuple[str, str]] = []
    for entry in rule.get("ports") or []:
        protocol = str(entry.get("protocol") or "TCP").lower()
        port = entry.get("port")
        if protocol not in rules.PROTOCOLS:
            continue
        if port is None:
            numeric[protocol] = None
        elif isinstance(port, str):
            named.append((port, protocol))
        elif isinstance(port, int) and 0 < port <= (end := entry.get("endPort") or port) < 65536:
            ranges = numeric.setdefault(protocol, [])
            if ranges is not None:
                ranges.append((port, end))
    return numeric, named


def _within(blocks: _Blocks, address: rules.Address) -> bool:
    return any(
        (nets is None or any(address in n for n in nets))
        and not any(address in n for n in excepted)
        for nets, excepted in blocks
    )


def _peer(
    entry: rules.Raw, policy: objects.Policy, pod: objects.Pod, ns_labels: Mapping[str, rules.Raw]
) -> bool:
    namespaces = entry.get("namespaceSelector")
    if namespaces is None:
        in_namespace = pod.namespace == policy.namespace
    else:
        # The API labels every namespace with its name; a namespace not listed yet has that.
        labels = {"kubernetes.io/metadata.name": pod.namespace, **ns_labels.get(pod.namespace, {})}
        in_namespace = objects.selects(namespaces, labels)
    pods = entry.get("podSelector")
    return in_namespace and (pods is None or objects.selects(pods, pod.labels))


def _block(raw: rules.Raw) -> tuple[tuple[rules.Network, ...], tuple[rules.Network, ...]] | None:
    """An IPv4 ipBlock as (cidr, excepted); None for IPv6 or a malformed one."""
    try:
        cidr = ipaddress.ip_network(raw.get("cidr", ""), strict=False)
        excepted = [ipaddress.ip_network(e, strict=False) for e in raw.get("except") or []]
    except ValueError:
        return None
    if not isinstance(cidr, rules.Network):
        return None
    kept = [e for e in excepted if isinstance(e, rules.Network)]
    return (cidr,), tuple(ipaddress.collapse_addresses(kept))


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)
