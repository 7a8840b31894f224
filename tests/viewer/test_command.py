"""`kubegym view` as a user starts it: a process that says where it serves, and answers there."""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

from tests.support import synthetic_run
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
        assert process.stderr is not None
        deadline = time.monotonic() + 60
        line = ""
        while "serving" not in line and time.monotonic() < deadline:
            line = process.stderr.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert found, line
        runs = get_json(found.group(1) + "/api/runs")["runs"]
        assert [r["run_id"] for r in runs] == ["generated"]
        status, _, body = get(found.group(1) + "/")
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
