"""The ``literature_search`` tool: look up papers on Semantic Scholar.

It runs in the agent runner, not in the sandbox (which has no network), through Semantic
Scholar's public graph API; without network it says plainly that the service is unreachable.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from kubegym.agent_runner.tools import base

COMMAND = base.Command(
    name="literature_search",
    signature="literature_search <query>",
    docstring=(
        "Searches Semantic Scholar for research papers about <query> and lists their titles, "
        "years, links and the start of their abstracts. Use it for ideas and known results; "
        "it needs network access, which may be missing."
    ),
    arguments=(
        base.Argument(
            name="query",
            rest_of_line=True,
            description="what to look for, the rest of the line (quotes optional)",
        ),
    ),
)

URL_ENV = "KUBEGYM_SEMANTIC_SCHOLAR_URL"
"""The variable that overrides the service's base URL (a mirror, or a test server)."""

DEFAULT_URL = "https://api.semanticscholar.org"
FIELDS = "title,year,abstract,url"
ABSTRACT_CHARS = 400


def base_url(ctx: base.ToolContext) -> str:
    """The service's base URL: the tool configuration's, $KUBEGYM_SEMANTIC_SCHOLAR_URL's, or the public one."""
    return (ctx.config.literature_url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")


@base.tool(COMMAND)
def run(ctx: base.ToolContext, args: base.Arguments) -> base.ToolResult:
    query = args.text("query").strip()
    if not query:
        return base.usage_error(COMMAND, "the query is empty.")
    root = base_url(ctx)
    params = urllib.parse.urlencode(
        {"query": query, "fields": FIELDS, "limit": ctx.config.literature_results}
    )
    request = urllib.request.Request(
        f"{root}/graph/v1/paper/search?{params}", headers={"User-Agent": "kubegym-agent"}
    )
    try:
        with urllib.request.urlopen(request, timeout=ctx.config.literature_timeout_s) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        why = "too many requests; wait a few steps before searching again"
        return _failed(
            f"The literature search service answered HTTP {error.code} "
            f"({why if error.code == 429 else error.reason})."
        )
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        cause = getattr(error, "reason", None) or error
        return _failed(
            f"The literature search service ({root}) is unreachable: {cause}. "
            "There may be no network here; go on without it."
        )
    except (ValueError, UnicodeDecodeError):
        return _failed("The literature search service sent an answer that is not JSON.")
    return _format(query, body)


def _failed(message: str) -> base.ToolResult:
    return base.ToolResult(f"Error: {message}", base.EXIT_FAILED, COMMAND.name)


def _format(query: str, body: Any) -> base.ToolResult:
    papers = body.get("data") if isinstance(body, dict) else None
    if not isinstance(papers, list):
        return _failed("The literature search service sent an answer without a list of papers.")
    if not papers:
        return base.ToolResult(
            f'No papers found for "{query}". Try other or fewer words.',
            base.EXIT_FAILED,
            COMMAND.name,
        )
    total = body.get("total", len(papers))
    out = [f'Found {total} papers for "{query}"; the first {len(papers)}:']
    for number, paper in enumerate(papers, start=1):
        if not isinstance(paper, dict):
            continue
        title = paper.get("title") or "(untitled)"
        year = paper.get("year")
        out.append(f"{number}. {title}" + (f" ({year})" if year else ""))
        if paper.get("url"):
            out.append(f"   {paper['url']}")
        abstract = " ".join(str(paper.get("abstract") or "").split())
        if abstract:
            if len(abstract) > ABSTRACT_CHARS:
                abstract = abstract[:ABSTRACT_CHARS].rsplit(" ", 1)[0] + " …"
            out.append(f"   {abstract}")
    return base.ToolResult("\n".join(out), base.EXIT_OK, COMMAND.name)
