"""``literature_search``: Semantic Scholar through a local stand-in server, and offline."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from kubegym.agent_runner import tools
from kubegym.agent_runner.tools import literature_search
from tests.unit.agent_tools.conftest import MakeCtx

PAPERS = {
    "total": 1234,
    "offset": 0,
    "data": [
        {
            "paperId": "a1",
            "title": "Deep Residual Learning for Image Recognition",
            "year": 2016,
            "url": "https://www.semanticscholar.org/paper/a1",
            "abstract": "Deeper neural networks are more difficult to train. " * 20,
        },
        {
            "paperId": "b2",
            "title": "Untitled preprint",
            "year": None,
            "url": None,
            "abstract": None,
        },
    ],
}


class Served:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.status = 200
        self.body: Any = PAPERS


@pytest.fixture
def service() -> Iterator[tuple[str, Served]]:
    served = Served()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            payload = json.dumps(served.body).encode()
            self.send_response(served.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_results_are_listed(make_ctx: MakeCtx, service: tuple[str, Served]) -> None:
    url, served = service
    ctx = make_ctx(literature_url=url)
    result = tools.run_action("literature_search residual networks for image classification", ctx)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert (
        lines[0]
        == 'Found 1234 papers for "residual networks for image classification"; the first 2:'
    )
    assert lines[1] == "1. Deep Residual Learning for Image Recognition (2016)"
    assert lines[2] == "   https://www.semanticscholar.org/paper/a1"
    assert lines[3].startswith("   Deeper neural networks are more difficult to train.")
    assert lines[3].endswith(" …") and len(lines[3]) < 420
    assert lines[4] == "2. Untitled preprint"
    path, _, query = served.requests[0].partition("?")
    assert path == "/graph/v1/paper/search"
    params = urllib.parse.parse_qs(query)
    assert params["query"] == ["residual networks for image classification"]
    assert params["fields"] == ["title,year,abstract,url"]
    assert params["limit"] == ["10"]


def test_the_url_may_come_from_the_environment(
    make_ctx: MakeCtx, service: tuple[str, Served], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = service
    monkeypatch.setenv(literature_search.URL_ENV, url + "/")
    assert tools.run_action('literature_search "label smoothing"', make_ctx()).exit_code == 0
    assert len(served.requests) == 1


def test_no_papers(make_ctx: MakeCtx, service: tuple[str, Served]) -> None:
    url, served = service
    served.body = {"total": 0, "offset": 0}
    served.body["data"] = []
    result = tools.run_action("literature_search zzzz", make_ctx(literature_url=url))
    assert result.exit_code == 1
    assert result.output.startswith('No papers found for "zzzz"')


def test_rate_limiting_is_explained(make_ctx: MakeCtx, service: tuple[str, Served]) -> None:
    url, served = service
    served.status, served.body = 429, {"message": "Too Many Requests"}
    result = tools.run_action("literature_search transformers", make_ctx(literature_url=url))
    assert result.exit_code == 1
    assert "HTTP 429" in result.output and "wait" in result.output


def closed_port() -> int:
    """A local port nothing listens on: taken from the kernel, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_offline_it_says_the_service_is_unreachable(make_ctx: MakeCtx) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    ctx = make_ctx(literature_url=url, literature_timeout_s=2)
    result = tools.run_action("literature_search anything", ctx)
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: The literature search service ({url}) is unreachable")
    assert "go on without it" in result.output


def test_a_query_is_required(ctx: tools.ToolContext) -> None:
    result = tools.run_action("literature_search", ctx)
    assert result.exit_code == 2
    assert "Usage: literature_search <query>" in result.output
