"""An `EgressProxy` on an event loop of its own, in a thread, for callers that are not async.

The local runner runs each trial in a worker thread; `ProxyThread` gives that trial its
proxy without an event loop of the caller's. Standard library only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from kubegym.egress import proxy as proxy_mod

_T = TypeVar("_T")


class ProxyThread:
    """Runs ``proxy`` on a daemon thread's event loop until `close`.

    Args:
        proxy: the proxy to run.
        name: the thread's name, for debugging.
    """

    def __init__(self, proxy: proxy_mod.EgressProxy, name: str = "kubegym-egress") -> None:
        self.proxy = proxy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()
        self._closed = False

    def _call(self, coroutine: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def serve_unix(self, path: Path, name: str) -> None:
        """Listen on the Unix socket ``path`` (returns once it listens)."""
        self._call(self.proxy.serve_unix(path, name))

    def serve_tcp(self, host: str, port: int, name: str) -> int:
        """Listen on TCP ``host:port``; the port it listens on."""
        server = self._call(self.proxy.serve_tcp(host, port, name))
        return int(server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """End every connection (each recorded), stop the loop and the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._call(self.proxy.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()
