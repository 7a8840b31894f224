"""`kubegym view SOURCE`: the web viewer for runs, trials and steps, served on this machine.

Registered lazily by `kubegym.cli`; opens SOURCE as a `kubegym.viewer` catalog
and serves `kubegym.viewer.create_app` with uvicorn (the ``view`` extra),
opening a browser tab unless ``--no-open``. Binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

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
    help="Results index (sqlite:///PATH or postgresql://USER@HOST/DB) to ingest SOURCE into and page trials from [default: none: pages come from the run folder].",
)
@click.option("--no-open", is_flag=True, help="Do not open a browser tab.")
def view(source: str, host: str, port: int, index_url: str | None, no_open: bool) -> None:
    """Browse the runs at SOURCE in a web page: leaderboards, trials, every step.

    \b
    SOURCE is a run folder (`kubegym run --out`) or a folder of run folders.
    The page shows each run's leaderboard with CIs, its performance profiles,
    raw scores, cost and tokens, failures and validate counts; its trials,
    filtered and paged on the server; each trial step by step (thought,
    action, observation, edits as diffs, scores, tokens and cost); two trials
    side by side. A running run's page refreshes as trials finish.

    \b
    Examples:
      kubegym view kubegym-out/quickstart              # http://127.0.0.1:8765
      kubegym view kubegym-out --port 0 --no-open      # every run under kubegym-out
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigError(
            f"kubegym view needs the view extra ({exc})",
            hint="pip install 'kubegym[view]'",
        ) from exc
    from kubegym import viewer

    catalog = viewer.open_catalog(source, index_url)
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
