"""Serving kubegym's registry over HTTP (``/metrics``), and rendering it as text for tests.

`kubegym run --metrics-port` and the operator call `serve`; it runs the
prometheus-client WSGI server on a daemon thread, so it never keeps a
process alive on its own, and `Exporter.stop` closes the port.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client import CollectorRegistry


@dataclass
class Exporter:
    """A running ``/metrics`` server."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port it listens on (the real one when started with port 0)."""
        return int(self.server.server_port)

    def stop(self) -> None:
        """Stop serving and close the port; returns once the thread has ended."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(port: int, host: str, registry: CollectorRegistry) -> Exporter:
    """Start serving ``registry`` at ``http://host:port/metrics`` on a daemon thread.

    Args:
        port: the TCP port; 0 picks a free one (read it back from `Exporter.port`).
        host: the address to bind: ``127.0.0.1`` for this machine only,
            ``0.0.0.0`` in a pod, where Prometheus scrapes from another one.
        registry: what to serve (kubegym's own, never the global default).

    Raises:
        OSError: the port is taken or the address is not this machine's.
    """
    _without_created_series()
    server, thread = prometheus_client.start_http_server(port, addr=host, registry=registry)
    return Exporter(server, thread)


def render(registry: CollectorRegistry) -> str:
    """The registry in Prometheus' text exposition format, exactly as ``/metrics`` serves it."""
    _without_created_series()
    return prometheus_client.generate_latest(registry).decode("utf-8")


def _without_created_series() -> None:
    # prometheus-client adds a `<name>_created` timestamp series to every counter and
    # histogram child; Prometheus stores them as plain gauges, doubling the series
    # while no rule or dashboard reads them. The switch is process-wide, which suits
    # kubegym's processes: nothing else in them exports metrics.
    prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
