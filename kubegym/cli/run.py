"""`kubegym run RUN.yaml`: a whole BenchmarkRun on this machine."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from kubegym import log
from kubegym.cli import common
from kubegym.errors import ConfigError
from kubegym.sandbox import backends as sandbox_backends

if TYPE_CHECKING:
    from kubegym.local import live, progress, runner
    from kubegym.metrics import Exporter

#: The run's log file, in its output folder, while the live display holds the terminal.
LOG_FILE = "kubegym.log"

#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130


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
    type=click.Choice(sandbox_backends.BACKENDS.names()),
    default=sandbox_backends.DEFAULT,
    show_default=True,
    help="bwrap isolates every trial; process runs commands WITHOUT isolation (unsafe, explicit opt-in).",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics while the run goes (0: any free port).",
)
@click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="The address --metrics-port binds; 0.0.0.0 lets another machine scrape.",
)
@click.option(
    "--metrics-linger",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Seconds to keep serving /metrics after the run, so a scraper sees its final values.",
)
@click.option(
    "--no-live",
    is_flag=True,
    help="No live display on a terminal: a log line per event instead (also with TERM=dumb; "
    "`kubegym --log-format json run` keeps JSON lines).",
)
def run(
    run_file: Path,
    out: Path | None,
    as_json: bool,
    sandbox: str,
    metrics_port: int | None,
    metrics_host: str,
    metrics_linger: float,
    no_live: bool,
) -> None:
    """Run the grid tasks × agents × seeds of RUN_FILE here, with its parallelism.

    Running the same command again resumes: finished trials are kept, the
    others run (again). Every trial leaves OUT/trials/<id>/ with its
    trajectory.jsonl, results.json and workspace.tar.gz; the run leaves
    results.csv, leaderboard.json (AUP per agent, both profiles, with CIs)
    and profiles.png.

    On a terminal a live display shows the trials done, running, failed and
    queued, each agent's best score per task, the spend against the budget,
    the time left and recent failures; the logs go to OUT/kubegym.log
    meanwhile. Off a terminal, with --no-live, TERM=dumb or
    `kubegym --log-format json run`, every event is a log line on stderr.
    Ctrl-C stops the run and prints where it got to; the same command resumes.

    Exit status: 0 when every trial that ran has a result, failures of the
    agent or the infrastructure included; 3 when kubegym itself failed some
    trial (internal_error: recorded, never retried; listed on stderr); 1 on a
    bad run file or setup.

    \b
    Examples:
      kubegym run examples/quickstart.yaml
      kubegym run run.yaml --out results/ --json
      kubegym run run.yaml --metrics-port 9464
    """
    from kubegym.local import runner

    parsed, run_dir = runner.load(run_file)
    if out is None:
        # With an S3 store the local folder is the working copy; the bucket gets every file.
        store = parsed.run.spec.store
        if store is not None and store.local is not None:
            out = Path(store.local.path)
            out = out if out.is_absolute() else run_dir / out
        else:
            out = Path("kubegym-out") / parsed.run.name
    local_run = runner.LocalRun(parsed, run_dir, out, sandbox=sandbox)
    log_file = local_run.out / LOG_FILE if _live_wanted(no_live) else None
    if metrics_port is None:
        summary = _execute(local_run, _plain_progress, log_file)
    else:
        summary = _execute_with_metrics(
            local_run, metrics_port, metrics_host, metrics_linger, log_file
        )
    if log_file is not None:
        click.echo(f"logs in {log_file}", err=True)
    if as_json:
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_summary(summary)
    for failed in summary.internal_errors:
        click.echo(f"internal error in trial {failed.trial}: {failed.message}", err=True)
    if summary.exit_code:
        sys.exit(summary.exit_code)


def _print_summary(summary: runner.RunSummary) -> None:
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


def _live_wanted(no_live: bool) -> bool:
    """The live display goes up only for a person at a terminal who asked for nothing else."""
    if no_live or log.dumb_terminal() or log.current_format() == "json":
        return False
    return sys.stdout.isatty() and sys.stderr.isatty()


def _plain_progress(local_run: runner.LocalRun) -> progress.Progress:
    from kubegym.local import progress

    return progress.Progress(len(local_run.plan()))


def _execute(
    local_run: runner.LocalRun,
    make_progress: Callable[[runner.LocalRun], progress.Progress],
    log_file: Path | None,
) -> runner.RunSummary:
    """Run with the live display up when ``log_file`` is given (the logs go there).

    Ctrl-C leaves the display's last frame, the cursor back, a line on where the
    run got to, and exit status 130; finished trials are on disk, so running the
    same command again resumes.
    """
    made = make_progress(local_run)
    log_stream: TextIO | None = None
    level, fmt = log.current_level(), log.current_format()
    if log_file is not None:
        log_stream = log.to_file(log_file, level)
        made.show_live(_run_state(local_run), str(log_file))
    try:
        return asyncio.run(local_run.execute(progress=made))
    except KeyboardInterrupt:
        made.close(interrupted=True)
        state = made.state
        click.echo(
            f"\ninterrupted: {state.finished} of {state.total} trials finished "
            f"({state.failed} failed); run the same command again to resume",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    finally:
        made.close()
        if log_stream is not None:
            log.configure(level, fmt)  # type: ignore[arg-type]
            log_stream.close()


def _run_state(local_run: runner.LocalRun) -> live.RunState:
    """The display's state of ``local_run`` before its first trial: its grid, budget, tasks' directions."""
    from kubegym.local import live

    plans = local_run.plan()
    return live.RunState(
        run=local_run.run.name,
        trials={p.id: (p.bundle.name, p.agent.name) for p in plans},
        parallelism=local_run.run.spec.parallelism,
        budget_usd=local_run.run.spec.budget_usd,
        started_at=time.monotonic(),
        directions={p.bundle.name: p.bundle.task.spec.evaluation.metric().direction for p in plans},
    )


def _execute_with_metrics(
    local_run: runner.LocalRun, port: int, host: str, linger: float, log_file: Path | None
) -> runner.RunSummary:
    """Run with a /metrics exporter up from before the first trial until the run ends (+ linger)."""
    from kubegym import metrics, rollups
    from kubegym.local import metrics as metrics_local

    # The port first: a taken port is a one-line error before anything is recorded.
    exporter = _serve_metrics(port, host)
    made: list[metrics_local.MetricsProgress] = []

    def make_progress(local_run: runner.LocalRun) -> progress.Progress:
        plans = local_run.plan()
        made.append(
            metrics_local.MetricsProgress(
                len(plans),
                metrics=metrics.METRICS,
                run=metrics.RunRef(
                    local_run.run.metadata.namespace or metrics_local.LOCAL_NAMESPACE,
                    local_run.run.name,
                ),
                trials={p.id: (p.bundle.name, p.agent.name) for p in plans},
                budget_usd=local_run.run.spec.budget_usd,
            )
        )
        return made[0]

    try:
        summary = _execute(local_run, make_progress, log_file)
        made[0].publish_leaderboard(summary.leaderboard, exclude=[rollups.REFERENCE])
        if linger:
            time.sleep(linger)
    finally:
        exporter.stop()
    return summary


def _serve_metrics(port: int, host: str) -> Exporter:
    from kubegym import metrics

    try:
        exporter = metrics.serve(port, host)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
            field="--metrics-port",
            hint="pick a free port, or 0 for any",
        ) from exc
    # On stderr, so --json output stays one JSON document.
    click.echo(f"metrics at http://{host}:{exporter.port}/metrics", err=True)
    return exporter


def _aup(entry: dict[str, object], profile: str) -> str:
    value = entry.get(profile)
    ci = entry.get(f"{profile}_ci")
    text = "—" if value is None else f"{value:.3f}"
    if isinstance(ci, list) and ci[0] != ci[1]:
        text += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
    return text
