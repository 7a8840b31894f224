"""The evaluator server: validate and submit over HTTP, beside the sandbox, holding the hidden data.

On a cluster the evaluator container of a trial's sandbox pod runs
``python -m kubegym.evaluator serve`` (`kubegym.evaluator.__main__`): it reads the
attempt's ``trial.json``, finds the evaluation script and the hidden data in its eval
folder (filled from the task's data image), reads the workspace through a read-only
mount, and answers the agent pod's `kubegym.evaluator.client.EvaluatorClient`. The API
is ``openapi.yaml`` beside this module.

Scorings run one at a time: a call that comes while another scores waits for it (the
agent's calls are sequential anyway; an external agent that overlaps them gets the
same answers, later). A submit ends the trial: asked again (a client retrying after a
lost answer), it answers the same verdict without scoring again; a validate after it
gets 409.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubegym.evaluator import judge as judge_mod
from kubegym.sandbox import httpapi
from kubegym.sandbox.httpapi import ApiError, Payload

API_VERSION = "v1"


@dataclass(frozen=True)
class ServerConfig:
    """How one evaluator server runs; built from ``python -m kubegym.evaluator serve`` flags."""

    workspace: Path
    """The trial's workspace (read only): the submission artifact is read there."""
    token: str
    """The bearer token every request but ``GET /healthz`` must carry."""
    host: str = "127.0.0.1"
    """The address to listen on (``0.0.0.0`` in a pod)."""
    port: int = 0
    """The TCP port; 0 picks a free one (the ready line says which)."""


class EvaluatorApp:
    """The API's behaviour, apart from HTTP: one trial's judge, one workspace, one token.

    Args:
        judge: scores the trial's artifacts.
        config: the server's settings.
    """

    def __init__(self, judge: judge_mod.Judge, config: ServerConfig) -> None:
        self.judge = judge
        self.config = config
        self._token = config.token.encode()
        self._lock = threading.Lock()
        self._submitted: judge_mod.Verdict | None = None

    def authorized(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header carries the server's bearer token."""
        return httpapi.bearer_matches(header, self._token)

    # -- endpoints ---------------------------------------------------------------------------

    def healthz(self, body: Payload) -> Payload:
        """Liveness; needs no token."""
        return {"ok": True, "api": API_VERSION, "task": self.judge.bundle.name}

    def validate(self, body: Payload) -> Payload:
        """Score the artifact on the validation data (and, unseen, on the test data)."""
        step = _step(body)
        with self._lock:
            if self._submitted is not None:
                raise ApiError(409, "submitted", "the trial has ended with a submission")
            return verdict_body(self.judge.validate(self.config.workspace, step))

    def submit(self, body: Payload) -> Payload:
        """Score the artifact on the hidden test data; the trial ends."""
        step = _step(body)
        with self._lock:
            if self._submitted is None:
                self._submitted = self.judge.submit(self.config.workspace, step)
            return verdict_body(self._submitted)


ROUTES: dict[tuple[str, str], Callable[[EvaluatorApp, Payload], Payload]] = {
    ("GET", "/healthz"): EvaluatorApp.healthz,
    ("POST", "/v1/validate"): EvaluatorApp.validate,
    ("POST", "/v1/submit"): EvaluatorApp.submit,
}
"""Every route the server serves; the OpenAPI file lists exactly these (a test checks)."""


class _Handler(httpapi.JsonHandler):
    server_version = "kubegym-evaluator"
    realm = "kubegym-evaluator"
    routes = ROUTES
    app: EvaluatorApp


def verdict_body(verdict: judge_mod.Verdict) -> Payload:
    """A verdict as the API answers it: the score's wire form and the agent's observation."""
    return {"score": verdict.score.to_wire(), "observation": verdict.observation}


def make_http_server(app: EvaluatorApp) -> httpapi.ThreadingTCPServer:
    """Bind the HTTP server for ``app``, ready for ``serve_forever``.

    Raises:
        OSError: the address cannot be bound.
    """
    handler = type("Handler", (_Handler,), {"app": app})
    return httpapi.ThreadingTCPServer((app.config.host, app.config.port), handler)


def serve(app: EvaluatorApp) -> int:
    """Bind, print the ready line (``{"ready": true, "port": N}``), serve until SIGTERM or SIGINT.

    Returns:
        The process exit status (0 after a clean stop).
    """
    server = make_http_server(app)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True
    )
    thread.start()
    ready: dict[str, Any] = {"ready": True, "port": server.server_address[1]}
    print(json.dumps(ready), flush=True)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
    return 0


def _step(body: Payload) -> int:
    step: int = httpapi.require(body, "step", int)
    if step < 0:
        raise ApiError(400, "bad_request", "must be 0 or more", "step")
    return step
