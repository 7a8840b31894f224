"""`kubegym dev-cluster`: a real Kubernetes control plane on loopback, with KWOK's fake nodes.

A thin wrapper over `kubegym.devcluster.cluster`, the same code the cluster tests'
fixture uses. Progress goes to stderr; `up` prints one JSON line on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kubegym.cli import common
from kubegym.devcluster import cluster, config

_STATE_DIR = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for pid files, logs, certificates and etcd's data. [default: ~/.cache/kubegym/dev-cluster, or $KUBEGYM_CACHE/dev-cluster]",
)


@click.group("dev-cluster", context_settings=common.CONTEXT)
def dev_cluster() -> None:
    """Start, stop and inspect the development cluster (etcd, apiserver, controller manager, scheduler, KWOK).

    \b
    Examples:
      kubegym dev-cluster up --gpu-nodes 2 --cpu-nodes 2
      kubegym dev-cluster up --real-node --cpu-nodes 0 --gpu-nodes 0
      KUBECONFIG=$(kubegym dev-cluster status | jq -r .kubeconfig) kubectl get nodes
      kubegym dev-cluster down
    """


@dev_cluster.command(short_help="Start the cluster; print one JSON line.")
@click.option(
    "--gpu-nodes",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Fake nodes with 8 nvidia.com/gpu each, tainted nvidia.com/gpu=present:NoSchedule.",
)
@click.option(
    "--cpu-nodes",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Fake CPU-only nodes.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the admin kubeconfig. [default: <state-dir>/kubeconfig]",
)
@click.option(
    "--with-s3",
    is_flag=True,
    help="Also start a real S3 server (MinIO, built once from its Go module) for the store.",
)
@click.option(
    "--with-prometheus",
    is_flag=True,
    help="Also start Prometheus (Debian's package) with kubegym's rules, scraping --scrape.",
)
@click.option(
    "--scrape",
    "scrape_targets",
    multiple=True,
    default=("127.0.0.1:9090",),
    show_default=True,
    help="host:port that Prometheus scrapes as job kubegym-operator (repeatable).",
)
@click.option(
    "--with-egress-proxy",
    is_flag=True,
    help="Also start kubegym's egress proxy on loopback, for trials whose pods run as "
    "processes here; the JSON line's egress_proxy holds the KUBEGYM_EGRESS_* variables "
    "for `kubegym operator`.",
)
@click.option(
    "--with-kueue",
    is_flag=True,
    help="Also start Kueue (built once from its Go module) with its pod integration: pods "
    "labelled kueue.x-k8s.io/queue-name (a run's spec.queueName) wait for its admission.",
)
@click.option(
    "--real-node",
    is_flag=True,
    help="Also start a real node (kubelet, containerd, runc, CNI, kube-proxy, CoreDNS, "
    "NetworkPolicy enforcement): pods run in containers from the images of `make node-images`. "
    "Needs root and cgroups.",
)
@_STATE_DIR
def up(
    gpu_nodes: int,
    cpu_nodes: int,
    kubeconfig: Path | None,
    with_s3: bool,
    with_prometheus: bool,
    scrape_targets: tuple[str, ...],
    with_egress_proxy: bool,
    with_kueue: bool,
    real_node: bool,
    state_dir: Path | None,
) -> None:
    """Build the binaries if needed (once, cached), start the cluster, print one JSON line."""
    options = cluster.ClusterOptions(
        cpu_nodes=cpu_nodes,
        gpu_nodes=gpu_nodes,
        state_dir=state_dir or config.default_state_dir(),
        kubeconfig=kubeconfig,
        with_s3=with_s3,
        with_prometheus=with_prometheus,
        scrape_targets=scrape_targets,
        with_egress_proxy=with_egress_proxy,
        with_kueue=with_kueue,
        real_node=real_node,
    )
    info = cluster.up(options)
    click.echo(info.to_json())


@dev_cluster.command(short_help="Stop what `up` started, nothing else.")
@_STATE_DIR
def down(state_dir: Path | None) -> None:
    """Stop exactly the processes `up` started from this state dir."""
    stopped = cluster.down(state_dir)
    click.echo(json.dumps({"stopped": stopped}))


@dev_cluster.command(short_help="Say whether the cluster is up (JSON).")
@_STATE_DIR
def status(state_dir: Path | None) -> None:
    """Print whether the cluster is up (one JSON line); exit 1 when it is not."""
    result = cluster.status(state_dir)
    click.echo(json.dumps(result, sort_keys=True))
    if not result["up"]:
        sys.exit(1)


@dev_cluster.command(short_help="Run the pods' programs on this machine (no isolation).")
@click.option(
    "--namespace",
    default=None,
    help="Only the pods of this namespace. [default: all namespaces]",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Attempts run at the same time.",
)
@click.option("--once", is_flag=True, help="Run the attempts Running now, then exit.")
@_STATE_DIR
def kubelet(namespace: str | None, parallel: int, once: bool, state_dir: Path | None) -> None:
    """Play the kubelet for kubegym's pods, so runs finish on the development cluster.

    KWOK's fake nodes run nothing. For every trial attempt whose agent pod KWOK
    made Running, this runs the sandbox server, the evaluator server and the
    agent runner as processes on this machine (the task's files found by name on
    the task search path, its data prepared, its venv built once), then writes
    the agent container's end with its summary into the pod's status; the
    operator does the rest. Each attempt runs once; a restarted kubelet runs
    again the attempts still Running. The programs' standard error is kept under
    <state-dir>/kubelet/<trial>-a<n>/.

    A development aid: the sandbox runs WITHOUT bubblewrap or any isolation, and
    only against the development cluster of --state-dir. Ctrl-C stops it and its
    processes (their pods stay Running).

    \b
    Examples:
      kubegym dev-cluster kubelet &
      kubegym dev-cluster kubelet --namespace default --parallel 4
    """
    import signal

    from kubernetes import config as kube_config

    from kubegym.devcluster import kubelet as kubelet_mod
    from kubegym.errors import ConfigError

    state = (state_dir or config.default_state_dir()).resolve()
    info = cluster.load(state)
    if info is None:
        raise ConfigError(
            f"no development cluster is up in {state}",
            hint="start one with `kubegym dev-cluster up` (and pass the same --state-dir)",
        )

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    api_client = kube_config.new_client_from_config(config_file=info.kubeconfig)  # type: ignore[no-untyped-call]
    try:
        node = kubelet_mod.ProcessKubelet(api_client, state / "kubelet", namespace=namespace)
        node.run(parallel=parallel, once=once)
    finally:
        api_client.close()
