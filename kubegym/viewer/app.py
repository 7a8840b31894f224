"""The viewer's web app: a JSON API over a `catalog.Catalog` and the page's static files.

Built by `create_app` for `kubegym.cli.view` (served by uvicorn) and for the
tests (served the same way on a free port). Every endpoint is a plain function,
so Starlette runs its file reads in a worker thread. Every answer is bounded
(pages, cut fields) and carries a Content-Security-Policy that allows scripts
from this server only, never inline: the page writes run data with
``textContent``, and even a slip there could not run an injected script.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubegym.errors import KubegymError
from kubegym.viewer import catalog, ids, steps, summary

CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""No inline script or style, nothing from elsewhere: injected markup could run nothing."""
HEADERS: Final = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
LOOPBACK: Final = ("127.0.0.1", "localhost", "::1", "[::1]")
DETAILS_LIMIT: Final = 20_000
"""Characters of a trial's ``details`` (as JSON) its page gets."""
SCORES_LIMIT: Final = 2_000
"""Validate and submit scores a trial's page gets."""

STATIC = resources.files("kubegym.viewer") / "static"


class _SecurityHeaders:
    """Adds `HEADERS` to every response, the static files' and the errors' included."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend((k.encode(), v.encode()) for k, v in HEADERS.items())
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return max(low, min(high, int(raw)))
    except ValueError:
        raise ValueError(f"{name} must be a whole number") from None


def create_app(source: catalog.AnyCatalog, *, host: str = "127.0.0.1") -> Starlette:
    """The viewer app over the runs of `source`.

    Args:
        source: the runs to show.
        host: the address the server binds; on a loopback address only requests
            naming a loopback host are answered (a web page elsewhere cannot reach
            the viewer through DNS rebinding).
    """
    trajectories = steps.TrajectoryIndex()

    def run_or_404(request: Request) -> catalog.AnyRun | JSONResponse:
        try:
            run = source.run(request.path_params["run"])
        except ids.BadId as exc:
            return _error(400, str(exc))
        return run if run is not None else _error(404, "no such run")

    def trial_id(request: Request) -> str:
        return ids.check_id(request.path_params["trial"], "trial")

    def trajectory_or_error(run: catalog.AnyRun, trial: str) -> str | JSONResponse:
        """The local path of a known trial's trajectory, or the answer refusing it."""
        try:
            path = run.trajectory_path(trial)
        except LookupError as exc:  # too large to fetch from a store
            return _error(413, str(exc))
        if path is None or not os.path.isfile(path) or run.row(trial) is None:
            return _error(404, "no trajectory for this trial")
        return path

    def page(request: Request) -> Response:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    def api_runs(request: Request) -> Response:
        return JSONResponse({"runs": source.runs()})

    def api_run(request: Request) -> Response:
        run = run_or_404(request)
        if isinstance(run, JSONResponse):
            return run
        return JSONResponse(summary.overview(run))

    def api_status(request: Request) -> Response:
        run = run_or_404(request)
        if isinstance(run, JSONResponse):
            return run
        return JSONResponse(run.summary())

    def api_facets(request: Request) -> Response:
        run = run_or_404(request)
        if isinstance(run, JSONResponse):
            return run
        return JSONResponse({"facets": run.facets()})

    def api_trials(request: Request) -> Response:
        run = run_or_404(request)
        if isinstance(run, JSONResponse):
            return run
        filters = {name: request.query_params.get(name) for name in catalog.FILTERS}
        try:
            limit = _int(request, "limit", 100, 1, catalog.PAGE_LIMIT)
            found = source.trials(
                run.run_id,
                cursor=request.query_params.get("cursor") or None,
                limit=limit,
                **filters,
            )
        except ValueError as exc:
            return _error(400, str(exc))
        assert found is not None
        return JSONResponse(found)

    def api_trial(request: Request) -> Response:
        run = run_or_404(request)
        if isinstance(run, JSONResponse):
            return run
        try:
            trial = trial_id(request)
        except ids.BadId as exc:
            return _error(400, str(exc))
        row = run.row(trial)
        if row is None:
            return _error(404, "no such trial")
        results = run.results(trial) or {}
        try:
            path = run.trajectory_path(trial)
            trajectory_error = None
        except LookupError as exc:  # too large to fetch from a store
            path, trajectory_error = None, str(exc)
        scores = results.get("scores")
        details = json.dumps(results.get("details", {}), ensure_ascii=False)
        return JSONResponse(
            {
                "row": row,
                "message": str(results.get("message", ""))[:DETAILS_LIMIT],
                "scores": scores[:SCORES_LIMIT] if isinstance(scores, list) else [],
                "final": results.get("final") if isinstance(results.get("final"), dict) else None,
                "details": details[:DETAILS_LIMIT],
                "has_trajectory": path is not None and os.path.exists(path),
                "trajectory_error": trajectory_error,
            }
        )

    def api_steps(request: Request) -> Response:
        run = run_or_404(request)
        if isinstance(run, JSONResponse):
            return run
        try:
            trial = trial_id(request)
            start = _int(request, "start", 0, 0, 10**9)
            limit = _int(request, "limit", 50, 1, steps.PAGE_LIMIT)
        except (ids.BadId, ValueError) as exc:
            return _error(400, str(exc))
        path = trajectory_or_error(run, trial)
        if isinstance(path, JSONResponse):
            return path
        return JSONResponse(steps.read_page(trajectories, path, start, limit))

    def api_step_field(request: Request) -> Response:
        run = run_or_404(request)
        if isinstance(run, JSONResponse):
            return run
        try:
            trial = trial_id(request)
            number = int(request.path_params["step"])
        except (ids.BadId, ValueError) as exc:
            return _error(400, str(exc))
        path = trajectory_or_error(run, trial)
        if isinstance(path, JSONResponse):
            return path
        try:
            return JSONResponse(
                steps.step_field(trajectories, path, number, request.query_params.get("field", ""))
            )
        except LookupError as exc:
            return _error(404, str(exc))

    def no_icon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", page),
        Route("/favicon.ico", no_icon),
        Route("/runs/{run}", page),
        Route("/runs/{run}/trials/{trial}", page),
        Route("/compare", page),
        Route("/api/runs", api_runs),
        Route("/api/runs/{run}", api_run),
        Route("/api/runs/{run}/status", api_status),
        Route("/api/runs/{run}/facets", api_facets),
        Route("/api/runs/{run}/trials", api_trials),
        Route("/api/runs/{run}/trials/{trial}", api_trial),
        Route("/api/runs/{run}/trials/{trial}/steps", api_steps),
        Route("/api/runs/{run}/trials/{trial}/steps/{step:int}", api_step_field),
        Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
    ]

    def store_failed(request: Request, exc: Exception) -> Response:
        # A store that stopped answering, or refused: its message names the cause
        # (never a stack trace, never a credential).
        return _error(502, str(exc)[:500])

    middleware = [Middleware(_SecurityHeaders)]
    if host in LOOPBACK:
        middleware.append(
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"])
        )
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={KubegymError: store_failed}
    )
