"""A real `kubegym view` server for tests and benchmarks: uvicorn on a free loopback port, in a thread.

Used by tests/viewer/, tests/browser/test_viewer.py and bench/viewer_load.py: the
viewer is exercised over real HTTP, as a browser reaches it.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from kubegym import viewer


@contextmanager
def serve(source: str, host: str = "127.0.0.1", index_url: str | None = None) -> Iterator[str]:
    """Serve the runs at `source` (with `index_url`: from that results index); yields the base URL."""
    app = viewer.create_app(viewer.open_catalog(source, index_url), host=host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the viewer did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def served_url(process: subprocess.Popen[str], timeout: float = 60) -> str:
    """The base URL a `kubegym view` subprocess says it serves (its stderr's "serving … at" line)."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    line = ""
    while "serving" not in line and time.monotonic() < deadline:
        line = process.stderr.readline()
    found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
    assert found, line
    return found.group(1)
