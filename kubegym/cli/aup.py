"""`kubegym aup SCORES.csv`: MLGym's performance profiles and AUP from per-task scores.

Registered lazily by `kubegym.cli`; reads the CSV (the only I/O besides the
optional plot), hands DataFrames to `kubegym.scoring` and prints a table or JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from kubegym.cli import common
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
def aup(scores: Path, as_json: bool, plot_path: Path | None, baseline: str) -> None:
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
    """
    from kubegym.scoring.loader import read_scores_csv
    from kubegym.scoring.profiles import compute_aup
    from kubegym.scoring.tidy import best_over_seeds

    table = best_over_seeds(read_scores_csv(scores), baseline=baseline)
    result = compute_aup(table, baseline=baseline)

    if plot_path is not None:
        from kubegym.scoring.plot import draw_profiles

        figure = draw_profiles(result, title=f"Performance profiles: {scores.name}")
        try:
            figure.savefig(plot_path, dpi=150)
        except (OSError, ValueError) as exc:
            from kubegym.errors import ConfigError

            raise ConfigError(f"cannot write the plot {plot_path}: {exc}", field="--plot") from exc

    methods = {
        str(method): {
            BEST_ATTEMPT: float(row[BEST_ATTEMPT]),
            BEST_SUBMISSION: float(row[BEST_SUBMISSION]),
        }
        for method, row in result.aup.iterrows()
    }
    if as_json:
        click.echo(json.dumps({"tau_max": float(result.tau_max), "methods": methods}, indent=2))
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
    if plot_path is not None:
        click.echo(f"profiles drawn to {plot_path}")


__all__ = ["aup"]
