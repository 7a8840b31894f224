"""A real node in the development cluster: pods run in real containers on this machine.

KWOK's nodes only say that pods run. `start` adds node ``real-0`` whose pods do:

- **kubelet** (built from the Kubernetes module, like the control plane), cgroupfs
  driver, on cgroup v1 or v2; its API authenticated by client certificate and by
  token review, authorised by the apiserver (a pod reaching the node's address
  cannot exec into another pod);
- **containerd** with **runc** (Debian's packages), its state under the state dir.
  ``restrict_oom_score_adj``: inside a container this machine may not lower OOM
  scores, as the kubelet asks for its pause containers;
- **CNI**: the reference ``bridge`` plugin on ``kgbr0`` with ``host-local`` addresses
  from ``POD_CIDR``; the node's own address ``NODE_IP`` sits on the loopback
  link, so pods reach the apiserver, the kubelet and CoreDNS there;
- **kube-proxy** (iptables mode) for Services, **CoreDNS** for their names, and
  NetworkPolicies enforced in the kernel by `kubegym.devcluster.netpol` (nftables;
  kube-network-policies, the reference, needs nfqueue, which this kernel lacks);
- images from the loopback registry (`kubegym.devcluster.registry`), pulled by
  digest, the pod sandbox's ``pause`` image too.

Everything runs as host processes recorded in the state dir (`processes`), like
the control plane. `stop` tears it down in order: the kubelet, every pod through
the CRI (their network namespaces and mounts go with them), containerd, kube-proxy's
and the NetworkPolicy rules, the node address.

`probe` says why this machine cannot run a node (not root, a package missing,
no usable cgroup controllers) before anything is started.

The parts: `layout` (the node's fixed facts and state), `checks` (`probe`), `configs`
(the files its programs read) and `lifecycle` (`start` and `stop`).
"""

from kubegym.devcluster.realnode.checks import DEBIAN_PACKAGES, probe, runc_problem
from kubegym.devcluster.realnode.layout import (
    BRIDGE,
    CLUSTER_CIDR,
    CLUSTER_DOMAIN,
    COMPONENTS,
    LABELS,
    NODE,
    NODE_IP,
    NODE_LINK,
    POD_CIDR,
    node_dir,
    running_elsewhere,
)
from kubegym.devcluster.realnode.lifecycle import NodeInfo, start, stop

__all__ = [
    "BRIDGE",
    "CLUSTER_CIDR",
    "CLUSTER_DOMAIN",
    "COMPONENTS",
    "DEBIAN_PACKAGES",
    "LABELS",
    "NODE",
    "NODE_IP",
    "NODE_LINK",
    "POD_CIDR",
    "NodeInfo",
    "node_dir",
    "probe",
    "runc_problem",
    "running_elsewhere",
    "start",
    "stop",
]
