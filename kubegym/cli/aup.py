"""`kubegym aup SCORES.csv`: MLGym's performance profiles and AUP from per-task scores.

Registered lazily by `kubegym.cli`; reads the CSV (and, with ``--compare``, the
other leaderboard: the only I/O besides the optional plot), hands DataFrames to
`kubegym.scoring` and prints a table or JSON, with the scope the AUPs were
computed over (`kubegym.scoring.scope`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kubegym.cli import common
from kubegym.errors import ConfigError
from kubegym.scoring import loader, profiles, submissions, tidy
from kubegym.scoring import scope as scopes
from kubegym.scoring.columns import BASELINE, BEST_ATTEMPT, BEST_SUBMISSION


@click.command("aup", context_settings=common.CONTEXT)
@click.argument(
    "scores",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also draw both profiles into this image (PNG, PDF, SVG…).",
)
@click.option(
    "--baseline",
    default=BASELINE,
    show_default=True,
    help="The method whose score decides feasibility on each task.",
)
@click.option(
    "--best-submission",
    "best_submission",
    type=click.Choice(submissions.RULES),
    help="The rule the best_submission column was chosen by, recorded in the scope "
    "(a CSV cannot say: unstated when absent).",
)
@click.option(
    "--profile",
    "profile",
    metavar="NAME",
    help="The suite profile the scores were run under (a run's spec.profile, such as "
    "mlgym-bench), recorded in the scope; none (kubegym's setting) when absent.",
)
@click.option(
    "--compare",
    "other",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="Say whether these AUPs can be compared with another leaderboard's: a run's "
    "leaderboard.json, `kubegym aup --json` output or report.json.",
)
def aup(
    scores: Path,
    as_json: bool,
    plot_path: Path | None,
    baseline: str,
    best_submission: str | None,
    profile: str | None,
    other: Path | None,
) -> None:
    """Compute performance profiles and AUP (area under the profile) from SCORES.

    \b
    SCORES is a CSV with the columns
      task,direction,method,best_attempt,best_submission
    direction is max or min; an empty score cell means no valid run. There is
    one row per task and method; several rows for the same task and method are
    taken as seeds, and the best of each column (in the task's direction) counts.
    The baseline is scored like every method and listed with them.

    AUP follows MLGym (arXiv 2502.14499): a score is feasible when present,
    >= 0 and no worse than the baseline; ratios to the best feasible score;
    infeasible scores get 1.05 × the task's worst feasible ratio; rho(tau) is the
    share of tasks with log10 ratio <= tau on 500 points in [0, tau_max]; AUP is
    its left Riemann sum, rounded to 3 decimals.

    An AUP is relative to the methods scored with it: the output states its
    scope (methods, tasks, baseline, best-submission rule, suite profile,
    tau_max), and --compare lists why another leaderboard's AUPs cannot be
    compared with these (different methods, tasks, baseline, rule, profile or
    tau_max), or says they can.
    """
    table = tidy.best_over_seeds(loader.read_scores_csv(scores), baseline=baseline)
    result = profiles.compute_aup(table, baseline=baseline)
    scope = scopes.scope_of(
        table,
        reference=baseline,
        best_submission=best_submission,
        tau_max=result.tau_max,
        profile=profile,
    )
    reasons = None if other is None else _reasons_against(scope, scores, other)

    if plot_path is not None:
        # matplotlib is heavy and optional (the report extra): imported only to draw.
        from kubegym.scoring.plot import draw_profiles

        figure = draw_profiles(result, title=f"Performance profiles: {scores.name}")
        try:
            figure.savefig(plot_path, dpi=150)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot write the plot {plot_path}: {exc}", field="--plot") from exc

    methods = {
        str(method): {
            BEST_ATTEMPT: float(row[BEST_ATTEMPT]),
            BEST_SUBMISSION: float(row[BEST_SUBMISSION]),
        }
        for method, row in result.aup.iterrows()
    }
    if as_json:
        document: dict[str, Any] = {
            "tau_max": float(result.tau_max),
            "methods": methods,
            scopes.SCOPE: scope.to_json(),
        }
        if other is not None and reasons is not None:  # both or neither
            document["comparison"] = {
                "with": str(other),
                "comparable": not reasons,
                "reasons": reasons,
            }
        click.echo(json.dumps(document, indent=2))
        return

    order = sorted(methods, key=lambda m: (-methods[m][BEST_ATTEMPT], m))
    width = max(len("method"), *(len(m) for m in order))
    click.echo(f"{'method':<{width}}  {'AUP best attempt':>16}  {'AUP best submission':>19}")
    for method in order:
        marks = " (baseline)" if method == baseline else ""
        click.echo(
            f"{method:<{width}}  {methods[method][BEST_ATTEMPT]:>16.3f}  "
            f"{methods[method][BEST_SUBMISSION]:>19.3f}{marks}"
        )
    click.echo(f"\ntau_max = {result.tau_max:g}  ({len(result.ratios[BEST_ATTEMPT].ratios)} tasks)")
    click.echo(f"scope: {scope.describe()}")
    if other is not None and reasons is not None:  # both or neither
        if reasons:
            click.echo(f"not comparable with {other}:")
            for reason in reasons:
                click.echo(f"  - {reason}")
        else:
            click.echo(f"comparable with {other}: the same scope")
    if plot_path is not None:
        click.echo(f"profiles drawn to {plot_path}")


def _reasons_against(scope: scopes.Scope, scores: Path, other: Path) -> list[str]:
    """Why these AUPs cannot be compared with the leaderboard in file ``other``.

    Raises:
        ConfigError: ``other`` is not JSON, not an object, or records no scope.
    """
    try:
        document = json.loads(other.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"cannot read {other} as JSON: {exc}", field="--compare") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{other} is not a JSON object", field="--compare")
    theirs = scopes.read_scope(document, name=str(other))
    return scopes.comparable(scope, theirs, names=(scores.name, other.name))


__all__ = ["aup"]
