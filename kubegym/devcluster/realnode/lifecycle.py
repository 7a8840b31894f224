"""Starting and stopping the real node: its host setup, RBAC, programs in order, and a
teardown that leaves the host as it was.

`start` claims the host's node for one state dir, writes each program's configuration
(`configs`) and starts containerd, kube-proxy, CoreDNS, the NetworkPolicy controller and
the kubelet, then waits until the node is Ready; `stop` stops the kubelet, every pod
through the CRI, the rest in reverse order, and removes the node's address, bridge and
rules. Called by `kubegym.devcluster.cluster.up` and `down`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubegym import errors
from kubegym.devcluster import _http, config, kubeconfigs, netpol, pki, processes
from kubegym.devcluster.realnode import checks, layout
from kubegym.devcluster.realnode import configs as configs_mod


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
    _check_host(state)
    started = time.monotonic()
    node = _fresh_node_dir(state)
    _prepare_host()
    admin = _http.ApiClient(server, creds.ca_cert, creds.tokens["admin"])
    _rbac(admin)
    configs = _write_kubeconfigs(node, server, creds)
    containerd, crictl_config = _start_containerd(state, node, sandbox_image, timeout)
    pids = {"containerd": containerd}
    pids.update(_start_services(state, node, bin_dir, configs))
    pids["kubelet"] = _start_kubelet(state, node, bin_dir, creds, configs["kubelet"])
    processes.wait_ready("the real node", lambda: _node_ready(admin), timeout, state, "kubelet")
    return NodeInfo(
        name=layout.NODE,
        address=layout.NODE_IP,
        pids=pids,
        crictl_config=str(crictl_config),
        registry=config.REGISTRY,
        startup_seconds=round(time.monotonic() - started, 2),
    )


def _check_host(state: Path) -> None:
    """Refuse a machine `checks.probe` finds unfit, or a host whose node another state dir runs."""
    problem = checks.probe()
    if problem:
        raise errors.ConfigError(
            f"this machine cannot run a real node: {problem}", field="--real-node"
        )
    other = layout.running_elsewhere(state)
    if other is not None:
        raise errors.ConfigError(
            f"a real node is already running on this host, from {other}",
            field="--real-node",
            hint=f"kubegym dev-cluster down --state-dir {other}",
        )


def _fresh_node_dir(state: Path) -> Path:
    """Claim this host's node for ``state`` and empty its folder (mounts of a past node too)."""
    node = layout.node_dir(state)
    layout.owner_file().parent.mkdir(parents=True, exist_ok=True)
    layout.owner_file().write_text(f"{state.resolve()}\n")
    if node.exists():
        _unmount_under(node)
        shutil.rmtree(node)
    node.mkdir(parents=True)
    return node


def _write_kubeconfigs(node: Path, server: str, creds: pki.Credentials) -> dict[str, Path]:
    """Each node program's kubeconfig, as its own user; program → path."""
    configs: dict[str, Path] = {}
    for component, user in (
        ("kubelet", f"system:node:{layout.NODE}"),
        ("kube-proxy", "system:kube-proxy"),
        ("coredns", "system:coredns"),
        ("netpol", "system:kubegym-netpol"),
    ):
        configs[component] = node / f"{component}.kubeconfig"
        kubeconfigs.write(
            configs[component], kubeconfigs.content(server, creds.ca_cert, user, creds.tokens[user])
        )
    return configs


def _start_containerd(
    state: Path, node: Path, sandbox_image: str, timeout: float
) -> tuple[int, Path]:
    """Start containerd and wait for its socket; its pid, and crictl's configuration for it."""
    toml = configs_mod.containerd_config(node, sandbox_image)
    pid = processes.start(
        state, "containerd", [shutil.which("containerd") or "containerd", "--config", str(toml)]
    )
    socket = node / "containerd.sock"
    processes.wait_ready("containerd", socket.exists, timeout, state, "containerd")
    return pid, configs_mod.crictl_config(node)


def _start_services(
    state: Path, node: Path, bin_dir: Path, configs: dict[str, Path]
) -> dict[str, int]:
    """kube-proxy (Services), CoreDNS (their names) and the NetworkPolicy controller; pids."""
    b = bin_dir
    pids: dict[str, int] = {}
    pids["kube-proxy"] = processes.start(state, "kube-proxy", [
        str(b / "kube-proxy"), f"--kubeconfig={configs['kube-proxy']}",
        f"--hostname-override={layout.NODE}", "--proxy-mode=iptables",
        f"--cluster-cidr={layout.CLUSTER_CIDR}", f"--bind-address={layout.NODE_IP}",
        f"--metrics-bind-address=127.0.0.1:{processes.free_port()}",
        f"--healthz-bind-address=127.0.0.1:{processes.free_port()}",
        # This machine's conntrack limits are the host's; never touch them.
        "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0",
        "--conntrack-tcp-timeout-close-wait=0",
    ])  # fmt: skip
    pids["coredns"] = processes.start(
        state,
        "coredns",
        [str(b / "coredns"), "-conf", str(configs_mod.corefile(node, configs["coredns"]))],
    )
    # NetworkPolicies, enforced in the kernel (nftables) by kubegym's own controller:
    # kube-network-policies needs nfqueue, which not every kernel has (`netpol`).
    pids["netpol"] = processes.start(
        state,
        "netpol",
        [sys.executable, "-m", "kubegym.devcluster.netpol",
         f"--kubeconfig={configs['netpol']}", f"--node={layout.NODE}",
         f"--pod-cidr={layout.POD_CIDR}"],
    )  # fmt: skip
    return pids


def _start_kubelet(
    state: Path, node: Path, bin_dir: Path, creds: pki.Credentials, kubeconfig: Path
) -> int:
    """Start the kubelet on free ports, registering the node with its labels."""
    kubelet_port, healthz = processes.free_port(), processes.free_port()
    kubelet_yaml = configs_mod.kubelet_config(node, creds, kubelet_port, healthz)
    labels = ",".join(f"{k}={v}" for k, v in layout.LABELS.items())
    return processes.start(state, "kubelet", [
        str(bin_dir / "kubelet"), f"--config={kubelet_yaml}", f"--kubeconfig={kubeconfig}",
        f"--root-dir={node / 'kubelet'}", f"--hostname-override={layout.NODE}",
        f"--node-ip={layout.NODE_IP}", f"--node-labels={labels}", "--v=1",
    ])  # fmt: skip


def _node_ready(admin: _http.ApiClient) -> bool:
    status, body = admin.request("GET", f"/api/v1/nodes/{layout.NODE}")
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
    node = layout.node_dir(state)
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
    _kill_container_processes(node)
    if layout.running_elsewhere(state) is None:
        # The host's share of the node, unless another state dir's node holds it now.
        proxy = (bin_dir or config.bin_dir()) / "kube-proxy"
        if proxy.is_file() and shutil.which("iptables"):
            _run([str(proxy), "--cleanup"], check=False)
        if shutil.which("nft"):
            with contextlib.suppress(errors.InfraError):
                netpol.remove()
        _run(["ip", "link", "delete", layout.BRIDGE], check=False)
        _run(["ip", "addr", "del", f"{layout.NODE_IP}/32", "dev", layout.NODE_LINK], check=False)
        layout.owner_file().unlink(missing_ok=True)
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


def _kill_container_processes(node: Path, proc: Path = Path("/proc")) -> list[int]:
    """SIGKILL every process of this node's pods still running; the pids.

    Stopping pods through the CRI and killing the shims normally leaves nothing, but a
    container whose shim died first is re-parented to init and keeps running (an operator
    pod of an earlier run was found so, its root file system already detached). What
    marks it as this node's is its cgroup: the kubelet's cgroupfs driver puts every
    container under ``/kubepods/<qos>/pod<uid>/``, and this node's kubelet keeps a folder
    per pod uid under ``<node>/kubelet/pods``. Nothing else on the host is in those pods.
    """
    pods = node / "kubelet" / "pods"
    uids = {entry.name for entry in pods.iterdir()} if pods.is_dir() else set()
    marks = {f"/pod{uid}/" for uid in uids} | {f"/pod{uid}\n" for uid in uids}
    killed: list[int] = []
    if not marks:
        return killed
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cgroups = (entry / "cgroup").read_text()
        except OSError:
            continue
        if any(mark in cgroups for mark in marks):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), 9)
                killed.append(int(entry.name))
    return killed


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


def _prepare_host() -> None:
    """The node's address; forwarding and bridged traffic through iptables."""
    _run(["ip", "addr", "replace", f"{layout.NODE_IP}/32", "dev", layout.NODE_LINK])
    for key, value in (
        ("net/ipv4/ip_forward", "1"),
        ("net/bridge/bridge-nf-call-iptables", "1"),
        # kube-proxy's NodePorts and Services on the node's own address.
        ("net/ipv4/conf/all/route_localnet", "1"),
    ):
        path = Path("/proc/sys") / key
        if path.exists():
            path.write_text(value)


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


def _run(args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise errors.InfraError(
            "ClusterNotReady",
            f"{' '.join(args)} exited {result.returncode}: {result.stderr[-800:]}",
        )
    return result
