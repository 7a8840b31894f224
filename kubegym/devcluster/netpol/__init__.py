"""NetworkPolicy for the real node's pods, enforced in the kernel with nftables.

`kubegym.devcluster.realnode` starts it: ``python -m kubegym.devcluster.netpol
--kubeconfig PATH --node real-0``. `compile_ruleset` (`compiler`, reading the API's
objects through `objects`) is a pure function from the API's NetworkPolicies, pods and
namespaces to a `Ruleset` of `rules` (its nft script, written by `script`, and
`Ruleset.allows` to ask it questions without a kernel); `run` (`controller`) lists and
watches those three kinds and loads the script whenever it changes (`kernel`), both
tables replaced in one ``nft -f`` transaction.

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

from kubegym.devcluster.netpol.compiler import Ruleset, compile_ruleset
from kubegym.devcluster.netpol.controller import run
from kubegym.devcluster.netpol.kernel import (
    apply,
    ensure_bridge_netfilter,
    forget_connections,
    remove,
)
from kubegym.devcluster.netpol.objects import selects
from kubegym.devcluster.netpol.rules import BRIDGE_PORTS, POD_CIDR, TABLE, Match, Options, PodRules

__all__ = [
    "BRIDGE_PORTS",
    "POD_CIDR",
    "TABLE",
    "Match",
    "Options",
    "PodRules",
    "Ruleset",
    "apply",
    "compile_ruleset",
    "ensure_bridge_netfilter",
    "forget_connections",
    "remove",
    "run",
    "selects",
]
