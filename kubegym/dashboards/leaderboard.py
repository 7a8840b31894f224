"""The Leaderboard dashboard: AUP per agent under both performance profiles, best scores
and cost per agent.

Listed in `kubegym.dashboards.output.DASHBOARDS`, which writes it as ``leaderboard.json``.
"""

from __future__ import annotations

from typing import Final

from kubegym.dashboards import grafana, queries

LEADERBOARD: Final = grafana.Dashboard(
    uid="kubegym-leaderboard",
    title="kubegym / Leaderboard",
    description="AUP per agent under both performance profiles, best scores and cost per agent.",
    viewer=True,
    rows=(
        grafana.Row(
            "AUP",
            (
                grafana.Panel(
                    "AUP, best attempt",
                    "bargauge",
                    [
                        grafana.Target(
                            f'kubegym_run_agent:aup:max{{{queries.AGENT_SEL}, profile="best_attempt"}}',
                            "{{run}} {{agent}}",
                        )
                    ],
                    unit="none",
                    decimals=3,
                    width=12,
                    links=(grafana.RUN_LINK,),
                    description="Area under the performance profile of each agent's best validate-or-submit score.",
                ),
                grafana.Panel(
                    "AUP, best submission",
                    "bargauge",
                    [
                        grafana.Target(
                            f'kubegym_run_agent:aup:max{{{queries.AGENT_SEL}, profile="best_submission"}}',
                            "{{run}} {{agent}}",
                        )
                    ],
                    unit="none",
                    decimals=3,
                    width=12,
                    links=(grafana.RUN_LINK,),
                    description="Area under the performance profile of each agent's best final submission.",
                ),
                grafana.Panel(
                    "AUP over time",
                    "timeseries",
                    [
                        grafana.Target(
                            f"kubegym_run_agent:aup:max{{{queries.AGENT_SEL}}}",
                            "{{run}} {{agent}} {{profile}}",
                        )
                    ],
                    unit="none",
                    width=24,
                ),
            ),
        ),
        grafana.Row(
            "Scores and cost",
            (
                grafana.Panel(
                    "Best score per task and agent",
                    "table",
                    [
                        grafana.Target(
                            f"kubegym_run_task_agent:best_score:max{{{queries.TASK_AGENT_SEL}}}"
                        )
                    ],
                    unit="none",
                    width=24,
                    links=(grafana.RUN_ROW_LINK,),
                    description="Best hidden-test score over the seeds, in each task's primary metric.",
                ),
                grafana.Panel(
                    "Cost per agent",
                    "bargauge",
                    [
                        grafana.Target(
                            f"sum by (agent) (kubegym_agent_cost_usd_total{{{queries.AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="currencyUSD",
                ),
                grafana.Panel(
                    "Cost per finished trial",
                    "bargauge",
                    [
                        grafana.Target(
                            f"sum by (agent) (kubegym_agent_cost_usd_total{{{queries.AGENT_SEL}}})"
                            " / sum by (agent) "
                            f"(kubegym_trials_finished_total{{{queries.AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="currencyUSD",
                ),
                grafana.Panel(
                    "Tokens per agent",
                    "bargauge",
                    [
                        grafana.Target(
                            f"sum by (agent) (kubegym_agent_tokens_total{{{queries.AGENT_SEL}}})",
                            "{{agent}}",
                        )
                    ],
                    unit="short",
                ),
            ),
        ),
    ),
)
