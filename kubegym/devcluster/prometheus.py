"""A real Prometheus for tests and the development cluster: started, queried, stopped.

Uses Debian's ``prometheus`` package (``make system-deps`` installs it): a
server on a loopback port with a generated config that scrapes the given
``host:port`` targets every second and loads kubegym's rules file
(`kubegym.metrics.rules.RULES_FILE`). The process is tracked like the
cluster's own (`kubegym.devcluster.processes`), so `stop` stops exactly it.
Called by tests/metrics and, later, by ``kubegym dev-cluster --with-prometheus``.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubegym import errors
from kubegym.devcluster import processes
from kubegym.metrics import rules

NAME = "prometheus"
CONFIG_FILE = "prometheus.yml"
DATA_DIR = "prometheus-data"

Sample = dict[str, Any]
"""One element of an instant query's result: ``{"metric": {labels}, "value": [time, "text"]}``."""


def binary(name: str = NAME) -> str | None:
    """The absolute path of ``prometheus`` (or ``promtool``) on PATH, or None when not installed."""
    return shutil.which(name)


@dataclass(frozen=True)
class Prometheus:
    """A running Prometheus: its base URL and the state folder that tracks it."""

    url: str
    state_dir: Path

    def query(self, expr: str) -> list[Sample]:
        """Evaluate PromQL ``expr`` now (``/api/v1/query``); see `query`."""
        return query(self.url, expr)

    def wait_for(
        self,
        expr: str,
        until: Callable[[list[Sample]], bool] = bool,
        timeout: float = 60.0,
    ) -> list[Sample]:
        """Query ``expr`` until ``until(result)`` holds; see `wait_for`."""
        return wait_for(self.url, expr, until, timeout)

    def stop(self) -> bool:
        """Stop the server; True when it was running."""
        return stop(self.state_dir)


def write_config(
    path: Path,
    targets: Sequence[str],
    *,
    job: str = "kubegym",
    scrape_interval: str = "1s",
    rule_files: Sequence[Path] = (rules.RULES_FILE,),
) -> Path:
    """Write a Prometheus config that scrapes ``targets`` and evaluates ``rule_files``.

    Args:
        path: where to write it.
        targets: ``host:port`` of each ``/metrics`` endpoint.
        job: the scrape job's name (its ``job`` label).
        scrape_interval: how often to scrape and to evaluate rules; short in
            tests, so a value set by the code shows up within seconds.
        rule_files: rules files to load.
    """
    config = {
        "global": {
            "scrape_interval": scrape_interval,
            # A timeout longer than the interval is refused; scrapes here are local.
            "scrape_timeout": scrape_interval,
            "evaluation_interval": scrape_interval,
        },
        "rule_files": [str(Path(f).resolve()) for f in rule_files],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def start(
    state_dir: Path,
    targets: Sequence[str],
    *,
    port: int | None = None,
    job: str = "kubegym",
    scrape_interval: str = "1s",
    rule_files: Sequence[Path] = (rules.RULES_FILE,),
    timeout: float = 60.0,
) -> Prometheus:
    """Start Prometheus on ``127.0.0.1:port`` and wait until it is ready.

    Args:
        state_dir: holds its config, its data, ``logs/prometheus.log`` and its pid file.
        targets: ``host:port`` endpoints to scrape.
        port: where it listens; a free port by default.
        job: the scrape job's name.
        scrape_interval: scrape and rule-evaluation interval.
        rule_files: rules files to load (kubegym's by default).
        timeout: seconds to wait for readiness.

    Returns:
        The running server.

    Raises:
        ConfigError: ``prometheus`` is not installed.
        InfraError: it exited or did not become ready in time (the log's tail says why).
    """
    executable = binary()
    if executable is None:
        raise errors.ConfigError(
            "prometheus is not installed", hint="apt-get install prometheus, or make system-deps"
        )
    state_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(
        state_dir / CONFIG_FILE,
        targets,
        job=job,
        scrape_interval=scrape_interval,
        rule_files=rule_files,
    )
    port = port or processes.free_port()
    args = [
        executable,
        f"--config.file={config}",
        f"--storage.tsdb.path={state_dir / DATA_DIR}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1d",
    ]
    processes.start(state_dir, NAME, args)
    server = Prometheus(f"http://127.0.0.1:{port}", state_dir)
    _wait_ready(server, timeout)
    return server


def stop(state_dir: Path) -> bool:
    """Stop the Prometheus started with this ``state_dir``; True when one was running."""
    return processes.stop(state_dir, NAME)


@contextmanager
def running(state_dir: Path, targets: Sequence[str], **options: Any) -> Iterator[Prometheus]:
    """`start` for a ``with`` block; stops the server when the block ends, however it ends."""
    server = start(state_dir, targets, **options)
    try:
        yield server
    finally:
        server.stop()


def query(url: str, expr: str) -> list[Sample]:
    """Evaluate an instant PromQL query through ``/api/v1/query``.

    Args:
        url: the server's base URL.
        expr: the PromQL expression.

    Returns:
        The result vector (a scalar result comes back as one sample without labels).

    Raises:
        ValueError: Prometheus refused the query (its error message).
    """
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    try:
        with urllib.request.urlopen(address, timeout=10) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as err:  # 400/422 carry Prometheus' own error text
        body = json.loads(err.read() or b"{}")
    if body.get("status") != "success":
        raise ValueError(f"query {expr!r} failed: {body.get('error', body)}")
    data = body["data"]
    if data["resultType"] in ("scalar", "string"):
        return [{"metric": {}, "value": data["result"]}]
    result: list[Sample] = data["result"]
    return result


def wait_for(
    url: str,
    expr: str,
    until: Callable[[list[Sample]], bool] = bool,
    timeout: float = 60.0,
) -> list[Sample]:
    """Query ``expr`` every half second until ``until(result)`` holds (by default: non-empty).

    Returns:
        The first result that satisfied ``until``.

    Raises:
        TimeoutError: it never did; the message holds the last result.
    """
    deadline = time.monotonic() + timeout
    result: list[Sample] = []
    while True:
        result = query(url, expr)
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"{expr!r} not as expected after {timeout:.0f} s; last: {result}")
        time.sleep(0.5)


def value(sample: Sample) -> float:
    """A sample's value as a number (Prometheus sends it as text; ``+Inf`` and ``NaN`` included)."""
    return float(sample["value"][1])


def _wait_ready(server: Prometheus, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if NAME not in processes.recorded(server.state_dir):
            raise errors.InfraError("PrometheusExited", _log_tail(server.state_dir))
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.2)
    server.stop()
    raise errors.InfraError(
        "PrometheusNotReady", f"not ready after {timeout:.0f} s; {_log_tail(server.state_dir)}"
    )


def _log_tail(state_dir: Path, lines: int = 15) -> str:
    log = state_dir / "logs" / f"{NAME}.log"
    if not log.exists():
        return "no log"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
