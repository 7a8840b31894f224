"""`kubegym run RUN.yaml`: a whole BenchmarkRun on this machine."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from kubegym.cli import common
from kubegym.errors import ConfigError


@click.command(context_settings=common.CONTEXT)
@click.argument("run_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder. Default: the run's local store, else ./kubegym-out/<run>.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON summary of every trial and the leaderboard.",
)
@click.option(
    "--sandbox",
    type=click.Choice(["bwrap", "process"]),
    default="bwrap",
    show_default=True,
    help="bwrap isolates every trial; process runs commands WITHOUT isolation (unsafe, explicit opt-in).",
)
def run(run_file: Path, out: Path | None, as_json: bool, sandbox: str) -> None:
    """Run the grid tasks × agents × seeds of RUN_FILE here, with its parallelism.

    Running the same command again resumes: finished trials are kept, the
    others run (again). Every trial leaves OUT/trials/<id>/ with its
    trajectory.jsonl, results.json and workspace.tar.gz; the run leaves
    results.csv, leaderboard.json (AUP per agent, both profiles, with CIs)
    and profiles.png.

    \b
    Examples:
      kubegym run examples/quickstart.yaml
      kubegym run run.yaml --out results/ --json
    """
    from kubegym.local import runner

    parsed, run_dir = runner.load(run_file)
    if out is None:
        store = parsed.run.spec.store
        if store is not None and store.s3 is not None:
            raise ConfigError(
                "this run stores artifacts in S3, which kubegym run cannot write yet",
                field="spec.store.s3",
                hint="pass --out DIR to keep them in a local folder",
            )
        if store is not None and store.local is not None:
            out = Path(store.local.path)
            out = out if out.is_absolute() else run_dir / out
        else:
            out = Path("kubegym-out") / parsed.run.name
    local_run = runner.LocalRun(parsed, run_dir, out, sandbox=sandbox)  # type: ignore[arg-type]
    summary = asyncio.run(local_run.execute())
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
        return
    click.echo(
        f"\n{summary.run}: {summary.status.progress} trials finished, results in {summary.out.resolve()}"
    )
    agents = summary.leaderboard.get("agents", {})
    if agents:
        click.echo(f"\n{'agent':24} {'AUP best attempt':>18} {'AUP best submission':>20}")
        ranked = sorted(agents.items(), key=lambda kv: -(kv[1].get("best_attempt") or 0))
        for name, entry in ranked:
            click.echo(
                f"{name:24} {_aup(entry, 'best_attempt'):>18} {_aup(entry, 'best_submission'):>20}"
            )
        click.echo(f"\ntau_max = {summary.leaderboard.get('tau_max')}")


def _aup(entry: dict[str, object], profile: str) -> str:
    value = entry.get(profile)
    ci = entry.get(f"{profile}_ci")
    text = "—" if value is None else f"{value:.3f}"
    if isinstance(ci, list) and ci[0] != ci[1]:
        text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return text
