"""``python -m kubegym.dashboards``: write the dashboards' JSON files into the chart (or ``--out``)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kubegym.dashboards import output


def main(argv: Sequence[str] | None = None) -> int:
    """Write every dashboard and print each path written."""
    parser = argparse.ArgumentParser(description="Write kubegym's Grafana dashboards as JSON.")
    parser.add_argument(
        "--out", type=Path, default=output.OUT_DIR, help="folder (default: the chart's)"
    )
    args = parser.parse_args(argv)
    for path in output.write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
