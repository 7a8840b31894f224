"""kubegym's Grafana dashboards (Runs, Leaderboard, Operator), generated from one description.

Every panel is built by the same few helpers, so each one reads the datasource
variable, filters by the same template variables and uses a Grafana unit from
`UNITS`. The JSON files under ``helm/kubegym/dashboards/`` are this module's
output (the chart ships them as ConfigMaps); regenerate them with
``python -m kubegym.dashboards`` after a change here. The queries read the
series of `kubegym.metrics.families` and, where one exists, a recording rule of
``kubegym/metrics/rules.yaml``. ``tests/unit/dashboards`` checks the files
(structure, units, metric names, up to date); ``tests/cluster/test_dashboards.py``
evaluates every query against a real Prometheus scraping a real run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

#: Where the chart reads the dashboards from (``.Files.Glob "dashboards/*.json"``).
OUT_DIR: Final = Path(__file__).resolve().parent.parent / "helm" / "kubegym" / "dashboards"
DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
#: The Grafana unit ids the dashboards use (Grafana's ``valueFormats`` ids).
UNITS: Final = frozenset(
    {"none", "short", "percentunit", "s", "currencyUSD", "ops", "Bps", "decbytes"}
)
SCHEMA_VERSION: Final = 39
TAG: Final = "kubegym"

# Selectors, written once: every run-level query filters by namespace and run.
RUN_SEL: Final = 'namespace=~"$namespace", run=~"$run"'
AGENT_SEL: Final = f'{RUN_SEL}, agent=~"$agent"'
TASK_SEL: Final = f'{RUN_SEL}, task=~"$task"'
TASK_AGENT_SEL: Final = f'{RUN_SEL}, task=~"$task", agent=~"$agent"'


@dataclass(frozen=True)
class Target:
    """One PromQL query of a panel and the legend of its series."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    """One panel: its kind (``timeseries``, ``stat``, ``bargauge``, ``table``), queries and unit."""

    title: str
    kind: str
    targets: Sequence[Target]
    unit: str = "short"
    description: str = ""
    width: int = 8
    height: int = 8
    stacked: bool = False
    decimals: int | None = None
    max: float | None = None


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: Sequence[Row]
    variables: Sequence[str] = ("namespace", "run", "agent", "task")
    extra: dict[str, Any] = field(default_factory=dict)


# --- template variables ----------------------------------------------------------------

#: variable → (label_values query, label shown); each narrows by the variables before it.
_VARIABLES: Final = {
    "namespace": ("label_values(kubegym_run_trials_planned, namespace)", "Namespace"),
    "run": ('label_values(kubegym_run_trials_planned{namespace=~"$namespace"}, run)', "Run"),
    "agent": (
        'label_values(kubegym_agent_steps_total{namespace=~"$namespace", run=~"$run"}, agent)',
        "Agent",
    ),
    "task": (
        'label_values(kubegym_trials_finished_total{namespace=~"$namespace", run=~"$run"}, task)',
        "Task",
    ),
}


def _templating(names: Sequence[str]) -> dict[str, Any]:
    variables: list[dict[str, Any]] = [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "options": [],
            "refresh": 1,
            "regex": "",
        }
    ]
    for name in names:
        query, label = _VARIABLES[name]
        variables.append(
            {
                "name": name,
                "label": label,
                "type": "query",
                "datasource": dict(DATASOURCE),
                "definition": query,
                # A plain string: every Grafana version reads it (and migrates it on load).
                "query": query,
                "refresh": 2,  # on time range change: runs come and go
                "includeAll": True,
                "multi": True,
                "allValue": ".*",
                "current": {},
                "options": [],
                "hide": 0,
                "sort": 1,
                "regex": "",
            }
        )
    return {"list": variables}


# --- panels ----------------------------------------------------------------------------


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit, "color": {"mode": "palette-classic"}}
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.max is not None:
        defaults["min"], defaults["max"] = 0, panel.max
    options: dict[str, Any] = {"legend": {"displayMode": "list", "placement": "bottom"}}
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if panel.stacked else 0,
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
            "showPoints": "never",
        }
        options["tooltip"] = {"mode": "multi", "sort": "desc"}
    elif panel.kind in ("stat", "bargauge", "gauge"):
        defaults["color"] = {"mode": "thresholds"}
        defaults["thresholds"] = {"mode": "absolute", "steps": [{"color": "green", "value": None}]}
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
        }
        if panel.kind == "bargauge":
            options["displayMode"] = "gradient"
    elif panel.kind == "table":
        options = {"showHeader": True, "sortBy": []}
    targets = []
    for index, target in enumerate(panel.targets):
        entry: dict[str, Any] = {
            "datasource": dict(DATASOURCE),
            "refId": chr(ord("A") + index),
            "expr": target.expr,
            "legendFormat": target.legend,
            "range": not (target.instant or panel.kind == "table"),
            "instant": target.instant or panel.kind == "table",
        }
        if panel.kind == "table":
            entry["format"] = "table"
        targets.append(entry)
    body: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(DATASOURCE),
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }
    if panel.kind == "table":
        # One row per series: the value column plus its labels, without the time column.
        body["transformations"] = [
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {"Time": True}}},
        ]
    return body


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model, with panel ids and grid positions assigned."""
    panels: list[dict[str, Any]] = []
    next_id, y = 1, 0
    for row in dashboard.rows:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id, y, x, row_height = next_id + 1, y + 1, 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel_json(panel, next_id, x, y))
            next_id, x, row_height = next_id + 1, x + panel.width, max(row_height, panel.height)
        y += row_height
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": [TAG],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "browser",
        "links": [
            {
                "type": "dashboards",
                "tags": [TAG],
                "title": "kubegym",
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
            }
        ],
        "annotations": {"list": []},
        "templating": _templating(dashboard.variables),
        "panels": panels,
        **dashboard.extra,
    }


def _mean(histogram: str, by: str, selector: str) -> str:
    """The mean of a histogram's observations since the exporter started, per ``by``."""
    matchers = f"{{{selector}}}" if selector else ""
    return (
        f"sum by ({by}) ({histogram}_sum{matchers}) / sum by ({by}) ({histogram}_count{matchers})"
    )


# --- the three dashboards --------------------------------------------------------------

RUNS: Final = Dashboard(
    uid="kubegym-runs",
    title="kubegym / Runs",
    description="Progress, phases, ETA, spend, tokens, failures and scheduling of BenchmarkRuns.",
    rows=(
        Row(
            "Progress",
            (
                Panel(
                    "Progress",
                    "bargauge",
                    [Target(f"kubegym_run:progress:ratio{{{RUN_SEL}}}", "{{namespace}}/{{run}}")],
                    unit="percentunit",
                    max=1,
                    description="Finished trials over planned trials (recording rule kubegym_run:progress:ratio).",
                ),
                Panel(
                    "Trials done / planned",
                    "stat",
                    [
                        Target(
                            f"max by (namespace, run) (kubegym_run_trials_finished{{{RUN_SEL}}})",
                            "{{run}} done",
                        ),
                        Target(
                            f"max by (namespace, run) (kubegym_run_trials_planned{{{RUN_SEL}}})",
                            "{{run}} planned",
                        ),
                    ],
                    unit="none",
                ),
                Panel(
                    "ETA",
                    "stat",
                    [Target(f"kubegym_run:eta_seconds:rate15m{{{RUN_SEL}}}", "{{run}}")],
                    unit="s",
                    description="Trials left divided by the finishing rate of the last 15 minutes.",
                ),
                Panel(
                    "Trials by phase",
                    "timeseries",
                    [Target(f"kubegym_run_phase:trials:sum{{{RUN_SEL}}}", "{{run}} {{phase}}")],
                    unit="none",
                    stacked=True,
                    width=16,
                ),
                Panel(
                    "Since last progress",
                    "stat",
                    [Target(f"kubegym_run:progress_age_seconds:max{{{RUN_SEL}}}", "{{run}}")],
                    unit="s",
                    description="Seconds since a trial started, stepped or ended (alert at 30 minutes).",
                ),
                Panel(
                    "Finished trials by task and agent",
                    "table",
                    [
                        Target(
                            "sum by (run, task, agent, phase) "
                            f"(kubegym_trials_finished_total{{{TASK_AGENT_SEL}}})"
                        )
                    ],
                    unit="none",
                    width=24,
                    description="Counted since the exporter started; Failed means the agent's trial ended without a result.",
                ),
            ),
        ),
        Row(
            "Spend and tokens",
            (
                Panel(
                    "Spend against budget",
                    "bargauge",
                    [Target(f"kubegym_run:spend:ratio{{{RUN_SEL}}}", "{{namespace}}/{{run}}")],
                    unit="percentunit",
                    max=1,
                    description="Spend over budget; a run without a budget has no bar.",
                ),
                Panel(
                    "Spend and budget",
                    "timeseries",
                    [
                        Target(
                            f"max by (namespace, run) (kubegym_run_spend_usd{{{RUN_SEL}}})",
                            "{{run}} spent",
                        ),
                        Target(
                            f"max by (namespace, run) (kubegym_run_budget_usd{{{RUN_SEL}}})",
                            "{{run}} budget",
                        ),
                    ],
                    unit="currencyUSD",
                ),
                Panel(
                    "Spend rate (per hour)",
                    "timeseries",
                    [Target(f"kubegym_run:cost_usd:rate1h{{{RUN_SEL}}} * 3600", "{{run}}")],
                    unit="currencyUSD",
                ),
                Panel(
                    "Tokens per second",
                    "timeseries",
                    [
                        Target(
                            "sum by (agent, type) "
                            f"(kubegym_run_agent:tokens:rate5m{{{AGENT_SEL}}})",
                            "{{agent}} {{type}}",
                        )
                    ],
                    unit="short",
                    width=12,
                ),
                Panel(
                    "Tokens used",
                    "bargauge",
                    [
                        Target(
                            f"sum by (agent, type) (kubegym_agent_tokens_total{{{AGENT_SEL}}})",
                            "{{agent}} {{type}}",
                        )
                    ],
                    unit="short",
                    width=6,
                ),
                Panel(
                    "Steps per second",
                    "timeseries",
                    [
                        Target(
                            f"sum by (agent) (kubegym_run_agent:steps:rate5m{{{AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="ops",
                    width=6,
                ),
            ),
        ),
        Row(
            "Failures and scheduling",
            (
                Panel(
                    "Infrastructure failures by reason",
                    "timeseries",
                    [
                        Target(
                            "sum by (reason) "
                            f"(kubegym_run_reason:infra_failures:rate5m{{{RUN_SEL}}})",
                            "{{reason}}",
                        )
                    ],
                    unit="ops",
                    stacked=True,
                    description="Attempts lost to the infrastructure (OOMKilled, Evicted, …), not to the agent.",
                ),
                Panel(
                    "Failures by reason (total)",
                    "bargauge",
                    [
                        Target(
                            f"sum by (reason) (kubegym_infra_failures_total{{{RUN_SEL}}})",
                            "{{reason}}",
                        )
                    ],
                    unit="none",
                ),
                Panel(
                    "Retries by reason",
                    "timeseries",
                    [
                        Target(
                            f"sum by (reason) (kubegym_run_reason:retries:rate5m{{{RUN_SEL}}})",
                            "{{reason}}",
                        )
                    ],
                    unit="ops",
                    stacked=True,
                ),
                Panel(
                    "Scheduling latency p90",
                    "timeseries",
                    [
                        Target(
                            f"kubegym_run:trial_scheduling_latency_seconds:p90_15m{{{RUN_SEL}}}",
                            "{{run}} p90 (15m)",
                        ),
                        Target(
                            _mean(
                                "kubegym_trial_scheduling_latency_seconds",
                                "namespace, run",
                                RUN_SEL,
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
                Panel(
                    "Scheduling latency by task",
                    "timeseries",
                    [
                        Target(
                            "histogram_quantile(0.5, sum by (task, le) (rate("
                            f"kubegym_trial_scheduling_latency_seconds_bucket{{{TASK_SEL}}}[15m])))",
                            "{{task}} p50 (15m)",
                        ),
                        Target(
                            _mean("kubegym_trial_scheduling_latency_seconds", "task", TASK_SEL),
                            "{{task}} mean",
                        ),
                    ],
                    unit="s",
                    width=12,
                ),
                Panel(
                    "Trial duration p90 by task",
                    "timeseries",
                    [
                        Target(
                            f"kubegym_run_task:trial_duration_seconds:p90_1h{{{TASK_SEL}}}",
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

LEADERBOARD: Final = Dashboard(
    uid="kubegym-leaderboard",
    title="kubegym / Leaderboard",
    description="AUP per agent under both performance profiles, best scores and cost per agent.",
    rows=(
        Row(
            "AUP",
            (
                Panel(
                    "AUP, best attempt",
                    "bargauge",
                    [
                        Target(
                            f'kubegym_run_agent:aup:max{{{AGENT_SEL}, profile="best_attempt"}}',
                            "{{run}} {{agent}}",
                        )
                    ],
                    unit="none",
                    decimals=3,
                    width=12,
                    description="Area under the performance profile of each agent's best validate-or-submit score.",
                ),
                Panel(
                    "AUP, best submission",
                    "bargauge",
                    [
                        Target(
                            f'kubegym_run_agent:aup:max{{{AGENT_SEL}, profile="best_submission"}}',
                            "{{run}} {{agent}}",
                        )
                    ],
                    unit="none",
                    decimals=3,
                    width=12,
                    description="Area under the performance profile of each agent's best final submission.",
                ),
                Panel(
                    "AUP over time",
                    "timeseries",
                    [
                        Target(
                            f"kubegym_run_agent:aup:max{{{AGENT_SEL}}}",
                            "{{run}} {{agent}} {{profile}}",
                        )
                    ],
                    unit="none",
                    width=24,
                ),
            ),
        ),
        Row(
            "Scores and cost",
            (
                Panel(
                    "Best score per task and agent",
                    "table",
                    [Target(f"kubegym_run_task_agent:best_score:max{{{TASK_AGENT_SEL}}}")],
                    unit="none",
                    width=24,
                    description="Best hidden-test score over the seeds, in each task's primary metric.",
                ),
                Panel(
                    "Cost per agent",
                    "bargauge",
                    [
                        Target(
                            f"sum by (agent) (kubegym_agent_cost_usd_total{{{AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="currencyUSD",
                ),
                Panel(
                    "Cost per finished trial",
                    "bargauge",
                    [
                        Target(
                            f"sum by (agent) (kubegym_agent_cost_usd_total{{{AGENT_SEL}}})"
                            " / sum by (agent) "
                            f"(kubegym_trials_finished_total{{{AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="currencyUSD",
                ),
                Panel(
                    "Tokens per agent",
                    "bargauge",
                    [
                        Target(
                            f"sum by (agent) (kubegym_agent_tokens_total{{{AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="short",
                ),
            ),
        ),
    ),
)

OPERATOR: Final = Dashboard(
    uid="kubegym-operator",
    title="kubegym / Operator",
    description="The operator's reconciles, the artifact store's uploads and trials waiting for nodes.",
    variables=("namespace",),
    rows=(
        Row(
            "Reconciles",
            (
                Panel(
                    "Reconcile latency p99",
                    "timeseries",
                    [
                        Target(
                            "kubegym_kind:operator_reconcile_duration_seconds:p99_5m",
                            "{{kind}}",
                        )
                    ],
                    unit="s",
                ),
                Panel(
                    "Reconciles per second",
                    "timeseries",
                    [
                        Target(
                            "sum by (kind) (rate("
                            "kubegym_operator_reconcile_duration_seconds_count[$__rate_interval]))",
                            "{{kind}}",
                        )
                    ],
                    unit="ops",
                ),
                Panel(
                    "Reconcile errors per second",
                    "timeseries",
                    [Target("kubegym_kind:operator_reconcile_errors:rate5m", "{{kind}}")],
                    unit="ops",
                    description="Reconciles that raised; the operator retries them (alert above 0.1/s for 15 minutes).",
                ),
            ),
        ),
        Row(
            "Artifact store",
            (
                Panel(
                    "Upload latency p90",
                    "timeseries",
                    [
                        Target(
                            "kubegym_backend:store_upload_duration_seconds:p90_5m",
                            "{{backend}} p90 (5m)",
                        ),
                        Target(
                            _mean("kubegym_store_upload_duration_seconds", "backend", ""),
                            "{{backend}} mean",
                        ),
                    ],
                    unit="s",
                    description="The 90th percentile over 5 minutes, and the mean since the operator started.",
                ),
                Panel(
                    "Upload throughput",
                    "timeseries",
                    [Target("kubegym_backend:store_upload_bytes:rate5m", "{{backend}}")],
                    unit="Bps",
                ),
                Panel(
                    "Upload failures per second",
                    "timeseries",
                    [Target("kubegym_backend:store_upload_failures:rate5m", "{{backend}}")],
                    unit="ops",
                    description="Failed upload tries (retried); failing for 15 minutes fires an alert.",
                ),
            ),
        ),
        Row(
            "Waiting for nodes",
            (
                Panel(
                    "Trials pending",
                    "timeseries",
                    [
                        Target(
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
                Panel(
                    "Scheduling latency p90 per run",
                    "timeseries",
                    [
                        Target(
                            "kubegym_run:trial_scheduling_latency_seconds:p90_15m"
                            '{namespace=~"$namespace"}',
                            "{{namespace}}/{{run}} p90 (15m)",
                        ),
                        Target(
                            _mean(
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

DASHBOARDS: Final = {"runs": RUNS, "leaderboard": LEADERBOARD, "operator": OPERATOR}


def files() -> dict[str, str]:
    """File name → JSON text of every dashboard, exactly as written under `OUT_DIR`."""
    return {
        f"{name}.json": json.dumps(render(dashboard), indent=2, ensure_ascii=False) + "\n"
        for name, dashboard in DASHBOARDS.items()
    }


def write(out: Path = OUT_DIR) -> list[Path]:
    """Write every dashboard's JSON file into ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files().items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write kubegym's Grafana dashboards as JSON.")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder (default: the chart's)")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
