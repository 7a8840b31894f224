"""Kubernetes Events about runs and trials, posted off the reconcile path and rate-limited.

An Event is one more write per transition: a grid of 10,000 trials would post
tens of thousands, each a round trip inside a reconcile. The recorder queues
them and one thread posts them; a token bucket per kind of event bounds the
rate (Warnings get their own, larger bucket, so a burst of routine transitions
never crowds out a failure), and what is over the rate is dropped and counted
(`kubegym_operator_events_dropped_total`), never waited for. A lost Event loses
no state: the Trial's status and the operator's log hold every transition.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from kubegym import metrics

log = structlog.get_logger()

#: Routine transitions (Normal): at most this many a second, after a burst of `NORMAL_BURST`.
NORMAL_RATE, NORMAL_BURST = 5.0, 50
#: Warnings: a larger bucket of their own.
WARNING_RATE, WARNING_BURST = 20.0, 200
#: Events waiting to be posted beyond this are dropped (the poster is behind the API server).
BACKLOG = 1000

Post = Callable[[dict[str, Any], str, str, str, str], None]


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`; `take` says whether one was there."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _tokens: float = field(init=False)
    _at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._at = self.clock()

    def take(self) -> bool:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


class Recorder:
    """Posts Events through `post` (`kubegym.operator.kube.Kube.event`) from a thread of its own.

    Args:
        post: posts one Event: (involved object, its kind, type, reason, message).
        clock: for the buckets (a parameter for tests).
    """

    def __init__(self, post: Post, clock: Callable[[], float] = time.monotonic) -> None:
        self._post = post
        self._buckets = {
            "Normal": TokenBucket(NORMAL_RATE, NORMAL_BURST, clock),
            "Warning": TokenBucket(WARNING_RATE, WARNING_BURST, clock),
        }
        self._queue: queue.Queue[tuple[dict[str, Any], str, str, str, str] | None] = queue.Queue(
            BACKLOG
        )
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def event(
        self, involved: dict[str, Any], kind: str, event_type: str, reason: str, message: str
    ) -> bool:
        """Queue an Event; False when it was dropped (over the rate, or the backlog is full)."""
        with self._lock:
            allowed = self._buckets.get(event_type, self._buckets["Warning"]).take()
            if allowed and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="events", daemon=True)
                self._thread.start()
        if allowed:
            try:
                # Only what the Event needs of the object: not a reference to a cached body.
                meta = involved["metadata"]
                ref = {"metadata": {k: meta.get(k) for k in ("name", "namespace", "uid")}}
                self._queue.put_nowait((ref, kind, event_type, reason, message))
                return True
            except queue.Full:
                pass
        metrics.event_dropped(kind)
        return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._post(*item)
            except Exception as exc:  # an Event is best effort; the poster must live on
                log.warning("event_not_posted", reason=item[3], error=str(exc))

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until the queued Events are posted (at most `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        """Post what is queued, then stop the thread."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(5)
