"""kubegym.metrics: the Prometheus metrics of runs, trials, the operator and the store.

The operator and the local runner (`kubegym run --metrics-port`) call the
module-level functions below, which update one process-wide `Metrics` on
kubegym's own registry (never prometheus-client's global one), and `serve`
exports it. Tests build their own ``Metrics()``. The families and their
labels are in `kubegym.metrics.families`; the recording rules and alerts in
``rules.yaml`` (`kubegym.metrics.rules`). Imports prometheus-client only.

Examples:
    >>> from kubegym import metrics
    >>> run = metrics.RunRef("team-a", "mlgym-bench")
    >>> metrics.run_planned(run, trials=26, budget_usd=50.0)
    >>> metrics.trial_finished(run, task="fmnist", agent="gpt-4o", phase="Succeeded", seconds=812.0)
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from kubegym.metrics import exporter
from kubegym.metrics.exporter import Exporter, render
from kubegym.metrics.families import ALLOWED_LABELS, Families
from kubegym.metrics.reasons import INFRA_REASONS, infra_reason
from kubegym.metrics.recorder import PHASES, PROFILES, Metrics, Phase, Profile, RunRef

# The process-wide metrics. The module-level names below are its bound methods,
# re-exported so callers write `metrics.trial_finished(...)` without passing it around.
METRICS = Metrics()
REGISTRY = METRICS.registry

run_planned = METRICS.run_planned
set_phases = METRICS.set_phases
set_spend = METRICS.set_spend
mark_progress = METRICS.mark_progress
trial_started = METRICS.trial_started
steps_taken = METRICS.steps_taken
trial_finished = METRICS.trial_finished
infra_failure = METRICS.infra_failure
retried = METRICS.retried
set_best_score = METRICS.set_best_score
set_aup = METRICS.set_aup
reconcile = METRICS.reconcile
set_leader = METRICS.set_leader
event_dropped = METRICS.event_dropped
api_request = METRICS.api_request
upload = METRICS.upload
forget_run = METRICS.forget_run


def serve(
    port: int, host: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> Exporter:
    """Export kubegym's metrics at ``http://host:port/metrics`` from a daemon thread.

    Args:
        port: the TCP port; 0 picks a free one (`Exporter.port` tells which).
        host: the address to bind; ``0.0.0.0`` in a pod.
        registry: for tests; the process-wide `REGISTRY` by default.

    Returns:
        The running exporter; `Exporter.stop` closes the port.

    Raises:
        OSError: the port is taken.
    """
    return exporter.serve(port, host, REGISTRY if registry is None else registry)


__all__ = [
    "ALLOWED_LABELS",
    "INFRA_REASONS",
    "METRICS",
    "PHASES",
    "PROFILES",
    "REGISTRY",
    "Exporter",
    "Families",
    "Metrics",
    "Phase",
    "Profile",
    "RunRef",
    "event_dropped",
    "forget_run",
    "infra_failure",
    "infra_reason",
    "mark_progress",
    "reconcile",
    "render",
    "retried",
    "run_planned",
    "serve",
    "set_aup",
    "set_best_score",
    "set_leader",
    "set_phases",
    "set_spend",
    "steps_taken",
    "trial_finished",
    "trial_started",
    "upload",
]
