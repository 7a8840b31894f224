"""`kubegym report --format json` writes valid JSON whatever numbers a trial's results.json holds.

JSON has no Infinity or NaN, and results.json is written beside an untrusted agent: a cost of
infinity must become null in report.json, not stop the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubegym.cli import main


def test_an_infinite_cost_is_null_in_report_json(tiny_run: Path, tmp_path: Path) -> None:
    (path,) = [
        p
        for p in sorted((tiny_run / "trials").glob("*/results.json"))
        if json.loads(p.read_text())["cost_usd"] > 0
    ][:1]
    data = json.loads(path.read_text())
    data["cost_usd"] = float("inf")
    path.write_text(json.dumps(data))  # Python writes the non-standard `Infinity`
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["report", str(tiny_run), "--format", "json", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = (out / "report.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    document = json.loads(text)  # strict enough: the standard library reads Infinity too
    costs = [
        record
        for table in document["tables"].values()
        for record in table["records"]
        if any(key.startswith("cost") for key in record)
    ]
    assert costs, "no table shows the cost"
