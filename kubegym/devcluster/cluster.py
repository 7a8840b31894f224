"""Bringing the development cluster up and down: etcd, the control plane, KWOK and fake nodes.

`up`, `down` and `status` are what ``kubegym dev-cluster`` and the cluster tests'
fixture call. `up` starts the control plane's processes (`kubegym.devcluster.controlplane`),
registers the fake nodes, then the optional S3 server, Prometheus and real node, and
records the cluster. Everything listens on 127.0.0.1; everything lives in the state dir.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kubegym import errors
from kubegym.devcluster import (
    _http,
    build,
    config,
    controlplane,
    egress,
    kubeconfigs,
    kueue,
    nodes,
    pki,
    processes,
    realnode,
    registry,
)

#: Where the optional S3 server, Prometheus and egress proxy keep their state, under the cluster's.
S3_DIR = "s3"
PROMETHEUS_DIR = "prometheus"
EGRESS_DIR = "egress"

_INFO_FILE = "cluster.json"


@dataclass(frozen=True)
class ClusterOptions:
    """What `up` builds: how many fake nodes, and where the kubeconfig and state go."""

    cpu_nodes: int = 2
    gpu_nodes: int = 2
    state_dir: Path = field(default_factory=config.default_state_dir)
    #: Where the admin kubeconfig is written; ``<state>/kubeconfig`` when None.
    kubeconfig: Path | None = None
    #: Seconds to wait for each readiness step.
    timeout: float = 120.0
    #: Also start a real S3 server (MinIO built from its Go module) for the artifact store.
    with_s3: bool = False
    #: Also start Debian's Prometheus, scraping `scrape_targets` as job `kubegym-operator`.
    with_prometheus: bool = False
    #: What Prometheus scrapes: by default where `kubegym operator` serves /metrics.
    scrape_targets: tuple[str, ...] = ("127.0.0.1:9090",)
    #: Also start kubegym's egress proxy on loopback (`kubegym.devcluster.egress`).
    with_egress_proxy: bool = False
    #: Also start Kueue (`kubegym.devcluster.kueue`): its pod integration and webhooks.
    with_kueue: bool = False
    #: Also start a real node (`kubegym.devcluster.realnode`): pods in real containers.
    real_node: bool = False
    #: The real node's pause image (``registry/repo@sha256:…``), already in the registry;
    #: when None, the one `kubegym.images` locked is pushed and used.
    pause_image: str | None = None


@dataclass(frozen=True)
class ClusterInfo:
    """A running cluster: what `up` prints as one JSON line."""

    kubeconfig: str
    apiserver: str
    pids: dict[str, int]
    endpoints: dict[str, str]
    state_dir: str
    #: The admin's bearer token (also in the kubeconfig).
    token: str = field(repr=False)
    ca_cert: str = ""
    startup_seconds: float = 0.0
    #: With --with-s3: the file holding the S3 server's credentials.
    s3_credentials: str | None = None
    #: The kubectl built with the cluster (same release).
    kubectl: str = ""
    #: With a real node: its name, address, registry and crictl config (`realnode.NodeInfo`),
    #: and ``images``: each locked node image as pushed, ``registry/path@sha256:…``.
    real_node: dict[str, Any] | None = None
    #: With --with-egress-proxy: the ``KUBEGYM_EGRESS_*`` variables for ``kubegym operator``.
    egress_proxy: dict[str, str] | None = None

    def to_json(self) -> str:
        """One line of JSON, without the token."""
        data = asdict(self)
        data.pop("token")
        return json.dumps(data, sort_keys=True)


def up(options: ClusterOptions) -> ClusterInfo:
    """Build what is missing, start every component, register the nodes, wait until usable.

    Args:
        options: node counts, state dir and kubeconfig path.

    Returns:
        The running cluster's kubeconfig, endpoints and pids.

    Raises:
        ConfigError: a cluster recorded in this state dir is still running.
        InfraError: a build, a certificate or a component failed (everything started is stopped).
    """
    state = options.state_dir.resolve()
    running = processes.recorded(state)
    if running:
        raise errors.ConfigError(
            f"a development cluster is already running from {state} ({', '.join(running)})",
            field="--state-dir",
            hint="run `kubegym dev-cluster down` first, or pick another --state-dir",
        )
    if options.real_node:
        problem = realnode.probe()
        if problem:
            raise errors.ConfigError(
                f"this machine cannot run a real node: {problem}", field="--real-node"
            )
        bin_dir = build.ensure_node_binaries()
    else:
        bin_dir = build.ensure_binaries()
    if options.with_kueue:
        kueue.ensure_built()
    started = time.monotonic()
    for stale in ("etcd-data", "pki", "pids", "certs", _INFO_FILE):
        path = state / stale
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    state.mkdir(parents=True, exist_ok=True)
    try:
        return _start(options, state, bin_dir, started)
    except BaseException:
        kueue.stop(state)
        egress.stop(state / EGRESS_DIR)
        if options.real_node:
            realnode.stop(state, bin_dir)
            registry.stop(state)
        processes.stop_all(state, list(reversed(controlplane.COMPONENTS)))
        raise


def _start(options: ClusterOptions, state: Path, bin_dir: Path, started: float) -> ClusterInfo:
    """Start the control plane and the nodes in order, each waited for; record the cluster."""
    creds = pki.generate(state / "pki")
    at = controlplane.Endpoints.pick()
    admin = _http.ApiClient(at.apiserver, creds.ca_cert, creds.tokens["admin"])
    pids = {"etcd": controlplane.start_etcd(state, bin_dir, at, options.timeout)}
    pids["kube-apiserver"] = controlplane.start_apiserver(
        state, bin_dir, at, creds, admin, real_node=options.real_node, timeout=options.timeout
    )
    kubeconfig = (options.kubeconfig or state / "kubeconfig").resolve()
    kubeconfigs.write(
        kubeconfig, kubeconfigs.content(at.apiserver, creds.ca_cert, "admin", creds.tokens["admin"])
    )
    pids.update(controlplane.start_controllers(state, bin_dir, at, creds, kubeconfig))
    names = _register_nodes(admin, options)
    controlplane.wait_usable(state, admin, at, names, options.timeout)
    info = ClusterInfo(
        kubeconfig=str(kubeconfig),
        apiserver=at.apiserver,
        pids=pids,
        endpoints=at.urls(),
        state_dir=str(state),
        token=creds.tokens["admin"],
        ca_cert=str(creds.ca_cert),
        startup_seconds=round(time.monotonic() - started, 2),
        kubectl=str(bin_dir / "kubectl"),
    )
    info = _extras(options, state, info)
    if options.real_node:
        info = _real_node(options, state, bin_dir, creds, info)
    (state / _INFO_FILE).write_text(json.dumps(asdict(info)) + "\n")
    (state / _INFO_FILE).chmod(0o600)
    return info


def _register_nodes(admin: _http.ApiClient, options: ClusterOptions) -> list[str]:
    """Create KWOK's fake CPU and GPU nodes (an existing one is fine); their names."""
    names = []
    for node in nodes.manifests(options.cpu_nodes, options.gpu_nodes):
        status, body = admin.request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise errors.InfraError(
                "ClusterNotReady", f"registering {node['metadata']['name']}: {body}"
            )
        names.append(node["metadata"]["name"])
    return names


def _extras(options: ClusterOptions, state: Path, info: ClusterInfo) -> ClusterInfo:
    """The optional S3 server, Prometheus and egress proxy, recorded among the endpoints."""
    from kubegym.devcluster import minio, prometheus
    from kubegym.metrics import rules

    endpoints = dict(info.endpoints)
    credentials = None
    if options.with_s3:
        server = minio.start(state / S3_DIR, timeout=options.timeout)
        endpoints["s3"] = server.endpoint
        # The credentials stay in a file (mode 0600), never in the printed line.
        credentials = str(server.state_dir / "minio.json")
    if options.with_prometheus:
        server_p = prometheus.start(
            state / PROMETHEUS_DIR,
            options.scrape_targets,
            job=rules.OPERATOR_JOB,
            scrape_interval="5s",
            timeout=options.timeout,
        )
        endpoints["prometheus"] = server_p.url
    egress_env = None
    if options.with_egress_proxy:
        server_e = egress.start(state / EGRESS_DIR, timeout=options.timeout)
        endpoints["egress-proxy"] = f"http://{server_e.proxy}"
        egress_env = server_e.operator_env()
    if options.with_kueue:
        server_k = kueue.start(state, Path(info.kubeconfig), timeout=options.timeout)
        endpoints["kueue-webhook"] = server_k.webhook
    return replace(info, endpoints=endpoints, s3_credentials=credentials, egress_proxy=egress_env)


def _real_node(
    options: ClusterOptions,
    state: Path,
    bin_dir: Path,
    creds: pki.Credentials,
    info: ClusterInfo,
) -> ClusterInfo:
    """The loopback registry with the locked node images in it, then the node itself."""
    registry.ensure(state, timeout=options.timeout)
    pushed = _push_node_images()
    pause = options.pause_image or pushed.get("pause")
    if pause is None:
        raise errors.ConfigError(
            "a real node needs the pause image: build the node's images first",
            field="--real-node",
            hint="make node-images (python -m kubegym.images build --only node)",
        )
    node = realnode.start(state, info.apiserver, creds, pause, bin_dir, timeout=options.timeout)
    endpoints = {**info.endpoints, "registry": f"http://{node.registry}"}
    return replace(info, endpoints=endpoints, real_node={**asdict(node), "images": pushed})


def _push_node_images() -> dict[str, str]:
    """Push what the images lock holds of the node's images; name → ``registry/path@digest``."""
    from kubegym import images

    try:
        lock = images.load_lock()
    except errors.ConfigError:
        return {}
    names = [name for name in images.NODE_IMAGES if name in lock.images]
    return images.push(lock, config.REGISTRY, tls_verify=False, names=names) if names else {}


def status(state_dir: Path | None = None) -> dict[str, Any]:
    """Whether the cluster recorded in ``state_dir`` is up.

    Returns:
        ``{"up": bool, "running": {name: pid}, "missing": [...], ...}`` plus, when known,
        the kubeconfig and the apiserver URL and whether it answers ``/readyz``.
    """
    state = (state_dir or config.default_state_dir()).resolve()
    running = processes.recorded(state)
    result: dict[str, Any] = {
        "up": False,
        "running": running,
        "missing": [c for c in controlplane.COMPONENTS if c not in running],
        "state_dir": str(state),
    }
    info_path = state / _INFO_FILE
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        client = _http.ApiClient(info["apiserver"], Path(info["ca_cert"]), info["token"])
        result.update(kubeconfig=info["kubeconfig"], apiserver=info["apiserver"])
        if info.get("real_node"):
            # What the real node pulls: each locked image, pinned by digest.
            result["images"] = info["real_node"].get("images", {})
        result["ready"] = "kube-apiserver" in running and controlplane.api_ok(client, "/readyz")
        result["up"] = result["ready"] and not result["missing"]
    return result


def load(state_dir: Path | None = None) -> ClusterInfo | None:
    """The `ClusterInfo` recorded by the last `up` in ``state_dir``, if it is still up."""
    state = (state_dir or config.default_state_dir()).resolve()
    info_path = state / _INFO_FILE
    if not info_path.is_file() or not status(state)["up"]:
        return None
    return ClusterInfo(**json.loads(info_path.read_text()))


def down(state_dir: Path | None = None) -> list[str]:
    """Stop exactly the processes `up` recorded in ``state_dir``; nothing else.

    Returns:
        The components that were running and are now stopped.
    """
    state = (state_dir or config.default_state_dir()).resolve()
    from kubegym.devcluster import minio, prometheus

    stopped = []
    if kueue.stop(state):
        stopped.append(kueue.NAME)
    if egress.stop(state / EGRESS_DIR):
        stopped.append(egress.NAME)
    if prometheus.stop(state / PROMETHEUS_DIR):
        stopped.append("prometheus")
    if minio.stop(state / S3_DIR):
        stopped.append("minio")
    stopped += realnode.stop(state)
    if registry.stop(state):
        stopped.append(registry.NAME)
    stopped += processes.stop_all(state, list(reversed(controlplane.COMPONENTS)))
    (state / _INFO_FILE).unlink(missing_ok=True)
    return stopped
