"""`kubegym status RUN`: a cluster BenchmarkRun shown as `kubegym run` shows a local one.

Reads the run and its Trials (label ``kubegym.io/run=RUN``) from the API server,
builds `kubegym.local.live.RunState` from their statuses and draws it with
`kubegym.local.display`. Needs only get and list on benchmarkruns and trials.
The kubernetes client is imported when the command runs, never by `kubegym --help`.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

import click

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

    api, default_namespace = _connect(kubeconfig)
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


def _connect(kubeconfig: str | None) -> tuple[Any, str]:
    """An API client and the namespace the kubeconfig's context names."""
    from kubernetes import client
    from kubernetes import config as loader_module

    loader: Any = loader_module  # untyped
    configuration = client.Configuration()
    namespace = "default"
    try:
        loader.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        _, active = loader.list_kube_config_contexts(config_file=kubeconfig)
        namespace = (active or {}).get("context", {}).get("namespace") or namespace
    except (loader.ConfigException, FileNotFoundError, OSError) as exc:
        try:
            loader.load_incluster_config(client_configuration=configuration)
        except loader.ConfigException:
            raise ConfigError(
                f"no kubeconfig to reach a cluster: {exc}",
                field="--kubeconfig",
                hint="set KUBECONFIG or pass --kubeconfig",
            ) from exc
    # One try per read: a person waits for the answer (--watch reads again anyway), and
    # urllib3's retry warnings would stand between them and the one-line error.
    configuration.retries = 0
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    return client.CustomObjectsApi(client.ApiClient(configuration)), namespace


def _read(api: Any, namespace: str, name: str) -> live.RunState:
    """The run's display state, read now from the API server."""
    from kubernetes.client.exceptions import ApiException
    from pydantic import ValidationError
    from urllib3.exceptions import HTTPError

    from kubegym.api import runs, trials
    from kubegym.local import live

    group, version = api_common.GROUP, api_common.VERSION
    try:
        run_body = api.get_namespaced_custom_object(
            group, version, namespace, "benchmarkruns", name
        )
        trial_bodies = api.list_namespaced_custom_object(
            group, version, namespace, "trials", label_selector=f"kubegym.io/run={name}"
        )["items"]
    except ApiException as exc:
        if exc.status == 404:
            raise ConfigError(
                f"BenchmarkRun {name!r} not found in namespace {namespace!r}"
            ) from exc
        if exc.status in (401, 403):
            raise ConfigError(
                f"not allowed to read BenchmarkRun {name!r} or its Trials in namespace "
                f"{namespace!r} (HTTP {exc.status})",
                hint="kubegym status needs get and list on benchmarkruns and trials (kubegym.io)",
            ) from exc
        raise ConfigError(f"the API server refused: HTTP {exc.status} {exc.reason}") from exc
    except HTTPError as exc:
        raise ConfigError(f"cannot reach the API server: {exc}") from exc
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
