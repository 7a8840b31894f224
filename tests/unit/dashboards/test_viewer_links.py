"""The Runs and Leaderboard dashboards link to kubegym's viewer: a dashboard link, and data
links on the panels whose series name a run, opening `<viewer>/runs/<run>` (the viewer's
URL scheme, the one the operator's Trial annotation extends)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kubegym import dashboards
from kubegym.dashboards import grafana

FILES = {name: json.loads(text) for name, text in dashboards.files().items()}
LINKED = ("runs.json", "leaderboard.json")
# Grafana's interpolation of a data link, for a series or table row of run "bench-1".
FILLED = {
    "${viewer}": "https://kubegym.example.com/viewer",
    "${__field.labels.run}": "bench-1",
    "${__data.fields.run}": "bench-1",
}


def _fill(url: str) -> str:
    for variable, value in FILLED.items():
        url = url.replace(variable, value)
    assert "$" not in url, f"{url}: a variable Grafana would not fill here"
    return url


def _linked_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p
        for p in dashboard["panels"]
        if p["type"] != "row" and p["fieldConfig"]["defaults"].get("links")
    ]


@pytest.mark.parametrize("name", LINKED)
def test_the_viewer_url_is_a_text_variable_and_a_dashboard_link(name: str) -> None:
    dashboard = FILES[name]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == grafana.VIEWER]
    assert variable["type"] == "textbox"
    (link,) = [link for link in dashboard["links"] if link["type"] == "link"]
    assert link["url"] == "${viewer}" and link["targetBlank"] is True


@pytest.mark.parametrize("name", LINKED)
def test_run_panels_open_the_run_in_the_viewer(name: str) -> None:
    panels = _linked_panels(FILES[name])
    assert len(panels) >= 2
    for panel in panels:
        for link in panel["fieldConfig"]["defaults"]["links"]:
            assert _fill(link["url"]) == "https://kubegym.example.com/viewer/runs/bench-1"
            # The label the link reads is one every series (or table row) of the panel has.
            for target in panel["targets"]:
                expr = target["expr"]
                grouped = re.search(r"\bby \(([^)]*)\)", expr)
                keeps_run = (
                    "run" in grouped.group(1).replace(" ", "").split(",")
                    if grouped
                    else expr.startswith("kubegym_run")
                )
                assert keeps_run, f"{panel['title']}: {expr} has no run label to link"


def test_the_operator_dashboard_has_no_viewer_variable() -> None:
    names = {v["name"] for v in FILES["operator.json"]["templating"]["list"]}
    assert grafana.VIEWER not in names
