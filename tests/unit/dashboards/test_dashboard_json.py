"""The Grafana dashboards the chart ships: generated, well-formed, and reading kubegym's series.

Every query's evaluation against a real Prometheus is in tests/cluster/test_dashboards.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kubegym import dashboards
from kubegym.metrics import families, rules

from .promql import label_values, metric_names

# Grafana's unit ids (packages/grafana-data/src/valueFormats/categories.ts), those a
# kubegym dashboard could sensibly use; a typo such as "seconds" or "USD" is not one.
GRAFANA_UNITS = frozenset(
    {
        "none",
        "short",
        "percent",
        "percentunit",
        "s",
        "ms",
        "dtdurations",
        "currencyUSD",
        "ops",
        "reqps",
        "rps",
        "Bps",
        "bytes",
        "decbytes",
    }
)
# Variables Grafana defines itself.
GRAFANA_VARIABLES = frozenset({"__rate_interval", "__interval", "__range"})
PANEL_KINDS = frozenset({"row", "timeseries", "stat", "bargauge", "gauge", "table"})
VARIABLE = re.compile(r"\$\{?(\w+)")


def _known_series() -> set[str]:
    names: set[str] = set()
    for family in families.Families().registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}{s}" for s in ("_bucket", "_count", "_sum", "_created")}
        else:
            names.add(family.name)
    for group in rules.load_groups():
        names |= {rule["record"] for rule in group["rules"] if "record" in rule}
    return names


KNOWN = _known_series()
FILES = {name: json.loads(text) for name, text in dashboards.files().items()}


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dashboard) for t in p["targets"]]


def test_the_files_in_the_chart_are_the_generated_ones(repo: Path) -> None:
    folder = repo / "helm" / "kubegym" / "dashboards"
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*.json")}
    assert sorted(on_disk) == sorted(dashboards.files()), "run: python -m kubegym.dashboards"
    for name, text in dashboards.files().items():
        assert on_disk[name] == text, f"{name} is stale: run python -m kubegym.dashboards"


def test_there_are_the_three_dashboards_with_unique_uids() -> None:
    assert sorted(FILES) == ["leaderboard.json", "operator.json", "runs.json"]
    uids = [d["uid"] for d in FILES.values()]
    assert len(set(uids)) == len(uids)
    assert all(len(uid) <= 40 for uid in uids)  # Grafana's limit


@pytest.mark.parametrize("name", sorted(FILES))
def test_panel_ids_are_unique_and_panels_fit_the_grid(name: str) -> None:
    dashboard = FILES[name]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), ids
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["type"] in PANEL_KINDS, panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_panel_and_target_reads_the_datasource_variable(name: str) -> None:
    dashboard = FILES[name]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    expected = {"type": "prometheus", "uid": "${datasource}"}
    for panel in _panels(dashboard):
        assert panel["datasource"] == expected, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == expected, panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == expected, variable["name"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_units_are_grafana_units(name: str) -> None:
    for panel in _panels(FILES[name]):
        unit = panel["fieldConfig"]["defaults"]["unit"]
        assert unit in GRAFANA_UNITS, f"{panel['title']}: {unit!r} is not a Grafana unit id"
    assert dashboards.UNITS <= GRAFANA_UNITS


@pytest.mark.parametrize("name", sorted(FILES))
def test_every_query_reads_kubegym_series_or_recording_rules(name: str) -> None:
    dashboard = FILES[name]
    for expr in _exprs(dashboard):
        names = metric_names(expr)
        assert names, expr
        unknown = names - KNOWN
        assert not unknown, f"{expr}: {sorted(unknown)} are neither families nor recording rules"
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            metric, _, label = label_values(variable["query"])
            assert metric in KNOWN, variable["name"]
            assert label in families.ALLOWED_LABELS, variable["name"]


@pytest.mark.parametrize("name", sorted(FILES))
def test_variables_are_defined_and_used(name: str) -> None:
    dashboard = FILES[name]
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    text = "\n".join(_exprs(dashboard))
    used = set(VARIABLE.findall(text))
    assert used - GRAFANA_VARIABLES <= defined, used - defined
    # Every variable but the datasource narrows some query (a dropdown that changes nothing
    # misleads); the viewer's URL only builds links (tests/unit/dashboards/test_viewer_links.py).
    for variable in defined - {"datasource", dashboards.grafana.VIEWER}:
        assert f"${variable}" in text, f"${variable} is never used by a panel"


def test_run_level_queries_use_the_recording_rules_where_they_exist() -> None:
    recorded = {
        rule["record"]
        for group in rules.load_groups()
        for rule in group["rules"]
        if "record" in rule
    }
    used = {n for d in FILES.values() for e in _exprs(d) for n in metric_names(e)}
    # The inputs of other rules (the finishing rate, ETA's input) need no panel of their own.
    assert recorded - used <= {"kubegym_run:trials_finished:rate15m"}, recorded - used


def test_the_metric_name_reader() -> None:
    expr = (
        'histogram_quantile(0.9, sum by (task, le) (rate(foo_bucket{a=~"$x", b="y z"}[15m])))'
        " / on (task) bar:baz:rate5m * 3600 > bool 0 and qux"
    )
    assert metric_names(expr) == {"foo_bucket", "bar:baz:rate5m", "qux"}
    assert label_values('label_values(m{a="b"}, run)') == ("m", '{a="b"}', "run")
