"""`kubegym view` as a user starts it: a process that says where it serves, and answers there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support import synthetic_run, viewer_server
from tests.viewer.conftest import get, get_json


def test_the_command_serves_the_run_on_loopback(generated: synthetic_run.SyntheticRun) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kubegym",
            "view",
            str(generated.folder),
            "--port",
            "0",
            "--no-open",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = viewer_server.served_url(process)
        runs = get_json(base + "/api/runs")["runs"]
        assert [r["run_id"] for r in runs] == ["generated"]
        status, _, body = get(base + "/")
        assert status == 200 and b'<script type="module" src="/static/app.js">' in body
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("source", ["s3://bucket/runs/x", "run/quickstart", "/nonexistent/run"])
def test_a_source_it_cannot_read_is_one_clear_line(source: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kubegym", "view", source, "--no-open"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
