"""The client of the evaluator server: validate and submit from the agent pod.

The agent pod's research environment holds an `EvaluatorClient` as its
`kubegym.evaluator.judge.Evaluator` (`kubegym.agent_runner.pod`); an external agent
can speak the same API (``openapi.yaml``). Connection failures are retried with
backoff (the server may still be starting, or restarting); when it stays
unreachable the call raises `InfraError` (reason ``EvaluatorUnreachable``), which
the agent pod reports as an infrastructure failure. A validate refused because the
trial's ``maxValidations`` is used up (429 ``validation_limit``) is not an error: it
becomes the same refusal verdict a local judge gives (`kubegym.evaluator.judge.refusal`).
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from kubegym.api import trials
from kubegym.errors import InfraError, KubegymError
from kubegym.evaluator import judge

VALIDATION_LIMIT = "validation_limit"
"""The server's code for a validate past the trial's cap (`kubegym.evaluator.server`)."""

_RETRIED = (ConnectionError, http.client.RemoteDisconnected, socket.gaierror)
"""Failures before any answer came: the server is not (yet, or any more) there."""


class EvaluatorError(KubegymError):
    """The evaluator server refused a request (a wrong token, a call after the submission…).

    Args:
        message: the server's explanation.
        status: the HTTP status.
        code: the server's error code (``unauthorized``, ``submitted``, ``bad_request``…).
    """

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class EvaluatorClient:
    """Speaks to one trial's evaluator server.

    Args:
        url: ``http://HOST:PORT``.
        token: the server's bearer token.
        timeout: seconds to wait for one answer (a validate scores twice: give it room).
        attempts: how many times a call is tried while the server cannot be reached.
        backoff: seconds before the first retry; doubled each time.
        sleep: waits between attempts (a parameter for tests).

    Raises:
        ValueError: the URL is not ``http://HOST:PORT``.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 3600.0,
        attempts: int = 5,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,  # for tests
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"evaluator address {url!r}: write http://HOST:PORT")
        self.url = url
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._host, self._port = parts.hostname, parts.port
        self._token = token
        self._sleep = sleep

    def validate(self, step: int) -> judge.Verdict:
        """Score the current artifact on the validation data (the test score is kept apart).

        Raises:
            InfraError: the server stays unreachable (``EvaluatorUnreachable``) or does not
                answer in time (``EvaluatorTimeout``).
            EvaluatorError: the server refused the call.
        """
        try:
            return _verdict(self._post("/v1/validate", {"step": step}))
        except EvaluatorError as exc:
            if exc.status != 429 or exc.code != VALIDATION_LIMIT:
                raise
            score = trials.Score(step=step, action="validate", error=str(exc))
            return judge.Verdict(score, str(exc))

    def submit(self, step: int) -> judge.Verdict:
        """Score the artifact on the hidden test data; the trial ends. Safe to repeat.

        Raises:
            InfraError: as `validate`.
            EvaluatorError: the server refused the call.
        """
        return _verdict(self._post("/v1/submit", {"step": step}))

    def finish(self) -> dict[str, Any]:
        """Tell the server the agent is done: its record becomes final and it ends.

        Raises:
            InfraError: as `validate`.
            EvaluatorError: the server refused the call.
        """
        return self._post("/v1/finish", {})

    def healthz(self) -> dict[str, Any]:
        """The server's liveness answer (needs no token)."""
        return self._request("GET", "/healthz", None)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", path, body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except _RETRIED as exc:
                if attempt == self.attempts:
                    raise InfraError(
                        "EvaluatorUnreachable",
                        f"{self.url}: {exc!r} after {self.attempts} attempts "
                        "(is the evaluator container running?)",
                    ) from exc
                self._sleep(delay)
                delay *= 2
            except TimeoutError as exc:
                raise InfraError(
                    "EvaluatorTimeout", f"{self.url}{path}: no answer within {self.timeout:g} s"
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise InfraError("EvaluatorUnreachable", f"{self.url}: {exc!r}") from exc
            finally:
                conn.close()
        try:
            answer = json.loads(raw)
        except ValueError as exc:
            raise InfraError(
                "EvaluatorFailed", f"{self.url}{path} answered {response.status} without JSON"
            ) from exc
        if response.status >= 500:
            raise InfraError("EvaluatorFailed", f"{self.url}{path}: {_message(answer)}")
        if response.status >= 400:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            message = _message(answer)
            if response.status == 401:
                message += " (the client's token does not match the evaluator's)"
            raise EvaluatorError(message, status=response.status, code=str(error.get("code", "")))
        return cast(dict[str, Any], answer)


def _message(answer: Any) -> str:
    error = answer.get("error", {}) if isinstance(answer, dict) else {}
    text = str(error.get("message", "no message"))
    field = error.get("field")
    return f"{field}: {text}" if field else text


def _verdict(answer: dict[str, Any]) -> judge.Verdict:
    return judge.Verdict(trials.Score.model_validate(answer["score"]), str(answer["observation"]))
