"""Attacks on the viewer's server: paths out of the run, links out of it, huge lines, foreign hosts.

A run's files are written by an agent's trial: its text, file names and task names
are hostile input. These tests try to read outside the run through the URL and
through links planted in the run, to make an answer unbounded with a 50 MB line,
and to reach a loopback viewer under another host name (DNS rebinding); the page's
own defences (escaping, CSP) are attacked in a real browser by
tests/browser/test_viewer.py.
"""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kubegym.cli.view import view
from kubegym.viewer import app as viewer_app
from kubegym.viewer import steps
from tests.support import viewer_server
from tests.viewer.conftest import get, get_json

SECRET = "root:x:0:0:the-secret-outside-the-run"

TRAVERSALS = (
    "/api/runs/generated/trials/../../../../etc/passwd/steps",
    "/api/runs/generated/trials/..%2F..%2F..%2F..%2Fetc%2Fpasswd/steps",
    "/api/runs/..%2F..%2F..%2Fetc/trials",
    "/api/runs/generated/trials/%2e%2e/steps",
    "/api/runs/generated/trials/..%5C..%5Cetc%5Cpasswd",
    "/api/runs/generated/trials/x%00/steps",
    "/static/../../../../../../etc/passwd",
    "/static/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/runs/../../../../etc/passwd",
)


def raw_get(base: str, path: str, host: str | None = None) -> tuple[int, bytes]:
    """A GET whose path is sent byte for byte (no client-side normalisation)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.putrequest("GET", path, skip_host=True)
    connection.putheader("Host", host or parts.netloc)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_url_reads_outside_the_run(base: str, path: str) -> None:
    status, body = raw_get(base, path)
    assert b"root:" not in body
    assert status in (400, 404), (status, body[:200])


def test_links_planted_in_the_run_are_not_followed(run_folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "trajectory.jsonl").write_text(
        json.dumps({"step": 1, "action": SECRET, "observation": SECRET}) + "\n"
    )
    (outside / "results.json").write_text(
        json.dumps({"trial": "x", "task": SECRET, "agent": "a", "seed": 0})
    )
    # A whole trial folder that is a link out, and a real folder whose files are links out.
    os.symlink(outside, run_folder / "trials" / "linked-folder")
    (run_folder / "trials" / "linked-files").mkdir()
    for name in ("trajectory.jsonl", "results.json"):
        os.symlink(outside / name, run_folder / "trials" / "linked-files" / name)
    with viewer_server.serve(str(run_folder)) as base:
        listing = get(f"{base}/api/runs/crafted/trials")[2]
        assert b"linked-folder" not in listing and SECRET.encode() not in listing
        for trial in ("linked-folder", "linked-files"):
            for path in ("", "/steps", "/steps/0?field=action"):
                status, _, body = get(f"{base}/api/runs/crafted/trials/{trial}{path}")
                assert SECRET.encode() not in body
                assert status in (200, 404)


def test_a_50_mb_line_is_never_parsed_nor_sent(run_folder: Path) -> None:
    folder = run_folder / "trials" / "huge-0"
    folder.mkdir()
    huge = "<script>alert(1)</script>" * (50_000_000 // 25)
    with (folder / "trajectory.jsonl").open("w") as f:
        f.write(json.dumps({"step": 1, "action": "python train.py", "observation": "ok"}) + "\n")
        f.write(json.dumps({"step": 2, "action": "cat big.log", "observation": huge}) + "\n")
        f.write(json.dumps({"step": 3, "action": "submit", "observation": "done"}) + "\n")
    with viewer_server.serve(str(run_folder)) as base:
        status, _, body = get(f"{base}/api/runs/crafted/trials/huge-0/steps")
        assert status == 200 and len(body) < 64_000, body[:300]
        page = json.loads(body)
        assert page["total"] == 3
        assert (
            "too large" in page["steps"][1]["error"]
            and page["steps"][1]["bytes"] > steps.LINE_LIMIT
        )
        assert page["steps"][2]["action"] == "submit"
        status, _, body = get(f"{base}/api/runs/crafted/trials/huge-0/steps/1?field=observation")
        assert status == 404 and b"too large" in body and len(body) < 1_000


def test_a_big_field_is_bounded_even_in_full(run_folder: Path) -> None:
    folder = run_folder / "trials" / "big-0"
    folder.mkdir()
    text = "x" * (steps.LINE_LIMIT - 1_000)
    (folder / "trajectory.jsonl").write_text(
        json.dumps({"step": 1, "action": "a", "observation": text}) + "\n"
    )
    with viewer_server.serve(str(run_folder)) as base:
        page = get_json(f"{base}/api/runs/crafted/trials/big-0/steps")
        assert len(page["steps"][0]["observation"]) == steps.FIELD_LIMIT
        full = get_json(f"{base}/api/runs/crafted/trials/big-0/steps/0?field=observation")
        assert (
            len(full["text"]) == steps.FULL_LIMIT
            and full["truncated"]
            and full["length"] == len(text)
        )


def test_a_loopback_viewer_answers_only_loopback_host_names(base: str) -> None:
    status, _ = raw_get(base, "/api/runs", host="evil.example:8765")
    assert status == 400
    status, _ = raw_get(base, "/api/runs", host="localhost")
    assert status == 200


@pytest.mark.parametrize(
    "path", ["/", "/runs/generated", "/api/runs", "/static/app.js", "/api/runs/nope"]
)
def test_every_answer_forbids_inline_script(base: str, path: str) -> None:
    _, headers, _ = get(base + path)
    csp = {k.lower(): v for k, v in headers.items()}["content-security-policy"]
    assert csp == viewer_app.CSP
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert {k.lower(): v for k, v in headers.items()}["x-content-type-options"] == "nosniff"


def test_hostile_names_come_back_as_json_data_only(base: str) -> None:
    status, headers, body = get(f"{base}/api/runs/generated/facets")
    assert status == 200 and headers["content-type"] == "application/json"
    assert "<script>" in json.loads(body)["facets"]["task"][-1][0] or any(
        "<script>" in v for v, _ in json.loads(body)["facets"]["task"]
    )


def test_the_command_binds_loopback_by_default() -> None:
    host = next(p for p in view.params if p.name == "host")
    assert host.default == "127.0.0.1"
