"""Where the development cluster keeps its binaries and its state, and which versions it runs.

Owns the pinned versions, the binary cache outside the clone and the state-dir
layout; `build`, `processes` and the `kubegym dev-cluster` CLI read them from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubegym import cache

#: The Kubernetes release whose control plane is built from the k8s.io/kubernetes Go module.
KUBERNETES_VERSION = "v1.34.2"
#: KWOK's controller, `sigs.k8s.io/kwok/cmd/kwok` at this tag.
KWOK_VERSION = "v0.8.0"
#: etcd, built from `go.etcd.io/etcd/server/v3` at this tag.
ETCD_VERSION = "v3.6.16"

#: CoreDNS, the real node's cluster DNS, `github.com/coredns/coredns` at this tag.
COREDNS_VERSION = "v1.12.4"
#: crictl, the CRI's command line (tearing a real node's pods down), at this tag.
CRI_TOOLS_VERSION = "v1.34.0"

#: Where a real node's images are served from (`kubegym.devcluster.registry`): a fixed
#: address, so task manifests pinned to it stay valid from one cluster to the next.
REGISTRY = os.environ.get("KUBEGYM_REGISTRY", "127.0.0.1:5100")

#: The binaries the cluster needs, all found in `bin_dir()`.
BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
)
#: What a real node adds (`kubegym.devcluster.realnode`), built into the same folder.
NODE_BINARIES = ("kubelet", "kube-proxy", "coredns", "crictl")


def bin_dir() -> Path:
    """``<cache>/k8s/<version>/bin``: where the built binaries live."""
    return cache.root() / "k8s" / KUBERNETES_VERSION / "bin"


def default_state_dir() -> Path:
    """Where `up` keeps pid files, logs, certificates and etcd's data by default."""
    return cache.root() / "dev-cluster"
