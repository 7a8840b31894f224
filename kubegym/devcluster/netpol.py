"""NetworkPolicy for the real node's pods, enforced in the kernel with nftables.

`kubegym.devcluster.realnode` starts it: ``python -m kubegym.devcluster.netpol
--kubeconfig PATH --node real-0``. `compile_ruleset` is a pure function from the API's
NetworkPolicies, pods and namespaces to a `Ruleset` (its nft script, and `Ruleset.allows`
to ask it questions without a kernel); `run` lists and watches those three kinds and
loads the script whenever it changes, both tables replaced in one ``nft -f`` transaction.

Table ``inet kubegym-netpol``, chain ``prerouting`` (hook prerouting, priority filter = 0):
after conntrack (-200) and kube-proxy's DNAT (-100), so a Service's traffic is judged by
the pod it reaches; before SNAT, so by the address it came from. Every packet from a pod
passes it once, whether bridged to a pod (br_netfilter), bound for the node or leaving
it, and so does every packet entering the node. It accepts loopback and ``ct state
established,related``; drops broadcast and multicast from pods (the bridge would flood
them past every ingress rule); jumps by source address through map ``egress-chains`` to
``podN-egress`` (allow rules ``return``, the rest is dropped), then by destination through
``ingress-chains`` to ``podN-ingress`` (allow rules ``accept``, else drop). Fail closed: an
address of the pod CIDR that no pod owns (set ``pod-addresses``; the node's own ones
aside) is dropped both ways. What the node itself sends (probes, host-network pods) is
never filtered: the spec always allows a pod's node. Table ``bridge kubegym-netpol`` lets
only IPv4 and ARP in from the pods' bridge ports (``veth*``: this kernel has no bridge
meta match): pods have IPv6 link-local addresses on the shared bridge.

Enforcement window: a new pod's packets are dropped, not free, until its address is in
the API (the kubelet's status report, ≲1 s) and loaded (a watch event, ~0.1 s). A policy
is loaded ~0.1 s after the API has it, and the conntrack entries of pods whose rules
changed are deleted, so an open connection the new rules forbid stops too. Until the
first sync the whole pod CIDR is dropped; after exit (unless ``--keep``) nothing is.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import ipaddress
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from kubegym import errors
from kubegym import log as logging_setup

TABLE = "kubegym-netpol"
#: The real node's pod addresses (`kubegym.devcluster.realnode.POD_CIDR`).
POD_CIDR = "10.244.0.0/24"
#: The host ends of the pods' veth pairs, as the CNI bridge plugin names them.
BRIDGE_PORTS = "veth*"
PROTOCOLS = ("tcp", "udp", "sctp")
#: How often the ruleset is loaded again with no change (someone may have flushed it).
RESYNC_SECONDS = 30.0
#: How long a burst of API events is gathered before compiling.
DEBOUNCE_SECONDS = 0.05
WATCH_SECONDS = 240
_BR_NETFILTER = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")

Network = ipaddress.IPv4Network
Address = ipaddress.IPv4Address
Raw = Mapping[str, Any]
#: Broadcast and multicast: a bridge floods them to every pod, past any ingress rule.
_FLOODED = (Network("224.0.0.0/4"), Network("255.255.255.255/32"))


@dataclasses.dataclass(frozen=True)
class Options:
    """What `compile_ruleset` programs, and where."""

    #: The node whose pods (``spec.nodeName``) are programmed.
    node: str
    #: The node's pod addresses; one no pod owns is dropped (fail closed). None: no such rule.
    pod_cidr: str | None = POD_CIDR
    #: The pods' bridge ports (an nft interface-name pattern). None: no layer-2 table.
    bridge_ports: str | None = BRIDGE_PORTS
    #: The tables' name, in families inet and bridge.
    table: str = TABLE


@dataclasses.dataclass(frozen=True)
class Match:
    """One allow rule of a pod's chain: a peer's address, a protocol and its ports."""

    #: The peer is in one of these; None: any address.
    addresses: tuple[Network, ...] | None
    #: ...and in none of these (an ipBlock's ``except``).
    excepted: tuple[Network, ...] = ()
    #: ``tcp``, ``udp`` or ``sctp``; None: any protocol, any port.
    protocol: str | None = None
    #: Inclusive ranges of the destination port; None: every port of `protocol`.
    ports: tuple[tuple[int, int], ...] | None = None
    #: The policy it comes from, ``namespace/name``.
    source: str = ""

    def covers(self, peer: Address, protocol: str, port: int) -> bool:
        """Whether this rule lets a packet to or from `peer` with that destination port by."""
        if self.addresses is not None and not any(peer in n for n in self.addresses):
            return False
        if any(peer in n for n in self.excepted):
            return False
        if self.protocol is None:
            return True
        in_ports = self.ports is None or any(lo <= port <= hi for lo, hi in self.ports)
        return protocol == self.protocol and in_ports


@dataclasses.dataclass(frozen=True)
class PodRules:
    """One programmed pod: its address and what it may send and receive (None: not isolated)."""

    namespace: str
    name: str
    address: Address
    ingress: tuple[Match, ...] | None
    egress: tuple[Match, ...] | None


@dataclasses.dataclass(frozen=True)
class Ruleset:
    """What `compile_ruleset` made: the pods' rules and the nft script that loads them."""

    options: Options
    pods: tuple[PodRules, ...]

    @functools.cached_property
    def text(self) -> str:
        """The ``nft -f`` script: replace both tables in one transaction."""
        return _render(self)

    def allows(self, source: str, destination: str, protocol: str, port: int) -> bool:
        """Whether a new connection (``tcp``, ``udp``, ``sctp``; another protocol matches
        only rules without ports) from `source` to `destination` gets through.

        `source` is a pod or another machine, never the node, which is always allowed; the
        node's addresses inside the pod CIDR (the bridge's) read as unknown pods here.
        """
        src, dst, protocol = Address(source), Address(destination), protocol.lower()
        pods = {p.address: p for p in self.pods}
        sender, receiver = pods.get(src), pods.get(dst)
        if sender is not None and any(dst in n for n in _FLOODED):
            return False
        if self.options.pod_cidr is not None:
            cidr = Network(self.options.pod_cidr)
            if (sender is None and src in cidr) or (receiver is None and dst in cidr):
                return False
        return all(
            matches is None or any(m.covers(peer, protocol, port) for m in matches)
            for matches, peer in (
                (sender.egress if sender else None, dst),
                (receiver.ingress if receiver else None, src),
            )
        )


# -- The API's objects ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Pod:
    namespace: str
    name: str
    node: str
    address: Address
    labels: Mapping[str, str]
    #: (port name, protocol) → number, from every container's ``ports``.
    ports: Mapping[tuple[str, str], int]
    #: Sort key among pods claiming one address: a live pod before a deleted one, then the newest.
    rank: tuple[bool, str]


@dataclasses.dataclass(frozen=True)
class _Policy:
    namespace: str
    name: str
    selector: Raw
    types: frozenset[str]
    ingress: Sequence[Raw]
    egress: Sequence[Raw]


def _pod(raw: Raw) -> _Pod | None:
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
    return _Pod(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        node=spec.get("nodeName") or "",
        address=address,
        labels=meta.get("labels") or {},
        ports=ports,
        rank=("deletionTimestamp" not in meta, meta.get("creationTimestamp") or ""),
    )


def _ipv4(text: Any) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return address if isinstance(address, Address) else None


def _policy(raw: Raw) -> _Policy:
    meta, spec = raw.get("metadata") or {}, raw.get("spec") or {}
    # The API's defaulting: Ingress always, Egress when there are egress rules.
    types = spec.get("policyTypes") or ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    return _Policy(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        selector=spec.get("podSelector") or {},
        types=frozenset(types),
        ingress=spec.get("ingress") or [],
        egress=spec.get("egress") or [],
    )


def selects(selector: Raw, labels: Mapping[str, str]) -> bool:
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


# -- Compiling -----------------------------------------------------------------------------


def compile_ruleset(
    policies: Iterable[Raw], pods: Iterable[Raw], namespaces: Iterable[Raw], options: Options
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
    parsed = sorted((p for p in map(_pod, pods) if p), key=lambda p: p.rank, reverse=True)
    owners: dict[Address, _Pod] = {}
    for pod in parsed:  # one owner per address: this node's pod, else the live and newest one
        current = owners.get(pod.address)
        if current is None or (pod.node == options.node and current.node != options.node):
            owners[pod.address] = pod
    peers = sorted(owners.values(), key=lambda p: (p.namespace, p.name))
    parsed_policies = [_policy(p) for p in policies]
    rules = tuple(
        _pod_rules(pod, parsed_policies, peers, ns_labels)
        for pod in peers
        if pod.node == options.node
    )
    return Ruleset(options=options, pods=rules)


def _pod_rules(
    pod: _Pod, policies: list[_Policy], peers: list[_Pod], ns_labels: Mapping[str, Raw]
) -> PodRules:
    selecting = sorted(
        (p for p in policies if p.namespace == pod.namespace and selects(p.selector, pod.labels)),
        key=lambda p: p.name,
    )
    result: dict[str, tuple[Match, ...] | None] = {}
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
    return PodRules(pod.namespace, pod.name, pod.address, result["Ingress"], result["Egress"])


def _rule_matches(
    rule: Raw,
    kind: str,
    policy: _Policy,
    target: _Pod,
    peers: list[_Pod],
    ns_labels: Mapping[str, Raw],
) -> list[Match]:
    """One ingress or egress rule as matches: each peer set × each protocol's ports."""
    source = f"{policy.namespace}/{policy.name}"
    entries = rule.get("from" if kind == "Ingress" else "to") or []
    # Peer sets: (addresses, excepted); no entries means any peer.
    blocks: list[tuple[tuple[Network, ...] | None, tuple[Network, ...]]] = []
    selected: set[Address] = set()
    for entry in entries:
        if "ipBlock" in entry:
            block = _block(entry["ipBlock"])
            if block:
                blocks.append(block)
        elif "podSelector" in entry or "namespaceSelector" in entry:
            selected.update(q.address for q in peers if _peer(entry, policy, q, ns_labels))
    if selected:
        blocks.insert(0, (tuple(Network(a) for a in sorted(selected)), ()))
    if not entries:
        blocks = [(None, ())]

    def within(address: Address) -> bool:
        return any(
            (nets is None or any(address in n for n in nets))
            and not any(address in n for n in excepted)
            for nets, excepted in blocks
        )

    # Ports by protocol (None: every port); named ports of the destination.
    numeric: dict[str, list[tuple[int, int]] | None] = {}
    named: list[tuple[str, str]] = []
    for entry in rule.get("ports") or []:
        protocol = str(entry.get("protocol") or "TCP").lower()
        port = entry.get("port")
        if protocol not in PROTOCOLS:
            continue
        if port is None:
            numeric[protocol] = None
        elif isinstance(port, str):
            named.append((port, protocol))
        elif isinstance(port, int) and 0 < port <= (end := entry.get("endPort") or port) < 65536:
            ranges = numeric.setdefault(protocol, [])
            if ranges is not None:
                ranges.append((port, end))
    if not rule.get("ports"):
        return [Match(nets, excepted, source=source) for nets, excepted in blocks]
    matches: list[Match] = []
    for name, protocol in named:
        if kind == "Ingress":  # the target pod's own port of that name
            number = target.ports.get((name, protocol))
            ranges = numeric.setdefault(protocol, [])
            if number and ranges is not None:
                ranges.append((number, number))
        else:  # each destination pod's port of that name
            matches.extend(
                Match((Network(q.address),), (), protocol, ((n, n),), source)
                for q in peers
                if (n := q.ports.get((name, protocol))) and within(q.address)
            )
    numbered = [
        Match(nets, excepted, protocol, _merge(ranges) if ranges is not None else None, source)
        for nets, excepted in blocks
        for protocol, ranges in sorted(numeric.items())
        if ranges is None or ranges
    ]
    return numbered + matches


def _peer(entry: Raw, policy: _Policy, pod: _Pod, ns_labels: Mapping[str, Raw]) -> bool:
    namespaces = entry.get("namespaceSelector")
    if namespaces is None:
        in_namespace = pod.namespace == policy.namespace
    else:
        # The API labels every namespace with its name; a namespace not listed yet has that.
        labels = {"kubernetes.io/metadata.name": pod.namespace, **ns_labels.get(pod.namespace, {})}
        in_namespace = selects(namespaces, labels)
    pods = entry.get("podSelector")
    return in_namespace and (pods is None or selects(pods, pod.labels))


def _block(raw: Raw) -> tuple[tuple[Network, ...], tuple[Network, ...]] | None:
    """An IPv4 ipBlock as (cidr, excepted); None for IPv6 or a malformed one."""
    try:
        cidr = ipaddress.ip_network(raw.get("cidr", ""), strict=False)
        excepted = [ipaddress.ip_network(e, strict=False) for e in raw.get("except") or []]
    except ValueError:
        return None
    if not isinstance(cidr, Network):
        return None
    kept = [e for e in excepted if isinstance(e, Network)]
    return (cidr,), tuple(ipaddress.collapse_addresses(kept))


def _merge(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


# -- Rendering -----------------------------------------------------------------------------


def _render(ruleset: Ruleset) -> str:
    opts = ruleset.options
    families = ["inet", "bridge"] if opts.bridge_ports else ["inet"]
    out = [
        f"{verb} table {family} {opts.table}" for family in families for verb in ("add", "delete")
    ]
    out.append(f"table inet {opts.table} {{")
    maps: dict[str, list[str]] = {"egress": [], "ingress": []}
    for i, pod in enumerate(ruleset.pods):
        for kind, matches, field, verdict in (
            ("egress", pod.egress, "daddr", "return"),
            ("ingress", pod.ingress, "saddr", "accept"),
        ):
            if matches is None:
                continue
            chain = f"pod{i}-{kind}"
            maps[kind].append(f"{pod.address} : jump {chain}")
            out += [f"\tchain {chain} {{", f"\t\tcomment {_quote(f'{pod.namespace}/{pod.name}')}"]
            out += [f"\t\t{_rule(m, field, verdict)}" for m in matches]
            out += ["\t\tcounter drop", "\t}"]
    addresses = ", ".join(str(p.address) for p in ruleset.pods)
    out += ["\tset pod-addresses {", "\t\ttype ipv4_addr"]
    out += [f"\t\telements = {{ {addresses} }}"] if addresses else []
    out.append("\t}")
    for kind, elements in maps.items():
        out += [f"\tmap {kind}-chains {{", "\t\ttype ipv4_addr : verdict"]
        out += [f"\t\telements = {{ {', '.join(elements)} }}"] if elements else []
        out.append("\t}")
    out += [
        "\tchain prerouting {",
        "\t\ttype filter hook prerouting priority filter; policy accept;",
        '\t\tiifname "lo" accept',
        "\t\tct state established,related accept",
        f"\t\tip saddr @pod-addresses ip daddr {_set(_FLOODED)} counter drop",
        "\t\tip saddr vmap @egress-chains",
    ]
    cidr = opts.pod_cidr
    out += [f"\t\tip saddr {cidr} ip saddr != @pod-addresses counter drop"] if cidr else []
    out.append("\t\tip daddr vmap @ingress-chains")
    out += (
        [f"\t\tip daddr {cidr} ip daddr != @pod-addresses fib daddr type != local counter drop"]
        if cidr
        else []
    )
    out += ["\t}", "}"]
    if opts.bridge_ports:
        out += [
            f"table bridge {opts.table} {{",
            "\tchain prerouting {",
            "\t\ttype filter hook prerouting priority filter; policy accept;",
            f"\t\tiifname {_quote(opts.bridge_ports)} ether type != {{ ip, arp }} counter drop",
            "\t}",
            "}",
        ]
    return "\n".join(out) + "\n"


def _rule(match: Match, field: str, verdict: str) -> str:
    parts = []
    if match.addresses is not None:
        parts.append(f"ip {field} {_set(match.addresses)}")
    if match.excepted:
        parts.append(f"ip {field} != {_set(match.excepted)}")
    if match.protocol is not None:
        parts.append(f"meta l4proto {match.protocol}")
        if match.ports is not None:
            ports = ", ".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in match.ports)
            parts.append(f"th dport {{ {ports} }}")
    return " ".join([*parts, verdict, "comment", _quote(match.source)])


def _set(networks: Iterable[Network]) -> str:
    items = [str(n.network_address) if n.prefixlen == 32 else str(n) for n in networks]
    return "{ " + ", ".join(items) + " }"


def _quote(text: str) -> str:
    return '"' + re.sub(r"[^A-Za-z0-9._/*:-]", "_", text)[:120] + '"'


# -- The kernel ----------------------------------------------------------------------------


def apply(ruleset: Ruleset, *, nft: Sequence[str] = ("nft",)) -> None:
    """Load `ruleset`, replacing its tables atomically.

    Args:
        ruleset: what `compile_ruleset` made.
        nft: the nft command (tests run it in a network namespace).

    Raises:
        errors.InfraError: nft refused the script; the tables loaded before stay.
    """
    _nft(ruleset.text, nft)


def remove(table: str = TABLE, *, nft: Sequence[str] = ("nft",)) -> None:
    """Delete the tables (inet and bridge) named `table`; absent ones are fine."""
    _nft(
        "".join(f"add table {f} {table}\ndelete table {f} {table}\n" for f in ("inet", "bridge")),
        nft,
    )


def _nft(script: str, nft: Sequence[str]) -> None:
    result = subprocess.run([*nft, "-f", "-"], input=script, capture_output=True, text=True)
    if result.returncode != 0:
        raise errors.InfraError("NetworkPolicyNotLoaded", f"nft -f: {result.stderr[-800:]}")


def forget_connections(
    before: Ruleset | None, after: Ruleset, *, conntrack: Sequence[str] = ("conntrack",)
) -> list[str]:
    """Delete the conntrack entries of pods whose rules changed, so `after` judges them.

    An allowed connection survives: conntrack picks it up again from its next packet,
    judged in that packet's direction (so a flow the pod opened may come back as one its
    peer opened, if the pod admits that peer). One that `after` forbids stops.

    Returns:
        The ``conntrack`` arguments run; none when conntrack is not installed.
    """
    old = {(p.namespace, p.name, p.address): p for p in before.pods} if before else {}
    runs: list[str] = []
    for pod in after.pods:
        prev = old.get((pod.namespace, pod.name, pod.address))
        if pod.egress is not None and (prev is None or prev.egress != pod.egress):
            runs.append(f"-D -s {pod.address}")
        if pod.ingress is not None and (prev is None or prev.ingress != pod.ingress):
            runs.append(f"-D --reply-src {pod.address}")
    if shutil.which(conntrack[0]) is None:
        return []
    for args in runs:  # exit 1 means there was nothing to delete
        subprocess.run([*conntrack, *args.split()], capture_output=True, check=False)
    return runs


def ensure_bridge_netfilter() -> None:
    """Make bridged pod-to-pod packets pass the IPv4 hooks (br_netfilter).

    Raises:
        errors.InfraError: the kernel has no br_netfilter.
    """
    if not _BR_NETFILTER.exists():
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, check=False)
    if not _BR_NETFILTER.exists():
        raise errors.InfraError(
            "NetworkPolicyNotLoaded", "no br_netfilter: pod-to-pod traffic would go unfiltered"
        )
    if _BR_NETFILTER.read_text().strip() != "1":
        _BR_NETFILTER.write_text("1")


# -- The controller ------------------------------------------------------------------------


class _Watched:
    """One kind's objects as the API last said: listed, then kept by a watch, in a thread."""

    def __init__(
        self, kind: str, list_call: Callable[..., Any], stream: Callable[..., Iterable[Any]]
    ) -> None:
        self.kind, self.list_call, self.stream = kind, list_call, stream
        self.objects: dict[str, Raw] = {}
        self.synced = False
        self.lock = threading.Lock()

    def snapshot(self) -> list[Raw]:
        with self.lock:
            return list(self.objects.values())

    def run(self, stop: threading.Event, changed: threading.Event) -> None:
        log = structlog.get_logger().bind(kind=self.kind)
        while not stop.is_set():
            try:
                body = json.loads(self.list_call(**_LIST).data)
                with self.lock:
                    self.objects = {_key(o): o for o in body.get("items") or []}
                    self.synced = True
                changed.set()
                version = body["metadata"]["resourceVersion"]
                while not stop.is_set():
                    stream = self.stream(
                        self.list_call,
                        resource_version=version,
                        timeout_seconds=WATCH_SECONDS,
                        allow_watch_bookmarks=True,
                        deserialize=False,
                        _request_timeout=WATCH_SECONDS + 30,  # a silent apiserver too
                    )
                    for event in stream:
                        obj = event["object"]
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                            with self.lock:
                                if event["type"] == "DELETED":
                                    self.objects.pop(_key(obj), None)
                                else:
                                    self.objects[_key(obj)] = obj
                            changed.set()
            except Exception as err:  # any API or connection failure (a 410 too): list again
                log.warning("netpol_watch_restarted", error=str(err)[:300])
                stop.wait(1.0)


#: A list call's options: the API's own JSON (not the client's classes), and a time limit.
_LIST: dict[str, Any] = {"_preload_content": False, "_request_timeout": 30}


def _key(obj: Raw) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _connect(kubeconfig: str) -> list[_Watched]:
    # The Kubernetes client is the operator extra's; the compiler above needs none.
    from kubernetes import client, watch
    from kubernetes import config as loader

    config: Any = loader  # untyped, like the watch
    watcher: Any = watch

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except (config.ConfigException, OSError) as err:
        raise errors.ConfigError(f"unusable kubeconfig: {err}", field="--kubeconfig") from err
    api = client.ApiClient(configuration)
    core, networking = client.CoreV1Api(api), client.NetworkingV1Api(api)

    def stream(*args: Any, **kwargs: Any) -> Iterable[Any]:
        return watcher.Watch().stream(*args, **kwargs)  # type: ignore[no-any-return]

    return [  # compile_ruleset's argument order
        _Watched("networkpolicies", networking.list_network_policy_for_all_namespaces, stream),
        _Watched("pods", core.list_pod_for_all_namespaces, stream),
        _Watched("namespaces", core.list_namespace, stream),
    ]


def run(kubeconfig: str, options: Options, *, once: bool = False, keep: bool = False) -> None:
    """Enforce the cluster's NetworkPolicies on ``options.node`` until SIGTERM or SIGINT.

    Call it from the main thread: it installs the signal handlers (and restores them).

    Args:
        kubeconfig: the controller's kubeconfig (it lists and watches pods, namespaces and
            networkpolicies).
        options: what to program.
        once: load the ruleset once and return, leaving the tables.
        keep: leave the tables when stopped (the pods stay filtered by the last rules).

    Raises:
        errors.InfraError: nft is missing or the kernel lacks br_netfilter.
    """
    log = structlog.get_logger().bind(node=options.node)
    if shutil.which("nft") is None:
        raise errors.InfraError("NetworkPolicyNotLoaded", "nft is not installed (Debian: nftables)")
    ensure_bridge_netfilter()
    kinds = _connect(kubeconfig)
    if once:
        try:
            lists = [json.loads(k.list_call(**_LIST).data)["items"] for k in kinds]
        except Exception as err:  # the client's errors have no common base: name the call
            raise errors.InfraError("ApiUnreachable", f"listing for netpol: {err}") from err
        ruleset = compile_ruleset(lists[0], lists[1], lists[2], options)
        apply(ruleset)
        forget_connections(None, ruleset)
        log.info("netpol_applied", pods=len(ruleset.pods), isolated=_isolated(ruleset))
        return
    stop, changed = threading.Event(), threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("netpol_stopping", signal=signal.Signals(signum).name)
        stop.set()
        changed.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    applied: Ruleset | None = None
    loaded_at = 0.0
    try:
        # Until the first sync no pod address is known: the pod CIDR is dropped (fail closed).
        apply(compile_ruleset([], [], [], options))
        for kind in kinds:
            threading.Thread(target=kind.run, args=(stop, changed), daemon=True).start()
        while not stop.is_set():
            changed.wait(RESYNC_SECONDS)
            changed.clear()
            if stop.is_set() or not all(k.synced for k in kinds):
                continue
            stop.wait(DEBOUNCE_SECONDS)  # gather a burst of events
            started = time.monotonic()
            policies, pods, namespaces = (k.snapshot() for k in kinds)
            ruleset = compile_ruleset(policies, pods, namespaces, options)
            same = applied is not None and ruleset.text == applied.text
            if same and started - loaded_at < RESYNC_SECONDS:
                continue
            try:
                ensure_bridge_netfilter()
                apply(ruleset)
            except errors.InfraError as err:  # the previous rules stay; try again
                log.error("netpol_apply_failed", error=str(err))
                stop.wait(1.0)
                changed.set()
                continue
            forget_connections(applied, ruleset)
            loaded_at = time.monotonic()
            if not same:
                log.info(
                    "netpol_applied",
                    pods=len(ruleset.pods),
                    isolated=_isolated(ruleset),
                    seconds=round(loaded_at - started, 3),
                )
            applied = ruleset
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if not keep:
            remove(options.table)
            log.info("netpol_removed", table=options.table)


def _isolated(ruleset: Ruleset) -> int:
    return sum(1 for p in ruleset.pods if p.ingress is not None or p.egress is not None)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kubegym.devcluster.netpol",
        description="Enforce NetworkPolicies for one node's pods with nftables.",
        epilog="example: python -m kubegym.devcluster.netpol --kubeconfig netpol.kubeconfig "
        "--node real-0",
    )
    parser.add_argument("--kubeconfig", required=True, help="the controller's kubeconfig")
    parser.add_argument("--node", required=True, help="the node whose pods are programmed")
    parser.add_argument(
        "--once", action="store_true", help="load once and exit, keeping the tables"
    )
    parser.add_argument("--keep", action="store_true", help="keep the tables on exit")
    parser.add_argument(
        "--pod-cidr",
        default=POD_CIDR,
        help=f"drop addresses here that no pod owns ('' for none; default {POD_CIDR})",
    )
    parser.add_argument(
        "--bridge-ports",
        default=BRIDGE_PORTS,
        help=f"the pods' bridge ports: only IPv4 and ARP enter from them ('' for no such rule; "
        f"default {BRIDGE_PORTS})",
    )
    parser.add_argument("--table", default=TABLE, help=f"the tables' name (default {TABLE})")
    args = parser.parse_args(argv)
    logging_setup.configure()
    options = Options(
        node=args.node,
        pod_cidr=args.pod_cidr or None,
        bridge_ports=args.bridge_ports or None,
        table=args.table,
    )
    try:
        run(args.kubeconfig, options, once=args.once, keep=args.keep)
    except errors.KubegymError as err:
        structlog.get_logger().error("netpol_failed", error=str(err))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
