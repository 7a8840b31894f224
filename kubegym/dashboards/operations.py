"""The Operator dashboard: the operator's reconciles, its requests to the Kubernetes API, the
artifact store's uploads and trials waiting for nodes; filtered by namespace only.

Listed in `kubegym.dashboards.output.DASHBOARDS`, which writes it as ``operator.json``.
"""

from __future__ import annotations

from typing import Final

from kubegym.dashboards import grafana, queries

OPERATOR: Final = grafana.Dashboard(
    uid="kubegym-operator",
    title="kubegym / Operator",
    description=(
        "The operator's reconciles, its requests to the Kubernetes API, the artifact store's "
        "uploads and trials waiting for nodes."
    ),
    variables=("namespace",),
    rows=(
        grafana.Row(
            "Reconciles",
            (
                grafana.Panel(
                    "Reconcile latency p99",
                    "timeseries",
                    [
                        grafana.Target(
                            "kubegym_kind:operator_reconcile_duration_seconds:p99_5m",
                            "{{kind}}",
                        )
                    ],
                    unit="s",
                ),
                grafana.Panel(
                    "Reconciles per second",
                    "timeseries",
                    [
                        grafana.Target(
                            "sum by (kind) (rate("
                            "kubegym_operator_reconcile_duration_seconds_count[$__rate_interval]))",
                            "{{kind}}",
                        )
                    ],
                    unit="ops",
                ),
                grafana.Panel(
                    "Reconcile errors per second",
                    "timeseries",
                    [grafana.Target("kubegym_kind:operator_reconcile_errors:rate5m", "{{kind}}")],
                    unit="ops",
                    description="Reconciles that raised; the operator retries them (alert above 0.1/s for 15 minutes).",
                ),
            ),
        ),
        grafana.Row(
            "Kubernetes API",
            (
                grafana.Panel(
                    "Operator API requests per second",
                    "timeseries",
                    [
                        grafana.Target(
                            "sum by (verb, resource) (rate("
                            "kubegym_operator_api_requests_total[$__rate_interval]))",
                            "{{verb}} {{resource}}",
                        )
                    ],
                    unit="ops",
                    stacked=True,
                    width=12,
                    description=(
                        "Requests the operator made itself, by verb and resource (its watches "
                        "aside): about seven writes per trial; the API server's own "
                        "apiserver_request_total names them the same way."
                    ),
                ),
                grafana.Panel(
                    "Operator API answers per second, by status code",
                    "timeseries",
                    [
                        grafana.Target(
                            "sum by (code) (rate("
                            "kubegym_operator_api_requests_total[$__rate_interval]))",
                            "{{code}}",
                        )
                    ],
                    unit="ops",
                    width=12,
                    description=(
                        "404 on a DELETE (already gone) and 409 on a create (made already) or a "
                        "status patch (decided on an older copy; decided again) are part of the "
                        "operator's idempotent way; 403, 429, 5xx and error (no answer) are not."
                    ),
                ),
            ),
        ),
        grafana.Row(
            "Artifact store",
            (
                grafana.Panel(
                    "Upload latency p90",
                    "timeseries",
                    [
                        grafana.Target(
                            "kubegym_backend:store_upload_duration_seconds:p90_5m",
                            "{{backend}} p90 (5m)",
                        ),
                        grafana.Target(
                            queries.mean("kubegym_store_upload_duration_seconds", "backend", ""),
                            "{{backend}} mean",
                        ),
                    ],
                    unit="s",
                    description="The 90th percentile over 5 minutes, and the mean since the operator started.",
                ),
                grafana.Panel(
                    "Upload throughput",
                    "timeseries",
                    [grafana.Target("kubegym_backend:store_upload_bytes:rate5m", "{{backend}}")],
                    unit="Bps",
                ),
                grafana.Panel(
                    "Upload failures per second",
                    "timeseries",
                    [grafana.Target("kubegym_backend:store_upload_failures:rate5m", "{{backend}}")],
                    unit="ops",
                    description="Failed upload tries (retried); failing for 15 minutes fires an alert.",
                ),
            ),
        ),
        grafana.Row(
            "Waiting for nodes",
            (
                grafana.Panel(
                    "Trials pending",
                    "timeseries",
                    [
                        grafana.Target(
                            "sum by (namespace, run) (kubegym_run_phase:trials:sum"
                            '{namespace=~"$namespace", phase="Pending"})',
                            "{{namespace}}/{{run}}",
                        )
                    ],
                    unit="none",
                    stacked=True,
                    width=12,
                    description=(
                        "Trials created whose sandbox does not run yet: on a GPU cluster, mostly pods "
                        "waiting for a GPU node (the series carry no GPU label, to keep cardinality "
                        "low; the run's tasks say which need GPUs)."
                    ),
                ),
                grafana.Panel(
                    "Scheduling latency p90 per run",
                    "timeseries",
                    [
                        grafana.Target(
                            "kubegym_run:trial_scheduling_latency_seconds:p90_15m"
                            '{namespace=~"$namespace"}',
                            "{{namespace}}/{{run}} p90 (15m)",
                        ),
                        grafana.Target(
                            queries.mean(
                                "kubegym_trial_scheduling_latency_seconds",
                                "namespace, run",
                                'namespace=~"$namespace"',
                            ),
                            "{{namespace}}/{{run}} mean",
                        ),
                    ],
                    unit="s",
                    width=12,
                    description="How long created trials waited for their sandbox to run (node scale-up, GPU quota).",
                ),
            ),
        ),
    ),
)
