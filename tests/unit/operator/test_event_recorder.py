"""Events are posted off the reconcile path, at a bounded rate, Warnings with their own room;
what is over the rate is dropped and counted, never waited for."""

from __future__ import annotations

import threading
from typing import Any

from kubegym import metrics
from kubegym.operator import events


def involved(name: str = "t") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "uid": "u", "labels": {"x": "y"}}}


def dropped(kind: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "kubegym_operator_events_dropped_total", {"kind": kind}
    )
    return value or 0.0


def test_a_burst_past_the_rate_is_dropped_and_counted() -> None:
    posted: list[tuple[str, str]] = []
    lock = threading.Lock()

    def post(obj: dict[str, Any], kind: str, event_type: str, reason: str, message: str) -> None:
        with lock:
            posted.append((event_type, reason))

    now = [0.0]
    recorder = events.Recorder(post, clock=lambda: now[0])
    before = dropped("Trial")
    accepted = [
        recorder.event(involved(), "Trial", "Normal", "Running", "x")
        for _ in range(events.NORMAL_BURST + 30)
    ]
    assert sum(accepted) == events.NORMAL_BURST
    assert dropped("Trial") - before == 30
    # Warnings have their own bucket: a flood of routine events never hides a failure
    assert recorder.event(involved(), "Trial", "Warning", "Evicted", "node pressure")
    now[0] += 1.0  # a second later the routine bucket has refilled a little
    assert sum(
        recorder.event(involved(), "Trial", "Normal", "Running", "x") for _ in range(10)
    ) == int(events.NORMAL_RATE)
    recorder.flush()
    recorder.close()
    assert len(posted) == events.NORMAL_BURST + 1 + int(events.NORMAL_RATE)
    assert ("Warning", "Evicted") in posted


def test_the_reconcile_never_waits_for_the_api_server() -> None:
    release = threading.Event()

    def slow_post(*_: Any) -> None:
        release.wait(5)

    recorder = events.Recorder(slow_post)
    # the first post blocks the poster thread; queueing more returns at once
    for _ in range(20):
        assert recorder.event(involved(), "BenchmarkRun", "Warning", "StoreUnavailable", "x")
    release.set()
    recorder.close()


def test_a_failing_post_does_not_stop_the_poster() -> None:
    calls: list[str] = []

    def post(obj: dict[str, Any], kind: str, event_type: str, reason: str, message: str) -> None:
        calls.append(reason)
        if reason == "first":
            raise RuntimeError("apiserver said no")

    recorder = events.Recorder(post)
    recorder.event(involved(), "Trial", "Warning", "first", "x")
    recorder.event(involved(), "Trial", "Warning", "second", "x")
    recorder.flush()
    recorder.close()
    assert calls == ["first", "second"]
