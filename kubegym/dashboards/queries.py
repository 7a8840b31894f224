"""The PromQL pieces every dashboard query is built from: the template variables'
selectors, written once, and the mean of a histogram.

Used by the three dashboards (`kubegym.dashboards.runs`, `leaderboard`, `operations`).
"""

from __future__ import annotations

from typing import Final

# Selectors, written once: every run-level query filters by namespace and run.
RUN_SEL: Final = 'namespace=~"$namespace", run=~"$run"'
AGENT_SEL: Final = f'{RUN_SEL}, agent=~"$agent"'
TASK_SEL: Final = f'{RUN_SEL}, task=~"$task"'
TASK_AGENT_SEL: Final = f'{RUN_SEL}, task=~"$task", agent=~"$agent"'


def mean(histogram: str, by: str, selector: str) -> str:
    """The mean of a histogram's observations since the exporter started, per ``by``."""
    matchers = f"{{{selector}}}" if selector else ""
    return (
        f"sum by ({by}) ({histogram}_sum{matchers}) / sum by ({by}) ({histogram}_count{matchers})"
    )
