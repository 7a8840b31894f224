"""`kubegym view SOURCE`: the web viewer for runs, trials and steps, served on this machine.

Registered lazily by `kubegym.cli`; opens SOURCE as a `kubegym.viewer` catalog
and serves `kubegym.viewer.create_app` with uvicorn (the ``view`` extra),
opening a browser tab unless ``--no-open``. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import logging
import threading
import webbrowser

import click

from kubegym.cli import common
from kubegym.errors import ConfigError


@click.command("view", context_settings=common.CONTEXT)
@click.argument("source")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind (0.0.0.0: any machine may connect).",
)
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to serve on.",
)
@click.option(
    "--index",
    "index_url",
    default=None,
    help="Results index (sqlite:///PATH or postgresql://USER@HOST/DB) to ingest SOURCE into and page trials from [default: none for a folder: pages come from the run folder; for s3:// and run/NAME a SQLite file in a temporary folder, removed on exit].",
)
@click.option("--no-open", is_flag=True, help="Do not open a browser tab.")
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="The namespace of run/NAME. Default: the kubeconfig context's, else `default`.",
)
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="KUBECONFIG",
    help="The kubeconfig for run/NAME (default: $KUBECONFIG, else ~/.kube/config, else in-cluster).",
)
@click.option(
    "--cache-mb",
    default=128,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="MiB of trajectories fetched from a store kept on this machine (least recently used out).",
)
def view(
    source: str,
    host: str,
    port: int,
    index_url: str | None,
    no_open: bool,
    namespace: str | None,
    kubeconfig: str | None,
    cache_mb: int,
) -> None:
    """Browse the runs at SOURCE in a web page: leaderboards, trials, every step.

    \b
    SOURCE is a run folder (`kubegym run --out`), a folder of run folders, an
    s3://BUCKET/PREFIX holding runs (or one run's prefix), or run/NAME: a
    cluster BenchmarkRun, read from its spec.store or else the operator's
    default store (KUBEGYM_STORE_BUCKET, _ENDPOINT, _PREFIX set here as the
    operator has them). A store is read with this environment's credentials
    (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; endpoint AWS_ENDPOINT_URL_S3),
    through a results index kept in step with it every few seconds; each
    trajectory opened is fetched once into a bounded cache (--cache-mb).
    The page shows each run's leaderboard with CIs, its performance profiles,
    raw scores, cost and tokens, failures and validate counts; its trials,
    filtered and paged on the server; each trial step by step (thought,
    action, observation, edits as diffs, scores, tokens and cost); two trials
    side by side. A running run's page refreshes as trials finish.

    \b
    Examples:
      kubegym view kubegym-out/quickstart              # http://127.0.0.1:8765
      kubegym view kubegym-out --port 0 --no-open      # every run under kubegym-out
      kubegym view s3://bench-results/kubegym          # every run in the store
      kubegym view run/my-run -n benchmarks            # a cluster run, from its store
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigError(
            f"kubegym view needs the view extra ({exc})",
            hint="pip install 'kubegym[view]'",
        ) from exc
    from kubegym import viewer

    # boto3 says at info where it found credentials, once per client: noise above the
    # viewer's own line (a store's failures come back as kubegym's errors).
    for name in ("botocore", "boto3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    catalog = viewer.open_catalog(
        source,
        index_url,
        namespace=namespace,
        kubeconfig=kubeconfig,
        cache_bytes=cache_mb << 20,
    )
    app = viewer.create_app(catalog, host=host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)

    def announce() -> None:
        # uvicorn picks the port when given 0: say the address once it listens.
        while not server.started:
            if server.should_exit:
                return
            threading.Event().wait(0.05)
        bound = server.servers[0].sockets[0].getsockname()[1] if server.servers else port
        url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{bound}/"
        click.echo(f"kubegym view: serving {catalog.source} at {url} (Ctrl-C stops)", err=True)
        if not no_open:
            webbrowser.open(url)

    threading.Thread(target=announce, daemon=True).start()
    server.run()


__all__ = ["view"]
