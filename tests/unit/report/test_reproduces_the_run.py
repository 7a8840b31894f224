"""`kubegym report` on a real local run reproduces its leaderboard.json and draws its plots."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from kubegym.cli import main


@pytest.fixture(scope="module")
def reported(quickstart_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The quickstart reported in every format: format → its output folder."""
    folders = {}
    for fmt in ("md", "html", "json"):
        out = tmp_path_factory.mktemp(f"report-{fmt}")
        result = CliRunner().invoke(
            main, ["report", str(quickstart_run), "--format", fmt, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        folders[fmt] = out
    return folders


def test_the_report_reproduces_leaderboard_json(
    quickstart_run: Path, reported: dict[str, Path]
) -> None:
    recorded = json.loads((quickstart_run / "leaderboard.json").read_text())
    document = json.loads((reported["json"] / "report.json").read_text())
    assert document["leaderboard"] == recorded
    rows = {r["method"]: r for r in document["tables"]["leaderboard"]["records"]}
    for method, entry in recorded["agents"].items():
        for profile in ("best_attempt", "best_submission"):
            assert rows[method][f"aup_{profile}"] == entry[profile]
            low, high = entry[f"{profile}_ci"]
            assert rows[method][f"aup_{profile}_ci_low"] == low
            assert rows[method][f"aup_{profile}_ci_high"] == high
    scores = {r["method"]: r for r in document["tables"]["scores_best_attempt"]["records"]}
    for task, methods in recorded["tasks"].items():
        column = next(c for c in scores["replay"] if c.startswith(f"{task} ("))
        for method, best in methods.items():
            assert scores[method][column] == best["best_attempt"]


def test_stdout_holds_the_markdown_tables(quickstart_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(quickstart_run), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Report: quickstart")
    assert "| method | AUP, best attempt | AUP, best attempt: 95% CI |" in result.stdout
    assert "| replay | 1.500 | 1.500–1.500 |" in result.stdout
    assert "## Actions: steps per tool" in result.stdout
    assert f"report written to {tmp_path / 'report.md'}" in result.stderr


def test_the_default_output_folder_is_inside_the_run(quickstart_run: Path) -> None:
    result = CliRunner().invoke(main, ["report", str(quickstart_run), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert (quickstart_run / "report" / "report.json").is_file()


@pytest.mark.parametrize(("name", "width"), [("profiles.png", 1440), ("cost_vs_aup.png", 1320)])
def test_the_plots_open_with_their_size_and_are_not_blank(
    reported: dict[str, Path], name: str, width: int
) -> None:
    with Image.open(reported["md"] / name) as image:
        # The height grows with the legend's rows under the panels.
        assert image.format == "PNG" and image.size[0] == width and 576 < image.size[1] < 700
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10.0  # lines, labels and text on white, not one flat colour
    assert (pixels < 128).mean() > 0.005


def test_markdown_links_its_figures(reported: dict[str, Path]) -> None:
    text = (reported["md"] / "report.md").read_text()
    assert "![Performance profiles](profiles.png)" in text
    assert "![Cost versus AUP](cost_vs_aup.png)" in text
    assert "| task-baseline | 0.4416 |" in text


def test_the_html_is_one_self_contained_file(reported: dict[str, Path]) -> None:
    assert [p.name for p in reported["html"].iterdir()] == ["report.html"]
    page = (reported["html"] / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    lowered = page.lower()
    for attribute in ("src=", "href="):
        at = 0
        while (at := lowered.find(attribute, at)) != -1:
            value = lowered[at + len(attribute) :].lstrip("\"'")
            assert value.startswith("data:"), page[at : at + 80]
            at += len(attribute)
    assert "http://" not in lowered and "https://" not in lowered
    assert "<link" not in lowered and "<script" not in lowered
    images = page.split('src="data:image/png;base64,')[1:]
    assert len(images) == 2
    png = base64.b64decode(images[0].split('"', 1)[0])
    with Image.open(io.BytesIO(png)) as image:
        assert image.size[0] == 1440


def test_json_has_every_table_as_records(reported: dict[str, Path]) -> None:
    document = json.loads((reported["json"] / "report.json").read_text())
    assert set(document["tables"]) >= {
        "summary",
        "leaderboard",
        "scores_best_attempt",
        "scores_best_submission",
        "costs",
        "pareto",
        "failures",
        "actions",
        "action_shares",
    }
    costs = document["tables"]["costs"]["records"]
    assert {r["agent"] for r in costs} == {"baseline", "replay"}
    assert all(r["trials"] == 6 for r in costs)
    actions = {r["tool"]: r for r in document["tables"]["actions"]["records"]}
    assert actions["validate"]["replay"] == 6 and actions["submit"]["baseline"] == 6
    assert document["figures"] == ["profiles.png", "cost_vs_aup.png"]
