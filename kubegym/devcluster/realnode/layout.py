"""The real node's fixed facts: its name and address, its networks and labels, the order of
its programs, where its state lies, and which state dir holds this host's node.

Read by every module of `kubegym.devcluster.realnode` and, through the package, by the
control plane (`NODE_IP`), the NetworkPolicy controller's defaults and the tests.
"""

from __future__ import annotations

from pathlib import Path

from kubegym import cache
from kubegym.devcluster import pki, processes

NODE = pki.REAL_NODE
NODE_IP = pki.NODE_IP
#: The pods' addresses on this node, and the cluster's (kube-proxy's masquerade rule).
POD_CIDR = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
BRIDGE = "kgbr0"
#: Where the node's address lives: loopback (not every kernel has dummy links), which is
#: still a routable local address for pods coming through the bridge.
NODE_LINK = "lo"
CLUSTER_DOMAIN = "cluster.local"
#: Labels every real node carries: a run, a test or a user selects real containers by it.
LABELS = {"kubegym.io/node": "real", "kubernetes.io/hostname": NODE}
#: Start order; `stop` goes the other way.
COMPONENTS = ["containerd", "kube-proxy", "coredns", "netpol", "kubelet"]


def node_dir(state: Path) -> Path:
    """``<state>/node``: containerd's and the kubelet's state, configs, the CNI's leases."""
    return state / "node"


def owner_file() -> Path:
    """Which state dir's node holds this host's node address, bridge and rules."""
    return cache.root() / "real-node.owner"


def running_elsewhere(state: Path) -> Path | None:
    """The state dir of a real node still running on this host, when it is not ``state``'s.

    One host has one node address and one bridge: a second real node would take them
    from the first (and `stop` of one would cut the other off).
    """
    try:
        owner = Path(owner_file().read_text().strip())
    except OSError:
        return None
    if owner == state.resolve():
        return None
    return owner if "kubelet" in processes.recorded(owner) else None
