"""The evaluator server: validate and submit over HTTP, beside the sandbox, holding the hidden data.

On a cluster the evaluator container of a trial's sandbox pod runs
``python -m kubegym.evaluator serve`` (`kubegym.evaluator.__main__`): it reads the
attempt's ``trial.json``, finds the evaluation script and the hidden data in its eval
folder (filled from the task's data image), reads the workspace through a read-only
mount, and answers the agent pod's `kubegym.evaluator.client.EvaluatorClient` (or an
external agent). The API is ``openapi.yaml`` beside this module.

The server is the only source of a trial's scores. Its `kubegym.evaluator.judge.Ledger`
keeps the authoritative record (every scoring with its hidden test metrics, the
validate calls counted and capped by ``maxValidations``), and `ServerConfig.record`
names the file it goes to: the container's ``/dev/termination-log``, which the kubelet
copies into the pod's status when the container ends, where the operator reads it
(`kubegym.operator.outcomes`). The file is rewritten after every scoring, so however
the container ends (even SIGKILL) the record of what was scored is there; the
server ends itself, writing the record once more with the reason, when

- the agent submits (after `ServerConfig.linger_seconds`, in which a retried submit
  still gets its verdict): ``submitted``;
- the agent calls ``POST /v1/finish`` (kubegym's agent runner does, at its end):
  ``finished``;
- the trial's wall time (`ServerConfig.deadline_seconds`) passes: ``deadline``;
- SIGTERM or SIGINT: ``stopped``.

Answers never carry hidden test metrics: validate shows the validation metrics only
(`kubegym.evaluator.judge.public_score`). Past the cap a validate is refused with 429
(``validation_limit``), a refusal the client turns into an observation.

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
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubegym.api import summary
from kubegym.evaluator import judge as judge_mod
from kubegym.sandbox import httpapi
from kubegym.sandbox.httpapi import ApiError, Payload

API_VERSION = "v1"
VALIDATION_LIMIT = "validation_limit"
"""The error code of a validate refused because the trial's ``maxValidations`` is reached."""


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
    record: Path | None = None
    """Where the trial's record goes (``/dev/termination-log`` in a pod); None: nowhere."""
    max_validations: int | None = None
    """The run's cap on validate calls (None: no cap); the task's own applies too."""
    deadline_seconds: float | None = None
    """The server ends itself this long after it starts (the trial's wall time)."""
    linger_seconds: float = 30.0
    """How long the server still answers after a submit (a retried submit) before it ends."""


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
        self.ledger = judge_mod.Ledger(
            judge_mod.validation_cap(judge.max_validations, config.max_validations)
        )
        self._metric = judge.bundle.task.spec.evaluation.metric().name
        self.ended = threading.Event()
        """Set when the server should stop; `end_reason` says why."""
        self.end_reason: summary.RecordEnd | None = None
        self._end_lock = threading.RLock()  # also taken in a signal handler
        self._write_lock = threading.Lock()

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
            if not self.ledger.claim_validation():
                self.write_record()
                assert self.ledger.max_validations is not None
                refused = judge_mod.refusal(step, self.ledger.max_validations)
                raise ApiError(429, VALIDATION_LIMIT, refused.observation)
            verdict = self.judge.validate(self.config.workspace, step)
            self.ledger.add(verdict.score)
            self.write_record()
            return verdict_body(verdict)

    def submit(self, body: Payload) -> Payload:
        """Score the artifact on the hidden test data; the trial ends."""
        step = _step(body)
        with self._lock:
            if self._submitted is None:
                self._submitted = self.judge.submit(self.config.workspace, step)
                self.ledger.add(self._submitted.score)
                self.write_record()
                self.end("submitted", after=self.config.linger_seconds)
            return verdict_body(self._submitted)

    def finish(self, body: Payload) -> Payload:
        """The agent is done: the record is final and the server ends."""
        with self._lock:
            reason: summary.RecordEnd = "submitted" if self._submitted else "finished"
        # A moment's grace: this answer must leave before the server stops.
        self.end(reason, after=0.5)
        return {"ok": True, "end": reason, "validations": self.ledger.validations}

    # -- the record --------------------------------------------------------------------------

    def end(self, reason: summary.RecordEnd, after: float = 0.0) -> None:
        """Stop the server for ``reason`` (now, or ``after`` seconds); the first reason stands."""
        with self._end_lock:
            if self.end_reason is None:
                self.end_reason = reason
        if after <= 0:
            self.ended.set()
        else:
            timer = threading.Timer(after, self.ended.set)
            timer.daemon = True
            timer.start()

    def write_record(self, end: summary.RecordEnd = "running") -> summary.EvaluatorRecord:
        """Write the record as it stands to `ServerConfig.record`; return it.

        Written in place (a termination-log file cannot be replaced, only rewritten):
        one ``write`` of at most 4 KiB.
        """
        record = self.ledger.record(end)
        if self.config.record is not None:
            text = record.to_message(self._metric)
            with self._write_lock, self.config.record.open("w", encoding="utf-8") as out:
                out.write(text)
        return record


ROUTES: dict[tuple[str, str], Callable[[EvaluatorApp, Payload], Payload]] = {
    ("GET", "/healthz"): EvaluatorApp.healthz,
    ("POST", "/v1/validate"): EvaluatorApp.validate,
    ("POST", "/v1/submit"): EvaluatorApp.submit,
    ("POST", "/v1/finish"): EvaluatorApp.finish,
}
"""Every route the server serves; the OpenAPI file lists exactly these (a test checks)."""


class _Handler(httpapi.JsonHandler):
    server_version = "kubegym-evaluator"
    realm = "kubegym-evaluator"
    routes = ROUTES
    app: EvaluatorApp


def verdict_body(verdict: judge_mod.Verdict) -> Payload:
    """A verdict as the API answers it: the public score's wire form and the observation."""
    return {
        "score": judge_mod.public_score(verdict.score).to_wire(),
        "observation": verdict.observation,
    }


def make_http_server(app: EvaluatorApp) -> httpapi.ThreadingTCPServer:
    """Bind the HTTP server for ``app``, ready for ``serve_forever``.

    Raises:
        OSError: the address cannot be bound.
    """
    handler = type("Handler", (_Handler,), {"app": app})
    return httpapi.ThreadingTCPServer((app.config.host, app.config.port), handler)


def serve(app: EvaluatorApp) -> int:
    """Bind, print the ready line (``{"ready": true, "port": N}``), serve until the trial ends.

    The trial ends on a submit, a finish call, the deadline, or SIGTERM/SIGINT; the
    record is written at the start and at the end (see the module's docstring).

    Returns:
        The process exit status (0 after a clean stop).
    """
    server = make_http_server(app)
    app.write_record()  # an empty record: a container killed before any scoring still has one
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: app.end("stopped"))
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="http", daemon=True
    )
    thread.start()
    ready: dict[str, Any] = {"ready": True, "port": server.server_address[1]}
    print(json.dumps(ready), flush=True)
    deadline = app.config.deadline_seconds
    until = None if deadline is None else time.monotonic() + deadline
    try:
        while not app.ended.is_set():
            # Short waits: a signal handler runs only between them on the main thread.
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                app.end("deadline")
                break
            app.ended.wait(0.5 if left is None else min(0.5, left))
    finally:
        server.shutdown()
        server.server_close()
        # A scoring under way may finish (and be recorded) first, within the kubelet's
        # grace; the record written before it started stands otherwise.
        scoring_done = app._lock.acquire(timeout=10)
        try:
            app.write_record(app.end_reason or "stopped")
        finally:
            if scoring_done:
                app._lock.release()
    return 0


def _step(body: Payload) -> int:
    step: int = httpapi.require(body, "step", int)
    if step < 0:
        raise ApiError(400, "bad_request", "must be 0 or more", "step")
    return step
