"""`kubegym tasks`: list the known tasks, prepare their data, run their baselines."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kubegym.cli import common
from kubegym.errors import ConfigError
from kubegym.tasks import catalog


def _known() -> dict[str, catalog.TaskBundle]:
    broken: list[ConfigError] = []
    found = catalog.discover(catalog.search_path(Path.cwd()), broken)
    for exc in broken:
        click.echo(f"warning: skipped a task file: {exc}", err=True)
    return found


def _bundle(name: str) -> catalog.TaskBundle:
    known = _known()
    if name not in known:
        raise ConfigError(
            f"unknown task {name!r}",
            hint=f"known tasks: {', '.join(sorted(known)) or 'none'} (see `kubegym tasks list`)",
        )
    return known[name]


@click.group(context_settings=common.CONTEXT)
def tasks() -> None:
    """List the known tasks, prepare their data, run their baselines.

    Tasks are found in ./tasks/, the folders on $KUBEGYM_TASK_PATH and, in a
    source checkout, task_images/.
    """


@tasks.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_tasks(as_json: bool) -> None:
    """The known tasks with their primary metric, its direction and the baseline score.

    \b
    Examples:
      kubegym tasks list
      kubegym tasks list --json
    """
    from kubegym.tasks import preparation

    rows = []
    for name, bundle in sorted(_known().items()):
        spec = bundle.task.spec
        metric = spec.evaluation.metric()
        rows.append(
            {
                "task": name,
                "metric": metric.name,
                "direction": metric.direction,
                "baseline": spec.baseline_score(),
                "gpus": spec.resources.gpu.count,
                "prepared": preparation.is_prepared(bundle),
                "suite": (bundle.task.metadata.labels or {}).get("suite"),
                # The task's own folder, not the copy assembled with its families.
                "folder": str(bundle.layers[-1] if bundle.layers else bundle.root),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'task':28} {'metric':18} {'dir':4} {'baseline':>12} {'gpus':>4}  prepared")
    for row in rows:
        baseline = "—" if row["baseline"] is None else f"{row['baseline']:.4g}"
        click.echo(
            f"{row['task']:28} {row['metric']:18} {row['direction']:4} {baseline:>12} "
            f"{row['gpus']:>4}  {'yes' if row['prepared'] else 'no'}"
        )


@tasks.command("prepare")
@click.argument("names", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Prepare again even when the data is there.")
def prepare(names: tuple[str, ...], force: bool) -> None:
    """Fetch each task's sources and prepare its data (checked against its sha256).

    \b
    Examples:
      kubegym tasks prepare house-price
    """
    from kubegym.tasks import datasets, preparation

    for name in names:
        bundle = _bundle(name)
        root = preparation.prepare(bundle, force=force)
        spec = bundle.task.spec
        for dataset in [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data]:
            datasets.materialize(bundle, dataset)
        click.echo(f"{name}: ready in {root}")


@tasks.command("baseline")
@click.argument("name")
@click.option(
    "--budget",
    type=float,
    default=1.0,
    show_default=True,
    help="Scale the baseline's training (steps, epochs, episodes); 1.0 as designed.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--sandbox", type=click.Choice(["bwrap", "process"]), default="bwrap", show_default=True
)
def baseline(name: str, budget: float, as_json: bool, sandbox: str) -> None:
    """Run the task's baseline solution through the real sandbox and evaluator.

    \b
    Examples:
      kubegym tasks baseline house-price
      kubegym tasks baseline breakout-minatar --budget 0.05 --json
    """
    from kubegym.local.baselines import run_baseline

    if budget <= 0:
        raise ConfigError("--budget must be positive", field="--budget")
    bundle = _bundle(name)
    results = run_baseline(
        bundle, budget=budget, sandbox="process" if sandbox == "process" else "bwrap"
    )
    report = {
        "task": name,
        "budget": budget,
        "exit_reason": results.exit_reason,
        "metrics": results.final,
        "score": results.score,
        "primary_metric": results.primary_metric,
        "baseline_declared": bundle.task.spec.baseline_score(),
        "seconds": round(results.seconds or 0.0, 2),
        "message": results.message or None,
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        metrics = ", ".join(f"{k} {v:.6g}" for k, v in (results.final or {}).items()) or "no score"
        click.echo(f"{name} baseline (budget {budget:g}): {metrics} in {report['seconds']} s")
        if results.message:
            click.echo(results.message)
    if results.final is None:
        raise SystemExit(1)
