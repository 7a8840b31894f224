"""Grafana dashboards ship as ConfigMaps labelled for Grafana's sidecar, one per dashboards/*.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .conftest import CHART, FULL_VALUES, Render, by_kind


def _chart_copy(tmp_path: Path, dashboards: dict[str, object]) -> Path:
    """The chart with exactly `dashboards` (file name → JSON) in its dashboards/ folder."""
    chart = tmp_path / "kubegym"
    shutil.copytree(CHART, chart)
    shutil.rmtree(chart / "dashboards", ignore_errors=True)
    if dashboards:
        (chart / "dashboards").mkdir()
        for name, body in dashboards.items():
            (chart / "dashboards" / name).write_text(json.dumps(body, indent=2))
    return chart


def test_each_dashboard_file_becomes_a_labelled_config_map(render: Render, tmp_path: Path) -> None:
    tiny = {"title": "Tiny {{ not a helm template }}", "panels": [], "uid": "tiny"}
    chart = _chart_copy(tmp_path, {"tiny_board.json": tiny, "runs.json": {"title": "Runs"}})
    maps = {m["metadata"]["name"]: m for m in by_kind(render(chart=chart), "ConfigMap")}
    assert sorted(maps) == ["kubegym-dashboard-runs", "kubegym-dashboard-tiny-board"]
    board = maps["kubegym-dashboard-tiny-board"]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert board["metadata"]["annotations"] == {"grafana_folder": "kubegym"}
    assert board["metadata"]["namespace"] == "kubegym-system"
    # The JSON arrives byte for byte: Helm does not read it as a template.
    assert json.loads(board["data"]["tiny_board.json"]) == tiny


def test_no_dashboard_files_render_no_config_map(render: Render, tmp_path: Path) -> None:
    assert not by_kind(render(chart=_chart_copy(tmp_path, {})), "ConfigMap")


def test_the_chart_dashboards_are_shipped_where_values_say(render: Render) -> None:
    files = sorted((CHART / "dashboards").glob("*.json"))
    maps = by_kind(render(FULL_VALUES), "ConfigMap")
    assert len(maps) == len(files)
    shipped = {key: value for m in maps for key, value in m["data"].items()}
    viewer = "https://kubegym.example.com/viewer"  # the full values' viewer.url
    for path in files:
        board = json.loads(path.read_text())
        for variable in board["templating"]["list"]:
            if variable["name"] == "viewer":  # its default is the chart's viewer.url
                variable.update(query=viewer, current={"text": viewer, "value": viewer})
        assert json.loads(shipped[path.name]) == board
    for m in maps:
        assert m["metadata"]["namespace"] == "monitoring"
        assert m["metadata"]["annotations"] == {"grafana_folder": "Benchmarks"}
    assert not by_kind(render(sets={"dashboards.enabled": False}), "ConfigMap")
