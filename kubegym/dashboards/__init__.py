"""kubegym's Grafana dashboards (Runs, Leaderboard, Operator), generated from one description.

`grafana` holds the description's words (`Dashboard`, `Row`, `Panel`, `Target`) and renders
them, so every panel reads the datasource variable, filters by the same template variables
and uses a Grafana unit from `UNITS`; `queries` the PromQL selectors they share; `runs`,
`leaderboard` and `operations` the three dashboards. The JSON files under
``helm/kubegym/dashboards/`` are `output`'s (the chart ships them as ConfigMaps);
regenerate them with ``python -m kubegym.dashboards`` after a change here. The queries
read the series of `kubegym.metrics.families` and, where one exists, a recording rule of
``kubegym/metrics/rules.yaml``. ``tests/unit/dashboards`` checks the files (structure,
units, metric names, up to date); ``tests/cluster/test_dashboards.py`` evaluates every
query against a real Prometheus scraping a real run.
"""

from kubegym.dashboards.grafana import UNITS, Dashboard, Panel, Row, Target, render
from kubegym.dashboards.output import DASHBOARDS, OUT_DIR, files, write

__all__ = [
    "DASHBOARDS",
    "OUT_DIR",
    "UNITS",
    "Dashboard",
    "Panel",
    "Row",
    "Target",
    "files",
    "render",
    "write",
]
