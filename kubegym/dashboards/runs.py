"""The Runs dashboard: progress, phases, ETA, spend, tokens, failures and scheduling of
BenchmarkRuns, filtered by namespace, run, agent and task.

Listed in `kubegym.dashboards.output.DASHBOARDS`, which writes it as ``runs.json``.
"""

from __future__ import annotations

from typing import Final

from kubegym.dashboards import grafana, queries

RUNS: Final = grafana.Dashboard(
    uid="kubegym-runs",
    title="kubegym / Runs",
    description="Progress, phases, ETA, spend, tokens, failures and scheduling of BenchmarkRuns.",
    viewer=True,
    rows=(
        grafana.Row(
            "Progress",
            (
                grafana.Panel(
                    "Progress",
                    "bargauge",
                    [
                        grafana.Target(
                            f"kubegym_run:progress:ratio{{{queries.RUN_SEL}}}",
                            "{{namespace}}/{{run}}",
                        )
                    ],
                    unit="percentunit",
                    max=1,
                    links=(grafana.RUN_LINK,),
                    description="Finished trials over planned trials (recording rule kubegym_run:progress:ratio).",
                ),
                grafana.Panel(
                    "Trials done / planned",
                    "stat",
                    [
                        grafana.Target(
                            f"max by (namespace, run) (kubegym_run_trials_finished{{{queries.RUN_SEL}}})",
                            "{{run}} done",
                        ),
                        grafana.Target(
                            f"max by (namespace, run) (kubegym_run_trials_planned{{{queries.RUN_SEL}}})",
                            "{{run}} planned",
                        ),
                    ],
                    unit="none",
                    links=(grafana.RUN_LINK,),
                ),
                grafana.Panel(
                    "ETA",
                    "stat",
                    [
                        grafana.Target(
                            f"kubegym_run:eta_seconds:rate15m{{{queries.RUN_SEL}}}", "{{run}}"
                        )
                    ],
                    unit="s",
                    description="Trials left divided by the finishing rate of the last 15 minutes.",
                ),
                grafana.Panel(
                    "Trials by phase",
                    "timeseries",
                    [
                        grafana.Target(
                            f"kubegym_run_phase:trials:sum{{{queries.RUN_SEL}}}",
                            "{{run}} {{phase}}",
                        )
                    ],
                    unit="none",
                    stacked=True,
                    width=16,
                ),
                grafana.Panel(
                    "Since last progress",
                    "stat",
                    [
                        grafana.Target(
                            f"kubegym_run:progress_age_seconds:max{{{queries.RUN_SEL}}}", "{{run}}"
                        )
                    ],
                    unit="s",
                    description="Seconds since a trial started, stepped or ended (alert at 30 minutes).",
                ),
                grafana.Panel(
                    "Finished trials by task and agent",
                    "table",
                    [
                        grafana.Target(
                            "sum by (run, task, agent, phase) "
                            f"(kubegym_trials_finished_total{{{queries.TASK_AGENT_SEL}}})"
                        )
                    ],
                    unit="none",
                    width=24,
                    links=(grafana.RUN_ROW_LINK,),
                    description="Counted since the exporter started; Failed means the agent's trial ended without a result.",
                ),
            ),
        ),
        grafana.Row(
            "Spend and tokens",
            (
                grafana.Panel(
                    "Spend against budget",
                    "bargauge",
                    [
                        grafana.Target(
                            f"kubegym_run:spend:ratio{{{queries.RUN_SEL}}}", "{{namespace}}/{{run}}"
                        )
                    ],
                    unit="percentunit",
                    max=1,
                    description="Spend over budget; a run without a budget has no bar.",
                ),
                grafana.Panel(
                    "Spend and budget",
                    "timeseries",
                    [
                        grafana.Target(
                            f"max by (namespace, run) (kubegym_run_spend_usd{{{queries.RUN_SEL}}})",
                            "{{run}} spent",
                        ),
                        grafana.Target(
                            f"max by (namespace, run) (kubegym_run_budget_usd{{{queries.RUN_SEL}}})",
                            "{{run}} budget",
                        ),
                    ],
                    unit="currencyUSD",
                ),
                grafana.Panel(
                    "Spend rate (per hour)",
                    "timeseries",
                    [
                        grafana.Target(
                            f"kubegym_run:cost_usd:rate1h{{{queries.RUN_SEL}}} * 3600", "{{run}}"
                        )
                    ],
                    unit="currencyUSD",
                ),
                grafana.Panel(
                    "Tokens per second",
                    "timeseries",
                    [
                        grafana.Target(
                            "sum by (agent, type) "
                            f"(kubegym_run_agent:tokens:rate5m{{{queries.AGENT_SEL}}})",
                            "{{agent}} {{type}}",
                        )
                    ],
                    unit="short",
                    width=12,
                ),
                grafana.Panel(
                    "Tokens used",
                    "bargauge",
                    [
                        grafana.Target(
                            f"sum by (agent, type) (kubegym_agent_tokens_total{{{queries.AGENT_SEL}}})",
                            "{{agent}} {{type}}",
                        )
                    ],
                    unit="short",
                    width=6,
                ),
                grafana.Panel(
                    "Steps per second",
                    "timeseries",
                    [
                        grafana.Target(
                            f"sum by (agent) (kubegym_run_agent:steps:rate5m{{{queries.AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="ops",
                    width=6,
                ),
            ),
        ),
        grafana.Row(
            "Failures and scheduling",
            (
                grafana.Panel(
                    "Infrastructure failures by reason",
                    "timeseries",
                    [
                        grafana.Target(
                            "sum by (reason) "
                            f"(kubegym_run_reason:infra_failures:rate5m{{{queries.RUN_SEL}}})",
                            "{{reason}}",
                        )
                    ],
                    unit="ops",
                    stacked=True,
                    description="Attempts lost to the infrastructure (OOMKilled, Evicted, …), not to the agent.",
                ),
                grafana.Panel(
                    "Failures by reason (total)",
                    "bargauge",
                    [
                        grafana.Target(
                            f"sum by (reason) (kubegym_infra_failures_total{{{queries.RUN_SEL}}})",
                            "{{reason}}",
                        )
                    ],
                    unit="none",
                ),
                grafana.Panel(
                    "Retries by reason",
                    "timeseries",
                    [
                        grafana.Target(
                            f"sum by (reason) (kubegym_run_reason:retries:rate5m{{{queries.RUN_SEL}}})",
                            "{{reason}}",
                        )
                    ],
                    unit="ops",
                    stacked=True,
                ),
                grafana.Panel(
                    "Scheduling latency p90",
                    "timeseries",
                    [
                        grafana.Target(
                            f"kubegym_run:trial_scheduling_latency_seconds:p90_15m{{{queries.RUN_SEL}}}",
                            "{{run}} p90 (15m)",
                        ),
                        grafana.Target(
                            queries.mean(
                                "kubegym_trial_scheduling_latency_seconds",
                                "namespace, run",
                                queries.RUN_SEL,
                            ),
                            "{{run}} mean",
                        ),
                    ],
                    unit="s",
                    width=12,
                    description=(
                        "From a Trial's creation to its sandbox running: the 90th percentile over "
                        "15 minutes, and the mean since the operator started (a run whose trials "
                        "all start at once has no 15-minute rate yet)."
                    ),
                ),
                grafana.Panel(
                    "Scheduling latency by task",
                    "timeseries",
                    [
                        grafana.Target(
                            "histogram_quantile(0.5, sum by (task, le) (rate("
                            f"kubegym_trial_scheduling_latency_seconds_bucket{{{queries.TASK_SEL}}}[15m])))",
                            "{{task}} p50 (15m)",
                        ),
                        grafana.Target(
                            queries.mean(
                                "kubegym_trial_scheduling_latency_seconds", "task", queries.TASK_SEL
                            ),
                            "{{task}} mean",
                        ),
                    ],
                    unit="s",
                    width=12,
                ),
                grafana.Panel(
                    "Trial duration p90 by task",
                    "timeseries",
                    [
                        grafana.Target(
                            f"kubegym_run_task:trial_duration_seconds:p90_1h{{{queries.TASK_SEL}}}",
                            "{{run}} {{task}}",
                        )
                    ],
                    unit="s",
                    width=24,
                ),
            ),
        ),
    ),
)
