"""The development cluster: a real control plane (etcd, kube-apiserver, controller manager,
scheduler) built from source once, with KWOK's fake CPU and GPU nodes, all on loopback.

Called by ``kubegym dev-cluster`` and by the cluster tests' fixture.
"""

from kubegym.devcluster.cluster import ClusterInfo, ClusterOptions, down, status, up

__all__ = ["ClusterInfo", "ClusterOptions", "down", "status", "up"]
