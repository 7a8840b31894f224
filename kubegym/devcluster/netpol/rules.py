"""The words of compiled NetworkPolicy rules: `Options` (what is programmed, and where), one
`Match` (an allow rule of a pod's chain) and `PodRules` (a programmed pod's matches).

`compiler` makes them from the API's objects, `script` writes them as nft text and
`kubegym.devcluster.netpol.compiler.Ruleset.allows` reads them to answer questions
without a kernel.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping
from typing import Any

TABLE = "kubegym-netpol"
#: The real node's pod addresses (`kubegym.devcluster.realnode.POD_CIDR`).
POD_CIDR = "10.244.0.0/24"
#: The host ends of the pods' veth pairs, as the CNI bridge plugin names them.
BRIDGE_PORTS = "veth*"
PROTOCOLS = ("tcp", "udp", "sctp")

Network = ipaddress.IPv4Network
Address = ipaddress.IPv4Address
Raw = Mapping[str, Any]
#: Broadcast and multicast: a bridge floods them to every pod, past any ingress rule.
FLOODED = (Network("224.0.0.0/4"), Network("255.255.255.255/32"))


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
