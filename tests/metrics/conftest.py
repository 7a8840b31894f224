"""Fixtures for the metrics tests: a fresh registry per test, and the Prometheus binaries.

Tests that need ``prometheus`` or ``promtool`` (Debian's ``prometheus`` package,
installed by ``make test``) skip with the reason when they are missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kubegym import metrics
from kubegym.devcluster import prometheus


class FakeClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder(clock: FakeClock) -> metrics.Metrics:
    """A `Metrics` on its own registry, so tests never see each other's series."""
    return metrics.Metrics(clock=clock)


@pytest.fixture
def promtool() -> str:
    path = prometheus.binary("promtool")
    if path is None:
        pytest.skip("promtool is not installed (apt-get install prometheus, or make test)")
    return path


@pytest.fixture
def prometheus_binary() -> str:
    path = prometheus.binary()
    if path is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus, or make test)")
    return path


@pytest.fixture
def exporter(recorder: metrics.Metrics) -> Iterator[metrics.Exporter]:
    """The recorder's registry served over HTTP on a free loopback port."""
    server = metrics.serve(0, "127.0.0.1", registry=recorder.registry)
    yield server
    server.stop()


@pytest.fixture
def prom(
    prometheus_binary: str, exporter: metrics.Exporter, tmp_path: Path
) -> Iterator[prometheus.Prometheus]:
    """A real Prometheus scraping ``exporter`` every second, kubegym's rules loaded."""
    with prometheus.running(tmp_path / "prometheus", [f"127.0.0.1:{exporter.port}"]) as server:
        yield server


def samples(recorder: metrics.Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every exported sample: (name, sorted labels) → value, parsed from the text format."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render(recorder.registry)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(recorder: metrics.Metrics, name: str, **labels: str) -> float | None:
    """One sample's value, or None when the series does not exist."""
    return samples(recorder).get((name, tuple(sorted(labels.items()))))
