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
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kubegym import errors
from kubegym.devcluster import _http, config, kubeconfigs, pki, processes

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
#: Debian's packages a node needs: binary → package.
DEBIAN_PACKAGES = {
    "containerd": "containerd",
    "runc": "runc",
    "iptables": "iptables",
    "nft": "nftables",
    "conntrack": "conntrack",
    "docker-registry": "docker-registry",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
}


@dataclass(frozen=True)
class NodeInfo:
    """What `start` started: the node's name and address, its pids, its tools."""

    name: str
    address: str
    pids: dict[str, int]
    #: crictl with this node's runtime endpoint set: ``crictl --config <this> ps``.
    crictl_config: str
    #: The registry's ``host:port``; images pushed there are what the node pulls.
    registry: str
    startup_seconds: float


def node_dir(state: Path) -> Path:
    """``<state>/node``: containerd's and the kubelet's state, configs, the CNI's leases."""
    return state / "node"


def _owner_file() -> Path:
    """Which state dir's node holds this host's node address, bridge and rules."""
    return config.cache_root() / "real-node.owner"


def running_elsewhere(state: Path) -> Path | None:
    """The state dir of a real node still running on this host, when it is not ``state``'s.

    One host has one node address and one bridge: a second real node would take them
    from the first (and `stop` of one would cut the other off).
    """
    try:
        owner = Path(_owner_file().read_text().strip())
    except OSError:
        return None
    if owner == state.resolve():
        return None
    return owner if "kubelet" in processes.recorded(owner) else None


def probe() -> str | None:
    """Why this machine cannot run a real node, or None when it can.

    Checks root, Debian's packages, the node's binaries (built by
    `build.ensure_node_binaries`), and that cgroup controllers are usable.
    """
    if os.geteuid() != 0:
        return "a real node runs containers: it needs root (or a container with CAP_SYS_ADMIN)"
    missing = sorted(
        {
            package
            for binary, package in DEBIAN_PACKAGES.items()
            if (shutil.which(binary) if "/" not in binary else None) is None
            and not Path(binary).exists()
        }
    )
    if missing:
        return f"Debian packages missing: apt-get install {' '.join(missing)} (or `make node-deps`)"
    return _cgroup_problem() or runc_problem()


def runc_problem() -> str | None:
    """Run a static program (Debian's ``ldconfig --version``) in a container, with runc."""
    if not Path("/sbin/ldconfig").is_file():
        return "no /sbin/ldconfig (a static program) to try runc with"
    with tempfile.TemporaryDirectory(prefix="kubegym-runc-probe-") as tmp:
        bundle = Path(tmp)
        spec = _run(["runc", "spec", "--bundle", str(bundle)], check=False)
        if spec.returncode != 0:
            return f"runc spec failed: {spec.stderr.strip()[-300:]}"
        config_path = bundle / "config.json"
        oci = json.loads(config_path.read_text())
        rootfs = bundle / "rootfs"
        for folder in ("proc", "dev"):
            (rootfs / folder).mkdir(parents=True)
        shutil.copy("/sbin/ldconfig", rootfs / "ldconfig")
        oci["root"] = {"path": str(rootfs), "readonly": True}
        oci["process"]["args"] = ["/ldconfig", "--version"]
        oci["process"]["terminal"] = False
        # Nothing mounted over the host's own folders but what a container needs to start.
        oci["mounts"] = [m for m in oci["mounts"] if m["destination"] in ("/proc", "/dev")]
        config_path.write_text(json.dumps(oci))
        name = f"kubegym-probe-{os.getpid()}"
        try:
            result = subprocess.run(
                ["runc", "--root", str(bundle / "state"), "run", "--bundle", str(bundle), name],
                capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return "runc did not run a container within 30 s"
        if result.returncode != 0:
            return f"runc cannot run a container here: {result.stderr.strip()[-300:]}"
    return None


def _cgroup_problem() -> str | None:
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").is_file():
        available = set((root / "cgroup.controllers").read_text().split())
        wanted = {"cpu", "memory", "pids"}
        if not wanted <= available:
            return (
                f"cgroup v2 at {root} offers {sorted(available) or 'no controllers'}, "
                f"a kubelet needs {sorted(wanted)}"
            )
        if not os.access(root, os.W_OK):
            return f"cgroup v2 at {root} is read-only here"
        # The kubelet makes /kubepods below the root and needs the controllers enabled for it:
        # a container whose processes sit in its cgroup root cannot (EBUSY), as on many CI hosts.
        enabled = set((root / "cgroup.subtree_control").read_text().split())
        if not wanted <= enabled:
            try:
                (root / "cgroup.subtree_control").write_text(
                    " ".join(f"+{c}" for c in sorted(wanted - enabled))
                )
            except OSError as exc:
                return (
                    f"cgroup v2 at {root} cannot enable {sorted(wanted - enabled)} for "
                    f"child cgroups ({exc.strerror}): this process shares the cgroup root"
                )
        return None
    for controller in ("cpu", "memory", "pids"):
        path = root / controller
        if not path.is_dir() or not os.access(path, os.W_OK):
            return f"cgroup v1 controller {controller} is not mounted writable at {path}"
    return None


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise errors.InfraError(
            "ClusterNotReady",
            f"{' '.join(args)} exited {result.returncode}: {result.stderr[-800:]}",
        )
    return result


def _prepare_host() -> None:
    """The node's address; forwarding and bridged traffic through iptables."""
    _run(["ip", "addr", "replace", f"{NODE_IP}/32", "dev", NODE_LINK])
    for key, value in (
        ("net/ipv4/ip_forward", "1"),
        ("net/bridge/bridge-nf-call-iptables", "1"),
        # kube-proxy's NodePorts and Services on the node's own address.
        ("net/ipv4/conf/all/route_localnet", "1"),
    ):
        path = Path("/proc/sys") / key
        if path.exists():
            path.write_text(value)


def _containerd_config(node: Path, sandbox_image: str) -> Path:
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
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(node / "cni-leases"),
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (cni / "10-kubegym.conflist").write_text(json.dumps(network, indent=1) + "\n")
    return path


def _kubelet_config(node: Path, creds: pki.Credentials, port: int, healthz: int) -> Path:
    (node / "static-pods").mkdir(parents=True, exist_ok=True)
    resolv = node / "resolv.conf"
    # What a pod's resolv.conf starts from: no upstream (nothing outside is reachable).
    resolv.write_text(f"nameserver {NODE_IP}\n")
    kubelet_config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
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
        "clusterDNS": [NODE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(resolv),
        "podCIDR": POD_CIDR,
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


def _rbac(admin: _http.ApiClient) -> None:
    """Let CoreDNS and the NetworkPolicy controller read what they watch."""
    roles = {
        "system:coredns": [
            {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"],
             "verbs": ["list", "watch"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"],
             "verbs": ["list", "watch"]},
        ],
        "system:kubegym-netpol": [  # the user of `netpol`
            {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"],
             "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"],
             "verbs": ["list", "watch"]},
        ],
    }  # fmt: skip
    base = "/apis/rbac.authorization.k8s.io/v1"
    for user, rules in roles.items():
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": user}, "rules": rules}  # fmt: skip
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": user},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": user,
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
        }
        for path, body in (
            (f"{base}/clusterroles", role),
            (f"{base}/clusterrolebindings", binding),
        ):
            status, answer = admin.request("POST", path, body)
            if status not in (201, 409):
                raise errors.InfraError("ClusterNotReady", f"RBAC for {user}: {answer}")


def _corefile(node: Path, kubeconfig: Path) -> Path:
    path = node / "Corefile"
    path.write_text(
        f"{CLUSTER_DOMAIN}:53 {{\n"
        f"    bind {NODE_IP}\n"
        "    errors\n"
        f"    kubernetes {CLUSTER_DOMAIN} {{\n"
        f"        kubeconfig {kubeconfig} kubegym-dev\n"
        "        pods insecure\n"
        "        ttl 5\n"
        "    }\n"
        "    cache 5\n"
        "}\n"
        # Nothing outside the cluster resolves: a pod's only names are the cluster's.
        ".:53 {\n"
        f"    bind {NODE_IP}\n"
        "    template ANY ANY {\n"
        "        rcode NXDOMAIN\n"
        "    }\n"
        "}\n"
    )
    return path


def start(
    state: Path,
    server: str,
    creds: pki.Credentials,
    sandbox_image: str,
    bin_dir: Path,
    timeout: float = 120.0,
) -> NodeInfo:
    """Start the node's programs and wait until the node is Ready and DNS answers.

    Args:
        state: the cluster's state dir (the node's lives in ``<state>/node``).
        server: the apiserver's URL as this host reaches it.
        creds: the cluster's certificates and tokens (`pki.generate`).
        sandbox_image: the pause image, by digest, in the loopback registry.
        bin_dir: where `build.ensure_node_binaries` put the node's binaries.
        timeout: seconds to wait for each step.

    Raises:
        ConfigError: the machine cannot run a node (`probe`'s reason).
        InfraError: a component did not start (its log's last lines).
    """
    problem = probe()
    if problem:
        raise errors.ConfigError(
            f"this machine cannot run a real node: {problem}", field="--real-node"
        )
    other = running_elsewhere(state)
    if other is not None:
        raise errors.ConfigError(
            f"a real node is already running on this host, from {other}",
            field="--real-node",
            hint=f"kubegym dev-cluster down --state-dir {other}",
        )
    started = time.monotonic()
    node = node_dir(state)
    _owner_file().parent.mkdir(parents=True, exist_ok=True)
    _owner_file().write_text(f"{state.resolve()}\n")
    if node.exists():
        _unmount_under(node)
        shutil.rmtree(node)
    node.mkdir(parents=True)
    _prepare_host()
    admin = _http.ApiClient(server, creds.ca_cert, creds.tokens["admin"])
    _rbac(admin)
    configs: dict[str, Path] = {}
    for component, user in (
        ("kubelet", f"system:node:{NODE}"),
        ("kube-proxy", "system:kube-proxy"),
        ("coredns", "system:coredns"),
        ("netpol", "system:kubegym-netpol"),
    ):
        configs[component] = node / f"{component}.kubeconfig"
        kubeconfigs.write(
            configs[component], kubeconfigs.content(server, creds.ca_cert, user, creds.tokens[user])
        )
    pids: dict[str, int] = {}
    b = bin_dir

    containerd_toml = _containerd_config(node, sandbox_image)
    pids["containerd"] = processes.start(
        state,
        "containerd",
        [shutil.which("containerd") or "containerd", "--config", str(containerd_toml)],
    )
    socket = node / "containerd.sock"
    processes.wait_ready("containerd", socket.exists, timeout, state, "containerd")
    crictl_config = node / "crictl.yaml"
    crictl_config.write_text(
        f"runtime-endpoint: unix://{socket}\nimage-endpoint: unix://{socket}\ntimeout: 30\n"
    )

    pids["kube-proxy"] = processes.start(state, "kube-proxy", [
        str(b / "kube-proxy"), f"--kubeconfig={configs['kube-proxy']}",
        f"--hostname-override={NODE}", "--proxy-mode=iptables",
        f"--cluster-cidr={CLUSTER_CIDR}", f"--bind-address={NODE_IP}",
        f"--metrics-bind-address=127.0.0.1:{processes.free_port()}",
        f"--healthz-bind-address=127.0.0.1:{processes.free_port()}",
        # This machine's conntrack limits are the host's; never touch them.
        "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
    ])  # fmt: skip
    pids["coredns"] = processes.start(
        state, "coredns", [str(b / "coredns"), "-conf", str(_corefile(node, configs["coredns"]))]
    )
    # NetworkPolicies, enforced in the kernel (nftables) by kubegym's own controller:
    # kube-network-policies needs nfqueue, which not every kernel has (`netpol`).
    pids["netpol"] = processes.start(
        state,
        "netpol",
        [sys.executable, "-m", "kubegym.devcluster.netpol",
         f"--kubeconfig={configs['netpol']}", f"--node={NODE}", f"--pod-cidr={POD_CIDR}"],
    )  # fmt: skip

    kubelet_port, healthz = processes.free_port(), processes.free_port()
    kubelet_yaml = _kubelet_config(node, creds, kubelet_port, healthz)
    labels = ",".join(f"{k}={v}" for k, v in LABELS.items())
    pids["kubelet"] = processes.start(state, "kubelet", [
        str(b / "kubelet"), f"--config={kubelet_yaml}", f"--kubeconfig={configs['kubelet']}",
        f"--root-dir={node / 'kubelet'}", f"--hostname-override={NODE}", f"--node-ip={NODE_IP}",
        f"--node-labels={labels}", "--v=1",
    ])  # fmt: skip
    processes.wait_ready("the real node", lambda: _node_ready(admin), timeout, state, "kubelet")
    return NodeInfo(
        name=NODE,
        address=NODE_IP,
        pids=pids,
        crictl_config=str(crictl_config),
        registry=config.REGISTRY,
        startup_seconds=round(time.monotonic() - started, 2),
    )


def _node_ready(admin: _http.ApiClient) -> bool:
    status, body = admin.request("GET", f"/api/v1/nodes/{NODE}")
    if status != 200:
        return False
    conditions = body.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def stop(state: Path, bin_dir: Path | None = None) -> list[str]:
    """Stop the node: the kubelet, every pod (through the CRI), containerd, the rest; clean up.

    Safe to call on a state dir with no node (nothing happens: another cluster's node
    keeps its address and bridge), and again after a partial start.

    Returns:
        The components that were running and are now stopped.
    """
    from kubegym.devcluster import netpol

    node = node_dir(state)
    if not node.exists():
        return []
    stopped = []
    if processes.stop(state, "kubelet"):
        stopped.append("kubelet")
    crictl = (bin_dir or config.bin_dir()) / "crictl"
    crictl_config = node / "crictl.yaml"
    if "containerd" in processes.recorded(state) and crictl.is_file() and crictl_config.is_file():
        base = [str(crictl), "--config", str(crictl_config)]
        # Stopping a pod sandbox runs the CNI's DEL (its address, its netns) and kills its
        # containers; removing it drops its mounts and containerd's record.
        _run([*base, "stopp", *_pod_ids(base)], check=False)
        _run([*base, "rmp", "--all", "--force"], check=False)
    for name in ("netpol", "coredns", "kube-proxy", "containerd"):
        if processes.stop(state, name):
            stopped.append(name)
    _kill_shims(node)
    if running_elsewhere(state) is None:
        # The host's share of the node, unless another state dir's node holds it now.
        proxy = (bin_dir or config.bin_dir()) / "kube-proxy"
        if proxy.is_file() and shutil.which("iptables"):
            _run([str(proxy), "--cleanup"], check=False)
        if shutil.which("nft"):
            with contextlib.suppress(errors.InfraError):
                netpol.remove()
        _run(["ip", "link", "delete", BRIDGE], check=False)
        _run(["ip", "addr", "del", f"{NODE_IP}/32", "dev", NODE_LINK], check=False)
        _owner_file().unlink(missing_ok=True)
    _unmount_under(node)
    return stopped


def _pod_ids(base: list[str]) -> list[str]:
    result = _run([*base, "pods", "-q"], check=False)
    return result.stdout.split() if result.returncode == 0 else []


def _kill_shims(node: Path) -> None:
    """Kill containerd's shims of this node (they outlive containerd by design)."""
    socket = str(node / "containerd.sock")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            cmdline
            and cmdline[0].endswith(b"containerd-shim-runc-v2")
            and socket.encode() in cmdline
        ):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), 9)


def _unmount_under(folder: Path) -> None:
    """Lazily unmount every mount under ``folder``, deepest first."""
    prefix = str(folder.resolve()) + "/"
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            mounts.append(point)
    for point in sorted(mounts, key=len, reverse=True):
        _run(["umount", "-l", point], check=False)
