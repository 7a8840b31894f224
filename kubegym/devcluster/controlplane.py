"""The development cluster's control plane: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK as host processes on loopback, each with its command line, and the
checks that say when each one (and the whole) is usable.

Called by `kubegym.devcluster.cluster.up`, in `COMPONENTS` order; `cluster.down` stops
them in the reverse order, `cluster.status` asks `api_ok`.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kubegym.devcluster import _http, build, kubeconfigs, nodes, pki, processes, realnode

#: Start order; `kubegym.devcluster.cluster.down` stops in the reverse order.
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
_SERVICE_CIDR = "10.0.0.0/24"


@dataclass(frozen=True)
class Endpoints:
    """The loopback ports the control plane listens on, picked once per `up`."""

    ports: dict[str, int]

    @classmethod
    def pick(cls) -> Endpoints:
        """A free port for every component (and etcd's peer port)."""
        return cls({name: processes.free_port() for name in [*COMPONENTS, "etcd-peer"]})

    @property
    def etcd(self) -> str:
        """etcd's client URL."""
        return f"http://127.0.0.1:{self.ports['etcd']}"

    @property
    def etcd_peer(self) -> str:
        """etcd's peer URL (a cluster of one)."""
        return f"http://127.0.0.1:{self.ports['etcd-peer']}"

    @property
    def apiserver(self) -> str:
        """The apiserver's URL as this host reaches it."""
        return f"https://127.0.0.1:{self.ports['kube-apiserver']}"

    def urls(self) -> dict[str, str]:
        """Component → URL, as `kubegym.devcluster.cluster.ClusterInfo.endpoints` lists them."""
        return {
            "etcd": self.etcd,
            "kube-apiserver": self.apiserver,
            "kube-controller-manager": f"https://127.0.0.1:{self.ports['kube-controller-manager']}",
            "kube-scheduler": f"https://127.0.0.1:{self.ports['kube-scheduler']}",
            "kwok": f"http://127.0.0.1:{self.ports['kwok']}",
        }


def start_etcd(state: Path, bin_dir: Path, at: Endpoints, timeout: float) -> int:
    """Start etcd (no fsync: a development cluster's data is disposable) and wait until healthy."""
    b, url, peer = str(bin_dir), at.etcd, at.etcd_peer
    pid = processes.start(state, "etcd", [
        f"{b}/etcd", "--name=default", f"--data-dir={state / 'etcd-data'}",
        f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
        f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}", "--unsafe-no-fsync", "--log-level=warn",
    ])  # fmt: skip
    processes.wait_ready("etcd", lambda: _etcd_healthy(url), timeout, state, "etcd")
    return pid


def start_apiserver(
    state: Path,
    bin_dir: Path,
    at: Endpoints,
    creds: pki.Credentials,
    admin: _http.ApiClient,
    *,
    real_node: bool,
    timeout: float,
) -> int:
    """Start kube-apiserver and wait until ``admin`` gets 200 from ``/readyz``."""
    b = str(bin_dir)
    pid = processes.start(state, "kube-apiserver", [
        f"{b}/kube-apiserver", f"--etcd-servers={at.etcd}", *_apiserver_network(creds, real_node),
        f"--secure-port={at.ports['kube-apiserver']}", f"--cert-dir={state / 'certs' / 'apiserver'}",
        f"--tls-cert-file={creds.serving_cert}", f"--tls-private-key-file={creds.serving_key}",
        f"--client-ca-file={creds.ca_cert}", f"--token-auth-file={creds.token_file}",
        "--authorization-mode=Node,RBAC", "--anonymous-auth=false",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={creds.service_account_pub}",
        f"--service-account-signing-key-file={creds.service_account_key}",
        f"--service-cluster-ip-range={_SERVICE_CIDR}", "--profiling=false",
        "--enable-priority-and-fairness=false",
    ])  # fmt: skip
    processes.wait_ready(
        "kube-apiserver /readyz",
        lambda: api_ok(admin, "/readyz"),
        timeout,
        state,
        "kube-apiserver",
    )
    return pid


def restart_etcd(state: Path, url: str, timeout: float = 60.0) -> int:
    """Restart etcd in place (SIGTERM, then the same command line over the same data) and
    wait until it is healthy at ``url``; its new pid. For chaos runs."""
    pid = processes.restart(state, "etcd")
    processes.wait_ready("etcd", lambda: _etcd_healthy(url), timeout, state, "etcd")
    return pid


def restart_apiserver(
    state: Path, apiserver: str, ca_cert: Path, token: str, timeout: float = 120.0
) -> int:
    """Restart kube-apiserver in place (same flags and port) and wait until ``token`` (the
    admin's) gets 200 from ``/readyz``; its new pid. For chaos runs.

    SIGTERM, then SIGKILL 5 s later: its own graceful shutdown waits a minute for the
    clients' watches, longer than a crashed or rescheduled API server is away.
    """
    admin = _http.ApiClient(apiserver, ca_cert, token)
    pid = processes.restart(state, "kube-apiserver", timeout=5.0)
    processes.wait_ready(
        "kube-apiserver /readyz", lambda: api_ok(admin, "/readyz"), timeout, state, "kube-apiserver"
    )
    return pid


def _apiserver_network(creds: pki.Credentials, real_node: bool) -> list[str]:
    """Where the apiserver listens and what it advertises as the `kubernetes` Service's endpoint."""
    if real_node:
        # Pods reach the apiserver at the node's address, as the `kubernetes` Service's
        # endpoint; the apiserver reaches kubelets with its client certificate.
        assert creds.kubelet_client_cert is not None and creds.kubelet_client_key is not None
        return [
            "--bind-address=0.0.0.0", f"--advertise-address={realnode.NODE_IP}",
            "--endpoint-reconciler-type=lease",
            f"--kubelet-client-certificate={creds.kubelet_client_cert}",
            f"--kubelet-client-key={creds.kubelet_client_key}",
            "--kubelet-preferred-address-types=InternalIP",
        ]  # fmt: skip
    # The `kubernetes` Service cannot point at a loopback address; nothing runs in-cluster.
    return [
        "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
        "--endpoint-reconciler-type=none",
    ]  # fmt: skip


def start_controllers(
    state: Path, bin_dir: Path, at: Endpoints, creds: pki.Credentials, kubeconfig: Path
) -> dict[str, int]:
    """Start kube-controller-manager and kube-scheduler (each with its own kubeconfig) and
    KWOK (with ``kubeconfig``, the admin's); their pids. Nothing is waited for here."""
    b = str(bin_dir)
    configs: dict[str, Path] = {}
    for name in ("kube-controller-manager", "kube-scheduler"):
        user = f"system:{name}"
        configs[name] = state / "pki" / f"{name}.kubeconfig"
        kubeconfigs.write(
            configs[name],
            kubeconfigs.content(at.apiserver, creds.ca_cert, user, creds.tokens[user]),
        )
    pids: dict[str, int] = {}
    # One endpoint sync per Service a second, as the operator README advises for clusters
    # that run thousands of trials: each sync lists every pod of the namespace, and without
    # a batch period a run's churn made them sync (and retry on a stale cache) for nearly
    # every pod change. At 9,750 trials this halved the controller manager's CPU per trial
    # (bench/README.md).
    batch = ("--endpoint-updates-batch-period=1s", "--endpointslice-updates-batch-period=1s")
    # Nothing here reads the v1 Endpoints API (deprecated since Kubernetes 1.33): the real
    # node's CoreDNS and kube-proxy read EndpointSlices, and the API server calls Kueue's
    # webhook by URL. Its controller listed every pod of a Service's namespace on each sync,
    # as the EndpointSlice controller does, to write a second object for each change; its
    # mirror copies Endpoints that nobody writes.
    unread = ("-endpoints-controller", "-endpointslice-mirroring-controller")
    pids["kube-controller-manager"] = processes.start(state, "kube-controller-manager", [
        f"{b}/kube-controller-manager", f"--kubeconfig={configs['kube-controller-manager']}",
        "--bind-address=127.0.0.1", f"--secure-port={at.ports['kube-controller-manager']}",
        f"--cert-dir={state / 'certs' / 'kube-controller-manager'}",
        f"--controllers={','.join(('*', *unread))}", "--use-service-account-credentials", *batch,
        f"--service-account-private-key-file={creds.service_account_key}",
        f"--root-ca-file={creds.ca_cert}", "--leader-elect=false", "--profiling=false",
    ])  # fmt: skip
    pids["kube-scheduler"] = processes.start(state, "kube-scheduler", [
        f"{b}/kube-scheduler", f"--kubeconfig={configs['kube-scheduler']}",
        "--bind-address=127.0.0.1", f"--secure-port={at.ports['kube-scheduler']}",
        f"--cert-dir={state / 'certs' / 'kube-scheduler'}",
        "--leader-elect=false", "--profiling=false",
    ])  # fmt: skip
    pids["kwok"] = processes.start(state, "kwok", [
        f"{b}/kwok", f"--kubeconfig={kubeconfig}", f"--config={bin_dir / build.KWOK_STAGES_FILE}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={nodes.KWOK_ANNOTATION[0]}={nodes.KWOK_ANNOTATION[1]}",
        "--node-lease-duration-seconds=40", f"--server-address=127.0.0.1:{at.ports['kwok']}",
        "--node-ip=127.0.0.1",
    ])  # fmt: skip
    return pids


def wait_usable(
    state: Path, admin: _http.ApiClient, at: Endpoints, node_names: list[str], timeout: float
) -> None:
    """Wait until pods can be made: the default service account exists, the fake nodes are
    Ready without node.kubernetes.io taints, and the scheduler answers ``/healthz``."""
    sa = "/api/v1/namespaces/default/serviceaccounts/default"
    processes.wait_ready(
        "the default service account",
        lambda: api_ok(admin, sa),
        timeout,
        state,
        "kube-controller-manager",
    )
    processes.wait_ready(
        "the fake nodes", lambda: _nodes_ready(admin, node_names), timeout, state, "kwok"
    )
    processes.wait_ready(
        "kube-scheduler /healthz",
        lambda: _component_ok(at.ports["kube-scheduler"]),
        timeout,
        state,
        "kube-scheduler",
    )


def api_ok(client: _http.ApiClient, path: str) -> bool:
    """Whether the apiserver answers 200 at ``path`` (False when it cannot be reached)."""
    try:
        status, _ = client.request("GET", path)
    except OSError:
        return False
    return status == 200


def _etcd_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("health") == "true")
    except (OSError, ValueError):
        return False


def _nodes_ready(client: _http.ApiClient, names: list[str]) -> bool:
    status, body = client.request("GET", "/api/v1/nodes")
    if status != 200:
        return False
    ready = {
        item["metadata"]["name"]
        for item in body.get("items", [])
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in item.get("status", {}).get("conditions", [])
        )
        and not any(
            t.get("key", "").startswith("node.kubernetes.io/")
            for t in item["spec"].get("taints", [])
        )
    }
    return set(names) <= ready


def _component_ok(port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = (
        ssl.CERT_NONE
    )  # the component's own self-signed serving cert, loopback only
    try:
        with urllib.request.urlopen(
            f"https://127.0.0.1:{port}/healthz", context=context, timeout=2
        ) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False
