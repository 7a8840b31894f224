"""The report's tables, each a DataFrame computed from a loaded run (`loading.RunData`).

Called by `kubegym.report.sections`, which titles and orders them; the
scoring is `kubegym.scoring`'s (the same `Leaderboard` the runner writes to
leaderboard.json). Vectorised pandas only: a run of 10,000 trials takes
milliseconds here.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from kubegym import scoring
from kubegym.errors import ConfigError
from kubegym.report.audit_rules import SEVERITIES
from kubegym.report.integrity import RunIntegrity
from kubegym.report.loading import AGENT, COUNT, TOOL, RunData
from kubegym.scoring import leaderboard as leaderboards
from kubegym.scoring.columns import (
    BEST_ATTEMPT,
    CI_HIGH,
    CI_LOW,
    DIRECTION,
    MEAN_RANK,
    METHOD,
    PROFILE,
    SCORE_COLUMNS,
    TASK,
)

COST_PER_TRIAL: Final = "cost_per_trial_usd"
INFRA_FAILURES: Final = "infra_failures"
AGENT_FAILURES: Final = "agent_failures"


def tidy(run: RunData) -> pd.DataFrame:
    """The run's rows for scoring, exactly as the local runner builds them."""
    return leaderboards.tidy_trials(run.references, run.trials)


def leaderboard(board: leaderboards.Leaderboard) -> pd.DataFrame | None:
    """AUP under both profiles with their bootstrap CIs, and the mean rank over tasks.

    Returns:
        Index method (the `REFERENCE` row included), best first by AUP of the
        best attempt; None when the run has no AUP.
    """
    if board.result is None or board.table is None or board.intervals is None:
        return None
    aup = board.result.aup
    ci = board.intervals.pivot(index=METHOD, columns=PROFILE, values=[CI_LOW, CI_HIGH])
    frame = pd.DataFrame(index=aup.index)
    for profile in SCORE_COLUMNS:
        frame[f"aup_{profile}"] = aup[profile]
        frame[f"aup_{profile}_ci_low"] = ci[(CI_LOW, profile)].reindex(aup.index)
        frame[f"aup_{profile}_ci_high"] = ci[(CI_HIGH, profile)].reindex(aup.index)
    for profile in SCORE_COLUMNS:
        ranks = scoring.mean_rank(board.table, profile, baseline=leaderboards.REFERENCE)
        frame[f"mean_rank_{profile}"] = ranks[MEAN_RANK].reindex(aup.index)
    frame.index.name = METHOD
    order = np.lexsort((frame.index.to_numpy(dtype=str), -frame[f"aup_{BEST_ATTEMPT}"]))
    return frame.iloc[order]


def task_scores(rows: pd.DataFrame, profile: str) -> pd.DataFrame | None:
    """The raw score of every method on every task under one profile (best over seeds).

    Args:
        rows: from `tidy`.
        profile: ``best_attempt`` or ``best_submission``.

    Returns:
        Index method (the tasks' baseline row first), one column per task named
        ``task (direction)``; None when there is nothing to score.
    """
    try:
        table = scoring.best_over_seeds(rows, baseline=leaderboards.REFERENCE)
    except ConfigError:
        return None
    wide = table.pivot(index=METHOD, columns=TASK, values=profile)
    tasks = list(pd.unique(table[TASK]))
    methods = list(pd.unique(table[METHOD]))
    directions = table.groupby(TASK, sort=False)[DIRECTION].first()
    wide = wide.reindex(index=pd.Index(methods, name=METHOD), columns=tasks)
    wide.columns = pd.Index([f"{task} ({directions[task]})" for task in tasks])
    return wide


def costs(trials: pd.DataFrame) -> pd.DataFrame:
    """USD, tokens, steps and time per agent, in total and per finished trial."""
    grouped = trials.groupby(AGENT, sort=False)
    frame = pd.DataFrame(
        {
            "trials": grouped.size(),
            "cost_usd": grouped["cost_usd"].sum(),
            COST_PER_TRIAL: grouped["cost_usd"].mean(),
            "prompt_tokens": grouped["prompt_tokens"].sum(),
            "completion_tokens": grouped["completion_tokens"].sum(),
        }
    )
    tokens = trials["prompt_tokens"] + trials["completion_tokens"]
    frame["tokens_per_trial"] = tokens.groupby(trials[AGENT], sort=False).mean()
    frame["mean_steps"] = grouped["steps"].mean()
    frame["mean_seconds"] = grouped["seconds"].mean()
    frame.index.name = AGENT
    return frame


def pareto(cost: pd.DataFrame, board: pd.DataFrame | None) -> pd.DataFrame | None:
    """Cost per trial against AUP, and which agents are on the Pareto front of each profile.

    An agent is on the front when no other agent is both cheaper (or as cheap)
    and better (or as good), one of them strictly (`scoring.pareto_front`).

    Args:
        cost: from `costs`.
        board: from `leaderboard`.

    Returns:
        Index agent: ``cost_per_trial_usd``, the AUPs and ``pareto_<profile>``;
        None without a leaderboard.
    """
    if board is None:
        return None
    agents = [a for a in cost.index if a in board.index]
    frame = pd.DataFrame({COST_PER_TRIAL: cost.loc[agents, COST_PER_TRIAL]})
    for profile in SCORE_COLUMNS:
        frame[f"aup_{profile}"] = board.loc[agents, f"aup_{profile}"]
    for profile in SCORE_COLUMNS:
        frame[f"pareto_{profile}"] = scoring.pareto_front(
            frame[COST_PER_TRIAL], frame[f"aup_{profile}"]
        )
    frame.index.name = AGENT
    return frame.sort_values([COST_PER_TRIAL, f"aup_{BEST_ATTEMPT}"], ascending=[True, False])


def failures(trials: pd.DataFrame) -> pd.DataFrame:
    """Per agent: how its trials ended (one column per exit reason), failures and retries.

    ``infra_failures`` are trials the infrastructure failed after every retry
    (left out of the scores); ``agent_failures`` any other failure class;
    ``retried_trials``/``retries`` count trials that needed more than one
    attempt, and the extra attempts.
    """
    grouped = trials.groupby(AGENT, sort=False)
    reasons = pd.crosstab(trials[AGENT], trials["exit_reason"]).reindex(grouped.size().index)
    reasons = reasons[reasons.sum().sort_values(ascending=False, kind="stable").index]
    reasons.columns = pd.Index([f"exit_{reason}" for reason in reasons.columns])
    failure = trials["failure_class"]
    infra = failure.eq(leaderboards.INFRA)
    frame = pd.DataFrame({"trials": grouped.size()})
    frame = frame.join(reasons)
    frame[INFRA_FAILURES] = infra.groupby(trials[AGENT], sort=False).sum()
    frame[AGENT_FAILURES] = (failure.notna() & ~infra).groupby(trials[AGENT], sort=False).sum()
    frame["retried_trials"] = trials["attempt"].gt(0).groupby(trials[AGENT], sort=False).sum()
    frame["retries"] = grouped["attempt"].sum()
    frame.index.name = AGENT
    return frame.astype("int64")


def failure_messages(trials: pd.DataFrame, width: int = 120) -> pd.DataFrame:
    """Failed trials grouped by agent, failure class, exit reason and message (first line)."""
    failed = trials.loc[trials["failure_class"].notna().to_numpy()]
    message = failed["message"].fillna("").astype(str).str.split("\n").str[0].str.slice(0, width)
    frame = (
        failed.assign(message=message)
        .groupby([AGENT, "failure_class", "exit_reason", "message"], sort=False)
        .size()
        .rename("trials")
        .reset_index()
    )
    return frame.sort_values(["trials", AGENT], ascending=[False, True], kind="stable").reset_index(
        drop=True
    )


def summary(run: RunData) -> pd.DataFrame:
    """The run at a glance: trials planned and finished, failures, retries, spend."""
    trials = run.trials
    rows: list[tuple[str, object]] = [("run", run.run), ("source", run.location)]
    counters = (run.status or {}).get("counters") or {}
    if "total" in counters:
        rows.append(("trials planned", int(counters["total"])))
    rows += [
        ("trials finished", len(trials)),
        ("trials unfinished (folders without results)", len(run.unfinished)),
        ("tasks", int(trials[TASK].nunique())),
        ("agents", int(trials[AGENT].nunique())),
        ("infrastructure failures", int(trials["failure_class"].eq(leaderboards.INFRA).sum())),
        ("retries", int(trials["attempt"].sum())),
        ("cost (USD)", float(trials["cost_usd"].sum())),
        ("steps", int(trials["steps"].sum())),
    ]
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")


def actions(run: RunData) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which tools the agents used: steps per tool and agent, and each tool's share of an agent's steps.

    Returns:
        ``(counts, shares)``: index tool (most used first), one column per agent.
    """
    agents = run.agents
    counts = run.actions.pivot_table(
        index=TOOL, columns=AGENT, values=COUNT, aggfunc="sum", fill_value=0
    )
    counts = counts.reindex(columns=[a for a in agents if a in counts.columns], fill_value=0)
    order = counts.sum(axis=1).sort_values(ascending=False, kind="stable").index
    counts = counts.loc[order].astype("int64")
    counts.columns.name = None
    shares = counts / counts.sum(axis=0).replace(0, np.nan)
    return counts, shares


__all__ = [
    "actions",
    "costs",
    "failure_messages",
    "failures",
    "images",
    "integrity",
    "leaderboard",
    "pareto",
    "summary",
    "task_scores",
    "tidy",
]


def integrity(audit: RunIntegrity) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The integrity audit as two tables: per agent, and the flagged trials.

    Returns:
        ``(per_agent, flagged)``: per agent the trials, the flagged ones by
        severity, validate calls and evaluator errors; and one row per flagged
        trial, most serious first, with its rules and first evidence.
    """
    columns = ["trials", "flagged", *SEVERITIES, "validates", "eval_errors"]
    counts: dict[str, dict[str, int]] = {}
    for trial in audit.trials:
        row = counts.setdefault(trial.agent, dict.fromkeys(columns, 0))
        row["trials"] += 1
        row["validates"] += trial.validations
        row["eval_errors"] += len(trial.eval_errors)
        if trial.severity is not None:
            row["flagged"] += 1
            row[trial.severity] += 1
    per_agent = pd.DataFrame.from_dict(counts, orient="index")
    per_agent.index.name = AGENT
    flagged = pd.DataFrame(
        [
            {
                "trial": t.trial,
                AGENT: t.agent,
                TASK: t.task,
                "severity": t.severity,
                "rules": ", ".join(f.rule for f in t.flags),
                "validates": t.validations,
                "exit": t.exit_reason,
                "evidence": f"step {t.flags[0].step}: {t.flags[0].evidence}"
                if t.flags[0].step is not None
                else t.flags[0].evidence,
            }
            for t in audit.flagged
        ],
        columns=["trial", AGENT, TASK, "severity", "rules", "validates", "exit", "evidence"],
    )
    return per_agent, flagged


def images(audit: RunIntegrity) -> pd.DataFrame:
    """Which image ran as which digest, over the run's trials (a cluster run's images.json).

    Returns:
        One row per image as named and digest it ran as (``not pulled`` when a container
        never started): the trials and containers that ran it, whether the pod named it
        by digest, and whether that image ran as several digests in the run (a moved tag).
    """
    trials: dict[tuple[str, str], set[str]] = {}
    containers: dict[tuple[str, str], set[str]] = {}
    for trial in audit.trials:
        for record in trial.images:
            key = (str(record.get("image")), str(record.get("digest") or "not pulled"))
            trials.setdefault(key, set()).add(trial.trial)
            containers.setdefault(key, set()).add(f"{record.get('pod')}/{record.get('container')}")
    return pd.DataFrame(
        [
            {
                "image": image,
                "digest": digest,
                "trials": len(trials[image, digest]),
                "containers": ", ".join(sorted(containers[image, digest])),
                "pinned": "@sha256:" in image,
                "moved": image in audit.moved_images,
            }
            for image, digest in sorted(trials)
        ],
        columns=["image", "digest", "trials", "containers", "pinned", "moved"],
    )


def network(audit: RunIntegrity) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the run's sandboxes could reach, from each trial's results (``egress``).

    Returns:
        ``(per_agent, hosts)``: per agent the trials by network (``none``, ``allowlist``,
        ``open``, ``unknown``) and the egress proxy's requests let through and refused;
        and per host every agent's requests, refused ones first. Both empty when no trial
        had a network.
    """
    kinds = ["none", "allowlist", "open", "unknown"]
    counts: dict[str, dict[str, int]] = {}
    hosts: dict[tuple[str, str], dict[str, int]] = {}
    for trial in audit.trials:
        row = counts.setdefault(trial.agent, dict.fromkeys([*kinds, "allowed", "refused"], 0))
        row[trial.network if trial.network in kinds else "unknown"] += 1
        for host in trial.egress_hosts:
            row["allowed"] += host["allowed"]
            row["refused"] += host["refused"]
            seen = hosts.setdefault(
                (host["host"], trial.agent), {"trials": 0, "allowed": 0, "refused": 0}
            )
            seen["trials"] += 1
            seen["allowed"] += host["allowed"]
            seen["refused"] += host["refused"]
    if all(trial.network == "none" for trial in audit.trials):
        return pd.DataFrame(), pd.DataFrame()
    per_agent = pd.DataFrame.from_dict(counts, orient="index")
    per_agent.index.name = AGENT
    table = pd.DataFrame(
        [{"host": h, AGENT: a, **n} for (h, a), n in hosts.items()],
        columns=["host", AGENT, "trials", "allowed", "refused"],
    )
    table = table.sort_values(["refused", "host", AGENT], ascending=[False, True, True])
    return per_agent, table.reset_index(drop=True)
