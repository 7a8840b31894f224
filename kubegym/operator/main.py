"""Start the operator: kopf with kubegym's handlers, a liveness endpoint and /metrics.

`kubegym operator` (kubegym/cli/operator.py) parses the flags and calls `serve`;
the operator runs until SIGTERM/SIGINT. It can be killed at any moment: every
decision is re-derived from the API server's state on the next start. With leader
election (`Election`), several replicas run and one acts: the others wait as
standbys (`kubegym.operator.standby`) until the Lease is theirs (`kubegym.operator.leader`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field

import structlog

from kubegym.operator import leader, leases, standby
from kubegym.operator.settings import Settings

log = structlog.get_logger()

# The exit status of a leader that lost its Lease: the pod restarts, as a standby.
LEADERSHIP_LOST_EXIT = 3


@dataclass(frozen=True)
class Election:
    """Leader election among the operator's replicas.

    Attributes:
        lease_name: the Lease's name (one per installation).
        lease_namespace: the Lease's namespace.
        timing: its lease duration, renew deadline and retry period.
        identity: this process's holderIdentity: the pod's name and a random suffix.
    """

    lease_name: str
    lease_namespace: str
    timing: leader.Timing = field(default_factory=leader.Timing)
    identity: str = field(default_factory=leader.identity)


@dataclass(frozen=True)
class ServeOptions:
    """How to run the operator.

    Attributes:
        settings: how trials' pods are built, and which namespace to watch.
        kubeconfig: a kubeconfig file; in-cluster credentials when None.
        health_port: the port of the liveness endpoint (`/healthz`); 0 for none.
        metrics_port: the port of the Prometheus endpoint (`/metrics`); 0 for none.
        workers: the most Trial reconciles at once.
        election: leader election among replicas; None: this process acts alone.
    """

    settings: Settings
    kubeconfig: str | None = None
    health_port: int = 8080
    metrics_port: int = 9090
    workers: int = 8
    election: Election | None = None


def serve(options: ServeOptions) -> None:
    """Run the operator until it is stopped; with leader election, first wait to lead."""
    import kopf

    from kubegym import metrics
    from kubegym.operator import controller, egress, handlers, kube

    if options.kubeconfig:
        # kopf logs in through the kubernetes client, which reads $KUBECONFIG.
        os.environ["KUBECONFIG"] = options.kubeconfig
    settings = options.settings
    if settings.egress is not None:
        # Sandboxes get the proxy's cluster IP: they have no DNS to look its name up.
        settings = dataclasses.replace(settings, egress=egress.resolve(settings.egress))
    if options.metrics_port:
        # Before the election: a standby is scraped too, and says it is one.
        metrics.serve(options.metrics_port, host="0.0.0.0")
    elector = None
    if options.election is not None:
        elector = _lead(options.election, options, kube.connect(options.kubeconfig, pool=2))
        if elector is None:
            log.info("operator_stopped", role="standby")
            return
    metrics.set_leader(True)
    api = kube.connect(options.kubeconfig, pool=options.workers + 4)
    if elector is not None:
        leader.fence(api, elector, _write_refused)
    ctl = controller.Controller(kube.Kube(api), settings)
    namespace = options.settings.namespace
    log.info(
        "operator_starting",
        namespace=namespace or "(all)",
        health_port=options.health_port,
        metrics_port=options.metrics_port,
        agent_image=options.settings.agent_image,
        egress_proxy=f"{settings.egress.host}:{settings.egress.port}" if settings.egress else None,
        leader=elector.identity if elector else None,
    )
    try:
        kopf.run(
            registry=handlers.registry(ctl, workers=options.workers),
            standalone=True,
            clusterwide=namespace is None,
            namespaces=[namespace] if namespace else (),
            liveness_endpoint=(
                f"http://0.0.0.0:{options.health_port}/healthz" if options.health_port else None
            ),
        )
    finally:
        # kopf has stopped every worker: hand the Lease over now, not a lease duration later.
        if elector is not None:
            elector.release()
        metrics.set_leader(False)


def _lead(election: Election, options: ServeOptions, api: object) -> leader.Elector | None:
    """Wait as a standby until this process leads, then keep the Lease in the background.

    The Lease has a client of its own, so renewals never wait behind the controller's calls.
    """
    from kubegym import metrics

    metrics.set_leader(False)
    lease = leases.LeaseClient(api, election.lease_namespace, election.lease_name)
    elector = leader.Elector(lease, election.identity, election.timing)
    if not standby.wait_for_leadership(elector, options.health_port):
        return None
    elector.keep(on_lost=_give_up)
    return elector


def _write_refused(method: str, url: str) -> None:
    log.error("write_refused", method=method, url=url, why="not the leader any more")
    _give_up()


def _give_up() -> None:
    """Leadership is lost: stop acting at once, and let the pod restart as a standby.

    No graceful stop: kopf's would let the workers finish their reconciles, writes that
    another leader may already be making.
    """
    from kubegym import metrics

    metrics.set_leader(False)
    log.error("operator_stopping", why="leadership lost", exit_status=LEADERSHIP_LOST_EXIT)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(LEADERSHIP_LOST_EXIT)
