"""`kubegym tasks`: list the known tasks, prepare their data, run their baselines."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kubegym.api import baselines as baselines_api
from kubegym.api import documents, runs
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
@click.argument("names", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Every known task (GPU tasks only with a GPU).")
@click.option(
    "--suite", metavar="NAME", help="The tasks of this suite (task_images/suites/NAME.yaml)."
)
@click.option(
    "--budget",
    type=float,
    default=1.0,
    show_default=True,
    help="Scale the baseline's training (steps, epochs, episodes); 1.0 as designed.",
)
@click.option(
    "--sandbox",
    type=click.Choice(["bwrap", "process"]),
    default="bwrap",
    show_default=True,
    help="Where the baselines run: the bubblewrap jail, or plain processes (no isolation).",
)
@click.option(
    "--validation",
    type=click.Choice(["heldout", "test"]),
    default="heldout",
    show_default=True,
    help="What validate scores: held-out data, or MLGym's test set (the submission is always "
    "scored on the hidden test data).",
)
@click.option(
    "--include-gpu",
    is_flag=True,
    help="With --all or --suite, run GPU tasks on a machine without a GPU too (on the CPU).",
)
@click.option(
    "--skip",
    multiple=True,
    metavar="TASK[=REASON]",
    help="Leave this task out; its row says skipped, with REASON when given.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the table as JSON to FILE, after every task (Ctrl-C keeps finished rows).",
)
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Run nothing: print the table FILE holds (with --markdown, --json).",
)
@click.option(
    "--update-readmes",
    "summary",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --from: rewrite the generated block of this README (the Markdown table) and "
    "of each task's README.md (its row, next to MLGym's number).",
)
def baseline(
    names: tuple[str, ...],
    every: bool,
    suite: str | None,
    budget: float,
    sandbox: str,
    validation: str,
    include_gpu: bool,
    skip: tuple[str, ...],
    as_json: bool,
    markdown: bool,
    out: Path | None,
    source: Path | None,
    summary: Path | None,
) -> None:
    """Run tasks' baseline solutions through the real sandbox and evaluator, into one table.

    Each task's starter runs its baseline command and submits, as in a benchmark run;
    the table holds, per task, the evaluator's test metrics (never what the starter
    prints), the time, how the trial ended, whether the score is feasible against the
    task's baselineScores, and why a task was skipped or could not run. A task that
    fails is recorded and the next one runs. With --all or --suite, a task that needs
    a GPU runs only where `nvidia-smi -L` lists one (or with --include-gpu); tasks named
    on the command line always run. Progress goes to stderr. Exit status: 0 when every
    task that ran was scored, 1 when one was not, 130 when Ctrl-C stopped the run
    (with --from: 0 once the table is shown or the READMEs written).

    \b
    Examples:
      kubegym tasks baseline house-price
      kubegym tasks baseline breakout-minatar --budget 0.05 --json
      kubegym tasks baseline --all --json --out baselines.json
      kubegym tasks baseline --suite offline --include-gpu --skip metamaze="hours on a CPU"
      kubegym tasks baseline --from task_images/baselines.json --markdown
      kubegym tasks baseline --from task_images/baselines.json --update-readmes README.md
    """
    # Late for weight: the agent runner and the report's pandas stay out of `tasks list`.
    from kubegym.local import baselines
    from kubegym.report import baselines as baseline_report

    if as_json and markdown:
        raise ConfigError("choose one of --json and --markdown", field="--markdown")
    if summary is not None and source is None:
        raise ConfigError("--update-readmes renders a finished table: give --from FILE too")
    if source is not None:
        if names or every or suite or out:
            raise ConfigError("--from prints a table; it runs nothing", field="--from")
        try:
            table = baselines_api.read(source)
        except ValueError as exc:
            raise ConfigError(str(exc), field="--from") from exc
    else:
        if budget <= 0:
            raise ConfigError("--budget must be positive", field="--budget")
        if out is not None and not out.resolve().parent.is_dir():
            # Found before the first task runs, not after it.
            raise ConfigError(
                f"no folder {out.resolve().parent} to write the table in", field="--out"
            )
        skipped = {name: why for name, _, why in (entry.partition("=") for entry in skip)}
        chosen = _chosen(names, every, suite, set(skipped))
        sweep = baselines.Sweep(
            budget=budget,
            sandbox="process" if sandbox == "process" else "bwrap",
            validation="test" if validation == "test" else "heldout",
            gpus=baselines.find_gpus(),
            # Named tasks run as asked; only a sweep over a catalog or a suite holds back.
            include_gpu=include_gpu or bool(names),
            skip={name: reason.strip() for name, reason in skipped.items()},
        )
        table = baselines.measure(
            chosen,
            sweep,
            progress=_progress,
            saved=None if out is None else lambda t: t.write(out),
        )
    if summary is not None:
        _update_readmes(table, summary)
    elif as_json:
        click.echo(table.to_text(), nl=False)
    elif markdown:
        click.echo(baseline_report.markdown(table, baseline_report.load_quotes(_folders())))
    else:
        click.echo(baseline_report.text(table))
    if source is not None:
        return  # a table read back: its rows' outcomes were the measurement's exit status
    if table.interrupted:
        click.echo("interrupted: the table holds the tasks that finished", err=True)
        raise SystemExit(130)
    if any(row.status in ("invalid", "error") for row in table.rows):
        raise SystemExit(1)


def _update_readmes(table: baselines_api.BaselineTable, summary: Path) -> None:
    from kubegym.report import baselines as baseline_report  # late for weight, as above

    known = _known()
    # Each task's own folder (not the copy assembled with its families) holds its README.
    readmes = {
        name: (bundle.layers[-1] if bundle.layers else bundle.root) / "README.md"
        for name, bundle in known.items()
    }
    try:
        changed = baseline_report.update_readmes(
            table, baseline_report.load_quotes(_folders()), summary, readmes
        )
    except ValueError as exc:
        raise ConfigError(str(exc), field="--update-readmes") from exc
    for path in changed:
        click.echo(f"updated {path}", err=True)


def _folders() -> list[Path]:
    return catalog.search_path(Path.cwd())


def _chosen(
    names: tuple[str, ...], every: bool, suite: str | None, skip: set[str]
) -> list[catalog.TaskBundle]:
    if sum([bool(names), every, suite is not None]) != 1:
        raise ConfigError(
            "name the tasks, or give --all or --suite (one of the three)",
            field="NAMES",
            hint="kubegym tasks baseline house-price; kubegym tasks baseline --all",
        )
    if names:
        return [_bundle(name) for name in names]
    if suite is not None:
        try:
            selection = runs.TaskSelection(suite=suite)
            chosen = catalog.select(selection, documents.RunFile(), Path.cwd(), _folders())
        except (ConfigError, ValueError) as exc:
            raise ConfigError(str(exc), field="--suite") from exc
    else:
        chosen = [bundle for _, bundle in sorted(_known().items())]
    unknown = sorted(set(skip) - {bundle.name for bundle in chosen})
    if unknown:
        raise ConfigError(f"--skip names no chosen task: {', '.join(unknown)}", field="--skip")
    return chosen


def _progress(index: int, count: int, task: str, row: baselines_api.BaselineRow | None) -> None:
    from kubegym.report import baselines as baseline_report  # late for weight, as above

    if row is None:
        click.echo(f"[{index}/{count}] {task}: running", err=True)
    else:
        click.echo(f"[{index}/{count}] {baseline_report.outcome(row)}", err=True)
