"""The dashboards as files: each one's JSON text, written where the chart ships them.

`files` is what the tests compare with the chart's copies (``tests/unit/dashboards``) and
evaluate against a real Prometheus (``tests/cluster/test_dashboards.py``); `write` is what
``python -m kubegym.dashboards`` runs after a change to a dashboard.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Final

from kubegym.dashboards import grafana, leaderboard, operations, runs

#: Where the chart reads the dashboards from (``.Files.Glob "dashboards/*.json"``).
OUT_DIR: Final = Path(__file__).resolve().parents[2] / "helm" / "kubegym" / "dashboards"

#: File stem → dashboard, in the order they are written.
DASHBOARDS: Final = {
    "runs": runs.RUNS,
    "leaderboard": leaderboard.LEADERBOARD,
    "operator": operations.OPERATOR,
}


def files() -> dict[str, str]:
    """File name → JSON text of every dashboard, exactly as written under `OUT_DIR`."""
    return {
        f"{name}.json": json.dumps(grafana.render(dashboard), indent=2, ensure_ascii=False) + "\n"
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
