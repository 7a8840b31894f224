"""Start the operator: kopf with kubegym's handlers, a liveness endpoint and /metrics.

`kubegym operator` (kubegym/cli/operator.py) parses the flags and calls `serve`;
the operator runs until SIGTERM/SIGINT. It can be killed at any moment: every
decision is re-derived from the API server's state on the next start.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import structlog

from kubegym.operator.settings import Settings

log = structlog.get_logger()


@dataclass(frozen=True)
class ServeOptions:
    """How to run the operator.

    Attributes:
        settings: how trials' pods are built, and which namespace to watch.
        kubeconfig: a kubeconfig file; in-cluster credentials when None.
        health_port: the port of the liveness endpoint (`/healthz`); 0 for none.
        metrics_port: the port of the Prometheus endpoint (`/metrics`); 0 for none.
        workers: the most Trial reconciles at once.
    """

    settings: Settings
    kubeconfig: str | None = None
    health_port: int = 8080
    metrics_port: int = 9090
    workers: int = 8


def serve(options: ServeOptions) -> None:
    """Run the operator until it is stopped."""
    import kopf

    from kubegym.operator import controller, egress, handlers, kube

    if options.kubeconfig:
        # kopf logs in through the kubernetes client, which reads $KUBECONFIG.
        os.environ["KUBECONFIG"] = options.kubeconfig
    settings = options.settings
    if settings.egress is not None:
        # Sandboxes get the proxy's cluster IP: they have no DNS to look its name up.
        settings = dataclasses.replace(settings, egress=egress.resolve(settings.egress))
    api = kube.connect(options.kubeconfig, pool=options.workers + 4)
    ctl = controller.Controller(kube.Kube(api), settings)
    if options.metrics_port:
        from kubegym import metrics

        metrics.serve(options.metrics_port, host="0.0.0.0")
    namespace = options.settings.namespace
    log.info(
        "operator_starting",
        namespace=namespace or "(all)",
        health_port=options.health_port,
        metrics_port=options.metrics_port,
        agent_image=options.settings.agent_image,
        egress_proxy=f"{settings.egress.host}:{settings.egress.port}" if settings.egress else None,
    )
    kopf.run(
        registry=handlers.registry(ctl, workers=options.workers),
        standalone=True,
        clusterwide=namespace is None,
        namespaces=[namespace] if namespace else (),
        liveness_endpoint=(
            f"http://0.0.0.0:{options.health_port}/healthz" if options.health_port else None
        ),
    )
