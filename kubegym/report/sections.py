"""A run's report as data: titled tables, figures and notes, ready for any renderer.

`build_report` is the one entry point (`kubegym report` calls it): it scores
the loaded run with the same `kubegym.scoring.leaderboard` computation the
runner used for leaderboard.json, under the best-submission rule the run
recorded there, states what the AUPs were computed over (their scope), builds
the tables (`tables`) and draws the figures (`plots`); `render` turns the
result into markdown, HTML or JSON.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from kubegym.report import loading, plots, tables
from kubegym.scoring import leaderboard as leaderboards
from kubegym.scoring import scope as scopes
from kubegym.scoring.columns import BEST_ATTEMPT, BEST_SUBMISSION, TASK

PROFILES_PNG = "profiles.png"
COST_PNG = "cost_vs_aup.png"

_PROFILE_WORDS = {BEST_ATTEMPT: "best attempt", BEST_SUBMISSION: "best submission"}
#: Headers and precision of the columns that several tables share (`display.show`).
_AUP_LABELS = {
    **{f"aup_{p}": f"AUP, {w}" for p, w in _PROFILE_WORDS.items()},
    **{f"aup_{p}_ci": f"AUP, {w}: 95% CI" for p, w in _PROFILE_WORDS.items()},
    **{f"mean_rank_{p}": f"mean rank, {w}" for p, w in _PROFILE_WORDS.items()},
    **{f"pareto_{p}": f"on the front, {w}" for p, w in _PROFILE_WORDS.items()},
    tables.COST_PER_TRIAL: "USD per trial",
}
_AUP_FORMATS = {
    **{f"aup_{p}": ".3f" for p in _PROFILE_WORDS},
    **{f"mean_rank_{p}": ".2f" for p in _PROFILE_WORDS},
    tables.COST_PER_TRIAL: ".4f",
}


@dataclass(frozen=True)
class Table:
    """One table of the report.

    Attributes:
        key: its name in report.json (snake_case).
        title: its heading.
        caption: one or two sentences on how to read it.
        frame: the numbers; a named index is shown as the first column.
    """

    key: str
    title: str
    caption: str
    frame: pd.DataFrame
    labels: Mapping[str, str] = field(default_factory=dict)
    """Column name → its header for people (`display.show`); others read as their names."""
    formats: Mapping[str, str] = field(default_factory=dict)
    """Column name (``*``: every column) → format spec of its numbers for people."""
    turn_as: str | None = None
    """Shown turned when wider than long, its columns as rows under this header."""


@dataclass(frozen=True)
class Figure:
    """One PNG of the report.

    Attributes:
        name: its file name (markdown).
        title: its heading.
        png: the image.
        caption: how to read it, shown under it.
        alt: what it shows, in words, for a reader who cannot see it.
    """

    name: str
    title: str
    png: bytes
    caption: str = ""
    alt: str = ""


@dataclass
class Report:
    """Everything `kubegym report` shows about a run.

    Attributes:
        run: the run's name.
        tables: in the order they are shown.
        figures: likewise.
        leaderboard: the recomputed leaderboard in leaderboard.json's shape.
        notes: what the reader should know (skipped files, a leaderboard that
            does not match the recorded one, a missing plot library).
        timings: seconds spent per part (loading, tables, plots), for the benchmark.
    """

    run: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    leaderboard: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def build_report(run: loading.RunData, *, with_plots: bool = True) -> Report:
    """Score a loaded run and lay out its tables and figures.

    Args:
        run: from `loading.load_run`.
        with_plots: draw the figures (needs matplotlib).

    Raises:
        ConfigError: plots were asked for and matplotlib is missing.
    """
    started = time.perf_counter()
    report = Report(run=run.run, notes=list(run.notes))
    rows = tables.tidy(run)
    board = leaderboards.compute_leaderboard(
        rows, best_submission=run.best_submission, profile=run.profile, designs=run.designs
    )
    report.leaderboard = board.to_json(run.run)
    report.notes += _compare(report.leaderboard, run.recorded)
    if board.scope is not None:
        report.notes.append(
            f"Scope: {board.scope.describe()}. An AUP is relative to the methods scored with "
            "it: compare it only with a leaderboard of the same scope (`kubegym aup --compare`)."
        )
    if run.unfinished:
        report.notes.append(
            f"{len(run.unfinished)} trial folder(s) have no results.json (unfinished or lost): "
            + ", ".join(run.unfinished[:10])
            + (" …" if len(run.unfinished) > 10 else "")
        )
    report.timings["scoring"] = time.perf_counter() - started

    started = time.perf_counter()
    ranked = tables.leaderboard(board)
    cost = tables.costs(run.trials)
    front = tables.pareto(cost, ranked)
    _score_tables(report, run, rows, board, ranked)
    _cost_tables(report, cost, front)
    _outcome_tables(report, run)
    _integrity_tables(report, run)
    report.timings["tables"] = time.perf_counter() - started
    if with_plots:
        started = time.perf_counter()
        _figures(report, run, board, front)
        report.timings["plots"] = time.perf_counter() - started
    return report


def _score_tables(
    report: Report,
    run: loading.RunData,
    rows: pd.DataFrame,
    board: leaderboards.Leaderboard,
    ranked: pd.DataFrame | None,
) -> None:
    """What the run holds, the leaderboard and the raw scores per task under both profiles."""
    add = report.tables.append
    add(Table("summary", "Run", "What the run holds.", tables.summary(run)))
    if ranked is not None:
        add(
            Table(
                "leaderboard",
                "Leaderboard",
                "AUP of the performance profiles (MLGym), best over seeds, with 95% bootstrap "
                f"CIs over seeds ({leaderboards.N_RESAMPLES} resamples); mean rank over tasks "
                f"(1 = best). `{leaderboards.REFERENCE}` is the tasks' own baseline scores.",
                ranked,
                labels=_AUP_LABELS,
                formats=_AUP_FORMATS,
            )
        )
    elif board.error:
        report.notes.append(f"no leaderboard: {board.error}")
    submission = f"best submission ({run.best_submission})"
    for profile, label in ((BEST_ATTEMPT, "best attempt"), (BEST_SUBMISSION, submission)):
        scores = tables.task_scores(rows, profile)
        if scores is not None:
            add(
                Table(
                    f"scores_{profile}",
                    f"Raw scores per task: {label}",
                    f"The {label} over seeds of each agent on each task, in the task's own "
                    f"metric (direction in brackets); the `{leaderboards.REFERENCE}` row is the "
                    "task's baseline.",
                    scores,
                    turn_as=TASK,
                )
            )


def _cost_tables(report: Report, cost: pd.DataFrame, front: pd.DataFrame | None) -> None:
    """Cost and tokens per agent, and the cost-versus-AUP Pareto front."""
    add = report.tables.append
    add(
        Table(
            "costs",
            "Cost and tokens",
            "Per agent over its finished trials: USD and tokens in total and per trial, "
            "mean steps and wall-clock seconds per trial.",
            cost,
            labels={
                "cost_usd": "USD",
                tables.COST_PER_TRIAL: "USD per trial",
                "prompt_tokens": "prompt tokens",
                "completion_tokens": "completion tokens",
                "tokens_per_trial": "tokens per trial",
                "mean_steps": "steps per trial",
                "mean_seconds": "seconds per trial",
            },
            formats={
                "cost_usd": ",.2f",
                tables.COST_PER_TRIAL: ".4f",
                "tokens_per_trial": ",.0f",
                "mean_steps": ".1f",
                "mean_seconds": ",.1f",
            },
        )
    )
    if front is not None:
        add(
            Table(
                "pareto",
                "Cost versus AUP: the Pareto front",
                "An agent is on the front when no other agent is at once as cheap per trial "
                "and as good (AUP), and strictly better at one of the two.",
                front,
                labels=_AUP_LABELS,
                formats=_AUP_FORMATS,
            )
        )


def _outcome_tables(report: Report, run: loading.RunData) -> None:
    """How trials ended (exit reasons, failures and their causes) and the actions they took."""
    add = report.tables.append
    counts, shares = tables.actions(run)
    add(
        Table(
            "failures",
            "How trials ended",
            "Exit reasons per agent; infrastructure failures (left out of the scores) and "
            "other failures; trials that needed retries and the extra attempts.",
            tables.failures(run.trials),
        )
    )
    messages = tables.failure_messages(run.trials)
    if not messages.empty:
        add(Table("failure_messages", "Failures", "Failed trials by cause.", messages))
    if not counts.empty:
        add(
            Table(
                "actions",
                "Actions: steps per tool",
                "The first word of each step's action in the trajectories, per agent.",
                counts,
                turn_as=loading.AGENT,
            )
        )
        add(
            Table(
                "action_shares",
                "Actions: share of steps",
                "The same, as shares of each agent's steps.",
                shares,
                formats={"*": ".1%"},
                turn_as=loading.AGENT,
            )
        )


def _integrity_tables(report: Report, run: loading.RunData) -> None:
    """The integrity audit per agent, its flagged trials, and the images the trials ran."""
    add = report.tables.append
    if run.integrity is not None and run.integrity.trials:
        per_agent, flagged = tables.integrity(run.integrity)
        add(
            Table(
                "integrity",
                "Integrity",
                "Per agent: trials whose trajectory did what no honest agent needs (reading "
                "/proc/*/environ, killing PID 1 or 2, a FIFO, hidden data, privilege tools…; "
                "`kubegym audit` lists the rules), by their most serious flag; validate calls "
                "and evaluator errors. Evidence for a reader: scores are unchanged.",
                per_agent,
            )
        )
        if not flagged.empty:
            add(
                Table(
                    "integrity_flagged",
                    "Integrity: flagged trials",
                    "Most serious first; the evidence is the first step a rule fired on.",
                    flagged,
                )
            )
    if run.integrity is not None:
        per_agent_network, hosts = tables.network(run.integrity)
        if not per_agent_network.empty:
            opened = sum(t.network != "none" for t in run.integrity.trials)
            report.notes.append(
                f"{opened} of {len(run.integrity.trials)} trials had network egress: their "
                "sandboxes could reach hosts (see Network), so their scores may rest on "
                "downloaded code, data or weights."
            )
            add(
                Table(
                    "network",
                    "Network",
                    "Per agent: trials by what their sandbox could reach (none; allowlist: "
                    "only the listed hosts, through kubegym's egress proxy, every request "
                    "logged; open: the host's network, unlogged), and the proxy's requests let "
                    "through and refused.",
                    per_agent_network,
                )
            )
            if not hosts.empty:
                add(
                    Table(
                        "network_hosts",
                        "Network: hosts asked for",
                        "Each host a sandbox asked the egress proxy for, per agent: trials, "
                        "requests let through and refused (refused first: an agent reaching "
                        "past its allowlist).",
                        hosts,
                    )
                )
    if run.integrity is not None and any(t.images for t in run.integrity.trials):
        add(
            Table(
                "images",
                "Images",
                "Each image as the pods named it and the digest the kubelet reported it ran as "
                "(the run's images.json), with the trials and containers that ran it. An image "
                "that ran as several digests (moved) makes its trials incomparable; one named "
                "by tag (not pinned) depended on the registry at pull time.",
                tables.images(run.integrity),
            )
        )


def _figures(
    report: Report,
    run: loading.RunData,
    board: leaderboards.Leaderboard,
    front: pd.DataFrame | None,
) -> None:
    """The performance profiles and the cost-versus-AUP scatter (matplotlib)."""
    if board.result is not None:
        aup = board.result.aup.sort_values(BEST_ATTEMPT, ascending=False, kind="stable")
        scores = "; ".join(
            f"{method} {row[BEST_ATTEMPT]:.3f} / {row[BEST_SUBMISSION]:.3f}"
            for method, row in aup.iterrows()
        )
        report.figures.append(
            Figure(
                PROFILES_PNG,
                "Performance profiles",
                plots.profiles_png(board.result, f"{run.run}: performance profiles"),
                caption="Left: best attempt; right: best submission. For each method, the "
                "share of tasks (ρ) on which its score is within a factor 10^τ of the best "
                "method's; higher and further left is better. The legend gives each "
                "method's AUP (area under its curve) under both profiles.",
                alt=f"Two step plots of the share of tasks against τ from 0 to "
                f"{board.result.tau_max:g}, one line per method. AUP (best attempt / best "
                f"submission): {scores}.",
            )
        )
    if front is not None and not front.empty:
        on_front = ", ".join(str(a) for a in front.index[front[f"pareto_{BEST_ATTEMPT}"]])
        report.figures.append(
            Figure(
                COST_PNG,
                "Cost versus AUP",
                plots.cost_scatter_png(front, f"{run.run}: cost per trial versus AUP"),
                caption="Each agent's mean cost per finished trial (USD) against its AUP, "
                "best attempt on the left and best submission on the right; the line joins "
                "the agents on the Pareto front (no other agent both cheaper and better).",
                alt=f"Two scatter plots of USD per trial against AUP, one point per agent "
                f"({len(front)} agents); on the best-attempt front: {on_front or 'none'}.",
            )
        )


def _compare(board: dict[str, Any], recorded: dict[str, Any] | None) -> list[str]:
    """A note on whether the recomputed leaderboard matches the run's leaderboard.json."""
    if recorded is None:
        return []
    if board == recorded:
        return ["The leaderboard reproduces the run's leaderboard.json exactly."]
    differing = sorted(
        name
        for name in set(board.get("agents", {})) | set(recorded.get("agents", {}))
        if board.get("agents", {}).get(name) != recorded.get("agents", {}).get(name)
    )
    parts = [f"agents: {', '.join(differing)}"] if differing else []
    if board.get(scopes.SCOPE) != recorded.get(scopes.SCOPE):
        parts.append(scopes.SCOPE)
    detail = f" ({'; '.join(parts)})" if parts else ""
    return [
        "The leaderboard recomputed from the trials differs from the run's leaderboard.json"
        f"{detail}: trials finished or changed after it was written?"
    ]


__all__ = ["COST_PNG", "PROFILES_PNG", "Figure", "Report", "Table", "build_report"]
