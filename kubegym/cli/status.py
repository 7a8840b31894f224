"""`kubegym status RUN`: a cluster BenchmarkRun shown as `kubegym run` shows a local one.

Reads the run and its Trials (label ``kubegym.io/run=RUN``) from the API server,
builds `kubegym.local.live.RunState` from their statuses and draws it with
`kubegym.local.display`. Needs only get and list on benchmarkruns and trials.
The kubernetes client is imported when the command runs, never by `kubegym --help`.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from kubegym import kubeclient
from kubegym.api import common as api_common
from kubegym.cli import common
from kubegym.errors import ConfigError

if TYPE_CHECKING:
    from kubegym.local import live

#: Seconds between two reads of the run with --watch.
WATCH_EVERY = 2.0


@click.command(context_settings=common.CONTEXT)
@click.argument("run_name", metavar="RUN")
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="The run's namespace. Default: the kubeconfig context's, else `default`.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="KUBECONFIG",
    help="The kubeconfig to use (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).",
)
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="Keep the display up, read again every 2 s, until the run ends (or Ctrl-C).",
)
def status(run_name: str, namespace: str | None, kubeconfig: str | None, watch: bool) -> None:
    """Show a cluster BenchmarkRun: trials done, running, failed and queued, each agent's
    AUP, the spend against the budget, the time left and recent failures.

    Without --watch it prints once and exits.

    \b
    Examples:
      kubegym status my-run -n benchmarks
      kubegym status my-run --watch
    """
    from rich.console import Console
    from rich.live import Live

    from kubegym.local import display

    api, default_namespace = kubeclient.custom_objects(
        kubeconfig, hint="set KUBECONFIG or pass --kubeconfig"
    )
    namespace = namespace or default_namespace
    if not watch:
        state = _read(api, namespace, run_name)
        console = Console(highlight=False, markup=False, emoji=False)
        console.print(display.render(state, time.monotonic(), title="kubegym status"))
        return
    console = Console(file=sys.stdout, highlight=False, markup=False, emoji=False)
    state = _read(api, namespace, run_name)
    with Live(console=console, auto_refresh=False) as shown:
        try:
            while True:
                shown.update(
                    display.render(state, time.monotonic(), title="kubegym status"), refresh=True
                )
                if state.ended_at is not None:
                    break
                time.sleep(WATCH_EVERY)
                state = _read(api, namespace, run_name)
        except KeyboardInterrupt:
            pass  # the last frame stays; Live gives the cursor back


def _read(api: Any, namespace: str, name: str) -> live.RunState:
    """The run's display state, read now from the API server."""
    from pydantic import ValidationError

    from kubegym.api import runs, trials
    from kubegym.local import live

    group, version = api_common.GROUP, api_common.VERSION
    needs = "kubegym status needs get and list on benchmarkruns and trials (kubegym.io)"
    with kubeclient.reading(f"BenchmarkRun {name!r}", namespace, needs=needs):
        run_body = api.get_namespaced_custom_object(
            group, version, namespace, "benchmarkruns", name
        )
    with kubeclient.reading(f"the Trials of BenchmarkRun {name!r}", namespace, needs=needs):
        trial_bodies = api.list_namespaced_custom_object(
            group, version, namespace, "trials", label_selector=f"kubegym.io/run={name}"
        )["items"]
    try:
        run = runs.BenchmarkRun.model_validate(run_body)
        objects = [trials.Trial.model_validate(body) for body in trial_bodies]
    except ValidationError as exc:
        raise ConfigError(
            f"BenchmarkRun {name!r} or one of its Trials does not read as this kubegym's "
            f"models (another version's operator?): {exc.errors()[0]['msg']}"
        ) from exc
    return live.RunState.from_cluster(
        run, objects, now=time.monotonic(), wall_now=dt.datetime.now(dt.UTC).timestamp()
    )
