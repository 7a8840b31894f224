"""What an operator replica does until it leads: answer ``/healthz`` and wait for the Lease.

`kubegym.operator.main.serve` calls `wait_for_leadership` when leader election is on.
A standby opens no watch and reconciles nothing; it keeps trying the Lease
(`kubegym.operator.leader.Elector.acquire`) and tells the kubelet it is alive on the
same port kopf's liveness endpoint takes over once this replica leads (the
``/metrics`` port is served by `main`, so a standby's `kubegym_operator_leader` reads 0).
"""

from __future__ import annotations

import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kubegym.operator import leader


class HealthServer:
    """``GET /healthz`` on `port`: 200 while `elector` keeps trying the Lease, 503 when it is stuck.

    Args:
        port: the TCP port (the operator's health port).
        elector: whose election loop is checked.
        host: the address to bind; ``0.0.0.0`` in a pod.
    """

    def __init__(self, port: int, elector: leader.Elector, host: str = "0.0.0.0") -> None:
        healthy = elector.healthy

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/healthz":
                    self.send_error(404)
                    return
                ok = healthy()
                body = b'{"role": "standby"}' if ok else b'{"role": "standby", "stuck": true}'
                self.send_response(200 if ok else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # a probe every few seconds is not news

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="standby-healthz", daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Close the port (kopf's liveness endpoint binds it next); returns when it is closed."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def wait_for_leadership(elector: leader.Elector, health_port: int) -> bool:
    """Block as a standby, serving ``/healthz``, until `elector` leads or a signal stops us.

    SIGTERM and SIGINT end the wait (the pod is being deleted: nothing to hand over);
    their previous handlers are put back before returning, so kopf installs its own.

    Args:
        elector: the candidate.
        health_port: where to answer ``/healthz``; 0 for nowhere.

    Returns:
        True once this replica leads; False when it was stopped first.
    """
    stop = threading.Event()

    def stopped(signum: int, frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    health = HealthServer(health_port, elector) if health_port else None
    try:
        return elector.acquire(stop)
    finally:
        if health is not None:
            health.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
