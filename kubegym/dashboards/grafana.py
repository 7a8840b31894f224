"""Grafana's side of kubegym's dashboards: the description (`Dashboard`, `Row`, `Panel`,
`Target`) and `render`, which turns one into Grafana's JSON model.

Every panel is rendered by the same code, so each one reads the datasource variable,
filters by the same template variables and uses a Grafana unit from `UNITS`. The three
dashboards (`runs`, `leaderboard`, `operations`) are written in these words;
`kubegym.dashboards.output` renders them to files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

DATASOURCE: Final = {"type": "prometheus", "uid": "${datasource}"}
#: The Grafana unit ids the dashboards use (Grafana's ``valueFormats`` ids).
UNITS: Final = frozenset(
    {"none", "short", "percentunit", "s", "currencyUSD", "ops", "Bps", "decbytes"}
)
SCHEMA_VERSION: Final = 39
TAG: Final = "kubegym"
VIEWER: Final = "viewer"
"""The dashboards' variable holding the viewer's base URL (`kubegym view`; the chart's
``viewer.url``): the dashboard link and the panels' data links open pages under it."""


@dataclass(frozen=True)
class Link:
    """A data link of a panel: clicking a series (or a table row) opens ``url``, in which
    Grafana fills ``${__field.labels.<label>}`` / ``${__data.fields.<column>}``."""

    title: str
    url: str


RUN_LINK: Final = Link("Open the run in the viewer", f"${{{VIEWER}}}/runs/${{__field.labels.run}}")
"""To the run of the clicked series (its ``run`` label): ``<viewer>/runs/<run>``."""
RUN_ROW_LINK: Final = Link(
    "Open the run in the viewer", f"${{{VIEWER}}}/runs/${{__data.fields.run}}"
)
"""The same from a table row (its ``run`` column)."""


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
    links: Sequence[Link] = ()


@dataclass(frozen=True)
class Row:
    """A titled row of panels, laid out left to right and wrapped at Grafana's 24 columns."""

    title: str
    panels: Sequence[Panel]


@dataclass(frozen=True)
class Dashboard:
    """One dashboard: its stable uid, its rows, its template variables and extra JSON fields."""

    uid: str
    title: str
    description: str
    rows: Sequence[Row]
    variables: Sequence[str] = ("namespace", "run", "agent", "task")
    extra: dict[str, Any] = field(default_factory=dict)
    viewer: bool = False
    """Link to kubegym's viewer: a `VIEWER` text variable and a dashboard link to it."""


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


def _templating(names: Sequence[str], viewer: bool = False) -> dict[str, Any]:
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
    if viewer:
        variables.append(
            {
                "name": VIEWER,
                "label": "Viewer URL",
                "type": "textbox",
                # The default: empty until set here or by the chart (viewer.url).
                "query": "",
                "current": {"text": "", "value": ""},
                "options": [],
                "hide": 0,
                "description": "Base URL of kubegym's viewer (kubegym view): runs open there.",
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
    if panel.links:
        defaults["links"] = [
            {"title": link.title, "url": link.url, "targetBlank": True} for link in panel.links
        ]
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
    links: list[dict[str, Any]] = [
        {
            "type": "dashboards",
            "tags": [TAG],
            "title": "kubegym",
            "asDropdown": True,
            "includeVars": True,
            "keepTime": True,
        }
    ]
    if dashboard.viewer:
        links.append(
            {
                "type": "link",
                "title": "Viewer",
                "tooltip": "kubegym view: runs, trials and every step",
                "url": f"${{{VIEWER}}}",
                "icon": "external link",
                "targetBlank": True,
            }
        )
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
        "links": links,
        "annotations": {"list": []},
        "templating": _templating(dashboard.variables, dashboard.viewer),
        "panels": panels,
        **dashboard.extra,
    }
