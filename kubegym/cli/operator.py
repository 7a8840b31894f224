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
def operator(
    namespace: str | None,
    kubeconfig: str | None,
    agent_image: str | None,
    runtime_class: str | None,
    health_port: int,
    metrics_port: int,
    workers: int,
) -> None:
    """Run the operator: BenchmarkRuns → Trials → sandbox and agent pods, status rollups, retries.

    Needs the CRDs installed (kubegym crds | kubectl apply -f -) and the RBAC of
    operator/rbac.yaml. It can be stopped and restarted at any moment.

    \b
    Examples:
      kubegym operator --namespace benchmarks
      KUBEGYM_AGENT_IMAGE=registry.local/kubegym:dev kubegym operator
    """
    from kubegym.operator.main import ServeOptions, serve
    from kubegym.operator.settings import Settings

    settings = Settings.from_env()
    changes: dict[str, Any] = {"namespace": namespace}
    if agent_image:
        changes["agent_image"] = agent_image
    if runtime_class:
        changes["runtime_class"] = runtime_class
    settings = dataclasses.replace(settings, **changes)
    serve(
        ServeOptions(
            settings=settings,
            kubeconfig=kubeconfig,
            health_port=health_port,
            metrics_port=metrics_port,
            workers=workers,
        )
    )
