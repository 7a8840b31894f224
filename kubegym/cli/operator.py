"""`kubegym operator`: run the operator (kopf) against the current cluster.

A thin wrapper over `kubegym.operator.main.serve`. Every flag defaults to an
environment variable, so the Helm chart configures the Deployment through env.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from kubegym.cli import common


@click.command("operator", context_settings=common.CONTEXT)
@click.option(
    "--namespace",
    envvar="KUBEGYM_NAMESPACE",
    default=None,
    help="Watch only this namespace (a Role is then enough). [default: all namespaces; env KUBEGYM_NAMESPACE]",
)
@click.option(
    "--kubeconfig",
    envvar="KUBECONFIG",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A kubeconfig file. [default: in-cluster credentials, else ~/.kube/config]",
)
@click.option(
    "--agent-image",
    envvar="KUBEGYM_AGENT_IMAGE",
    default=None,
    help="The agent-runner image for kubegym's own agents. [default: ghcr.io/kubegym/kubegym:<version>]",
)
@click.option(
    "--runtime-class",
    envvar="KUBEGYM_RUNTIME_CLASS",
    default=None,
    help="A RuntimeClass for sandbox pods, such as gvisor.",
)
@click.option(
    "--viewer-url",
    envvar="KUBEGYM_VIEWER_URL",
    default=None,
    help="Base URL of the installation's viewer (kubegym view): each Trial is created "
    "annotated kubegym.io/viewer=<URL>/runs/<run>/trials/<trial>. [env KUBEGYM_VIEWER_URL]",
)
@click.option(
    "--health-port",
    envvar="KUBEGYM_HEALTH_PORT",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port of the liveness endpoint /healthz (0: none).",
)
@click.option(
    "--metrics-port",
    envvar="KUBEGYM_METRICS_PORT",
    type=click.IntRange(0, 65535),
    default=9090,
    show_default=True,
    help="Port of the Prometheus endpoint /metrics (0: none).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=8,
    show_default=True,
    help="The most Trial reconciles at once.",
)
@click.option(
    "--leader-election/--no-leader-election",
    envvar="KUBEGYM_LEADER_ELECTION",
    default=False,
    show_default=True,
    help="Run as one of several replicas: act only while holding a Lease, wait as a standby "
    "otherwise. [env KUBEGYM_LEADER_ELECTION]",
)
@click.option(
    "--lease-name",
    envvar="KUBEGYM_LEASE_NAME",
    default="kubegym-operator",
    show_default=True,
    help="The leader election's Lease (coordination.k8s.io). [env KUBEGYM_LEASE_NAME]",
)
@click.option(
    "--lease-namespace",
    envvar="KUBEGYM_LEASE_NAMESPACE",
    default=None,
    help="The Lease's namespace. [default: --namespace, else the pod's own "
    "(KUBEGYM_POD_NAMESPACE or its service account's); env KUBEGYM_LEASE_NAMESPACE]",
)
@click.option(
    "--lease-duration",
    envvar="KUBEGYM_LEASE_DURATION",
    type=click.IntRange(1, 3600),
    default=10,
    show_default=True,
    help="Seconds a standby waits after the leader's last renewal before taking over.",
)
@click.option(
    "--renew-deadline",
    envvar="KUBEGYM_RENEW_DEADLINE",
    type=click.FloatRange(0, 3600, min_open=True),
    default=8.0,
    show_default=True,
    help="Seconds the leader keeps acting without a successful renewal; less than "
    "--lease-duration.",
)
@click.option(
    "--retry-period",
    envvar="KUBEGYM_RETRY_PERIOD",
    type=click.FloatRange(0, 3600, min_open=True),
    default=2.0,
    show_default=True,
    help="Seconds between two renewals (leader) or tries (standby); less than --renew-deadline.",
)
def operator(
    namespace: str | None,
    kubeconfig: str | None,
    agent_image: str | None,
    runtime_class: str | None,
    viewer_url: str | None,
    health_port: int,
    metrics_port: int,
    workers: int,
    leader_election: bool,
    lease_name: str,
    lease_namespace: str | None,
    lease_duration: int,
    renew_deadline: float,
    retry_period: float,
) -> None:
    """Run the operator: BenchmarkRuns → Trials → sandbox and agent pods, status rollups, retries.

    Needs the CRDs installed (kubegym crds | kubectl apply -f -) and the RBAC of
    operator/rbac.yaml. It can be stopped and restarted at any moment.

    With --leader-election, run two or more: one leads (kubegym_operator_leader 1) and a
    standby takes over within the lease duration and a retry period of its death; a
    leader that cannot renew stops acting and exits with status 3.

    \b
    Examples:
      kubegym operator --namespace benchmarks
      KUBEGYM_AGENT_IMAGE=registry.local/kubegym:dev kubegym operator
      kubegym operator --leader-election --lease-namespace kubegym-system
    """
    from kubegym.operator import leader
    from kubegym.operator.main import Election, ServeOptions, serve
    from kubegym.operator.settings import Settings, viewer_base

    settings = Settings.from_env()
    changes: dict[str, Any] = {"namespace": namespace}
    if agent_image:
        changes["agent_image"] = agent_image
    if runtime_class:
        changes["runtime_class"] = runtime_class
    if viewer_url:
        changes["viewer_url"] = viewer_base(viewer_url, field="--viewer-url")
    settings = dataclasses.replace(settings, **changes)
    serve(
        ServeOptions(
            settings=settings,
            kubeconfig=kubeconfig,
            health_port=health_port,
            metrics_port=metrics_port,
            workers=workers,
            election=Election(
                lease_name=lease_name,
                lease_namespace=lease_namespace or leader.own_namespace(namespace),
                timing=leader.Timing(lease_duration, renew_deadline, retry_period),
            )
            if leader_election
            else None,
        )
    )
