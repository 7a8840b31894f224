"""The `kubegym` command line: one module per subcommand, registered here.

Subcommands are loaded lazily, so `kubegym --help` and light commands never
import the heavy parts (pandas for scoring, litellm for agents, kopf for the
operator). Every `KubegymError` becomes one line on stderr and exit status 1;
tracebacks only with ``--debug``.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from kubegym import errors, log
from kubegym.cli import common

# name → "module:attribute"; the module is imported only when the command runs
# or its help is shown.
_COMMANDS: dict[str, tuple[str, str]] = {
    "audit": (
        "kubegym.cli.audit:audit",
        "Flag the trials of a run that did what no honest agent needs (integrity report).",
    ),
    "aup": ("kubegym.cli.aup:aup", "Compute performance profiles and AUP from per-task scores."),
    "crds": (
        "kubegym.cli.crds:crds",
        "Write the CustomResourceDefinitions generated from the models.",
    ),
    "dev-cluster": (
        "kubegym.cli.dev_cluster:dev_cluster",
        "Start, stop and inspect the development Kubernetes cluster (KWOK fake nodes).",
    ),
    "index": (
        "kubegym.cli.index:index",
        "Index runs into a database and ask it across runs (runs, a task's history).",
    ),
    "report": (
        "kubegym.cli.report:report",
        "Report on a finished run: leaderboard, scores, costs, failures, tools, plots.",
    ),
    "operator": (
        "kubegym.cli.operator:operator",
        "Run the Kubernetes operator (BenchmarkRun → Trials → pods).",
    ),
    "run": (
        "kubegym.cli.run:run",
        "Run a BenchmarkRun on this machine (resumable), ending with the leaderboard.",
    ),
    "status": (
        "kubegym.cli.status:status",
        "Show a cluster BenchmarkRun as `kubegym run` shows a local one (--watch to follow it).",
    ),
    "tasks": (
        "kubegym.cli.tasks:tasks",
        "List the known tasks, prepare their data, run their baselines.",
    ),
    "validate": (
        "kubegym.cli.validate:validate",
        "Check run files (Tasks, BenchmarkRuns) locally.",
    ),
    "view": ("kubegym.cli.view:view", "Browse runs, trials and steps in a local web page."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        target, _ = _COMMANDS[cmd_name]
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table above, so `kubegym --help` imports nothing heavy.
        rows = [(name, short) for name, (_, short) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.KubegymError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_LazyGroup, context_settings=common.CONTEXT)
@click.version_option(package_name="kubegym")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option(
    "--log-format",
    type=click.Choice(["auto", "console", "json"]),
    default="auto",
    show_default=True,
    help="Log rendering: console on a terminal, JSON in pods and CI.",
)
@click.pass_context
def main(ctx: click.Context, debug: bool, log_format: str) -> None:
    """kubegym runs AI-research-agent benchmarks on Kubernetes or on one machine.

    \b
    Examples:
      kubegym run examples/quickstart.yaml      # a whole benchmark on this machine
      kubegym validate run.yaml                 # check a run file before you start
      kubegym tasks list                        # the task suite
      kubegym crds | kubectl apply -f -         # install the CRDs in a cluster
      kubegym aup scores.csv --json             # AUP from per-task scores
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    log.configure("debug" if debug else "info", log_format)  # type: ignore[arg-type]
