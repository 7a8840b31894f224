"""The files the real node's programs read: containerd's configuration with the CNI
network, the kubelet's configuration, CoreDNS's Corefile and crictl's configuration.

Each function writes its file under the node's folder and returns its path; called by
`kubegym.devcluster.realnode.lifecycle.start` before it starts the program that reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

from kubegym.devcluster import config, pki
from kubegym.devcluster.realnode import layout


def containerd_config(node: Path, sandbox_image: str) -> Path:
    """containerd's configuration (runc, overlayfs, the loopback registry by plain HTTP, the
    pause image) and the CNI network it gives pods: a bridge with host-local addresses."""
    certs = node / "certs.d" / config.REGISTRY
    certs.mkdir(parents=True, exist_ok=True)
    (certs / "hosts.toml").write_text(
        f'server = "http://{config.REGISTRY}"\n'
        f'[host."http://{config.REGISTRY}"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    path = node / "containerd.toml"
    path.write_text(
        "version = 2\n"
        f'root = "{node / "containerd"}"\n'
        f'state = "{node / "containerd-state"}"\n'
        "[grpc]\n"
        f'  address = "{node / "containerd.sock"}"\n'
        f"[{cri}]\n"
        f'  sandbox_image = "{sandbox_image}"\n'
        "  restrict_oom_score_adj = true\n"
        "  enable_unprivileged_ports = false\n"
        f"  [{cri}.containerd]\n"
        '    snapshotter = "overlayfs"\n'
        '    default_runtime_name = "runc"\n'
        f"    [{cri}.containerd.runtimes.runc]\n"
        '      runtime_type = "io.containerd.runc.v2"\n'
        f"      [{cri}.containerd.runtimes.runc.options]\n"
        f'        Root = "{node / "runc"}"\n'
        f"  [{cri}.cni]\n"
        '    bin_dir = "/usr/lib/cni"\n'
        f'    conf_dir = "{node / "cni"}"\n'
        f"  [{cri}.registry]\n"
        f'    config_path = "{node / "certs.d"}"\n'
    )
    cni = node / "cni"
    cni.mkdir(parents=True, exist_ok=True)
    network = {
        "cniVersion": "1.0.0",
        "name": "kubegym",
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(node / "cni-leases"),
                    "ranges": [[{"subnet": layout.POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (cni / "10-kubegym.conflist").write_text(json.dumps(network, indent=1) + "\n")
    return path


def kubelet_config(node: Path, creds: pki.Credentials, port: int, healthz: int) -> Path:
    """The kubelet's configuration (and the resolv.conf pods start from): its API on the
    node's address at ``port``, webhook authentication and authorisation, fast status and
    eviction periods for a development machine."""
    (node / "static-pods").mkdir(parents=True, exist_ok=True)
    resolv = node / "resolv.conf"
    # What a pod's resolv.conf starts from: no upstream (nothing outside is reachable).
    resolv.write_text(f"nameserver {layout.NODE_IP}\n")
    kubelet_config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": layout.NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(creds.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{node / 'containerd.sock'}",
        "failSwapOn": False,
        # From v1.35 a kubelet refuses cgroup v1 unless told; this machine may have only v1.
        "failCgroupV1": False,
        "clusterDNS": [layout.NODE_IP],
        "clusterDomain": layout.CLUSTER_DOMAIN,
        "resolvConf": str(resolv),
        "podCIDR": layout.POD_CIDR,
        "staticPodPath": str(node / "static-pods"),
        "serializeImagePulls": False,
        "maxPods": 60,
        # A development machine's disk is shared with everything else: evict pods for
        # their own ephemeral-storage limits, not for the host's free space.
        "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%"},
        "evictionPressureTransitionPeriod": "10s",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "localStorageCapacityIsolation": True,
        "housekeepingInterval": "2s",
        # emptyDir usage is measured (du) once per period: the default minute lets a pod
        # run far past its ephemeral-storage limit before the eviction manager sees it.
        "volumeStatsAggPeriod": "5s",
        "nodeStatusUpdateFrequency": "5s",
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
        "shutdownGracePeriod": "0s",
    }
    path = node / "kubelet.yaml"
    path.write_text(json.dumps(kubelet_config, indent=1) + "\n")
    return path


def corefile(node: Path, kubeconfig: Path) -> Path:
    """CoreDNS's Corefile: the cluster's names on the node's address, nothing else resolves."""
    path = node / "Corefile"
    path.write_text(
        f"{layout.CLUSTER_DOMAIN}:53 {{\n"
        f"    bind {layout.NODE_IP}\n"
        "    errors\n"
        f"    kubernetes {layout.CLUSTER_DOMAIN} {{\n"
        f"        kubeconfig {kubeconfig} kubegym-dev\n"
        "        pods insecure\n"
        "        ttl 5\n"
        "    }\n"
        "    cache 5\n"
        "}\n"
        # Nothing outside the cluster resolves: a pod's only names are the cluster's.
        ".:53 {\n"
        f"    bind {layout.NODE_IP}\n"
        "    template ANY ANY {\n"
        "        rcode NXDOMAIN\n"
        "    }\n"
        "}\n"
    )
    return path


def crictl_config(node: Path) -> Path:
    """crictl's configuration: this node's containerd, for containers and images alike."""
    socket = node / "containerd.sock"
    path = node / "crictl.yaml"
    path.write_text(
        f"runtime-endpoint: unix://{socket}\nimage-endpoint: unix://{socket}\ntimeout: 30\n"
    )
    return path
