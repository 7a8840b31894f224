"""A standby replica: it answers /healthz while its election loop lives, and its wait ends when
it leads or when the pod is stopped (SIGTERM), with the previous signal handlers put back."""

from __future__ import annotations

import os
import signal
import threading
import urllib.error
import urllib.request

from kubegym.operator import leader, leases, standby

from .test_leader_election import TIMING, Clock, MemoryLeases


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def test_healthz_says_standby_while_the_loop_lives_and_503_when_it_is_stuck() -> None:
    clock = Clock()
    candidate = leader.Elector(MemoryLeases(), "op-b_2", TIMING, clock=clock, now=clock.wall)
    server = standby.HealthServer(0, candidate, host="127.0.0.1")
    port = server.server.server_address[1]
    try:
        assert get(port, "/healthz") == (200, b'{"role": "standby"}')
        assert get(port, "/metrics")[0] == 404  # /metrics is the exporter's port
        clock.advance(2 * TIMING.retry_period + TIMING.renew_deadline)  # no try for that long
        assert get(port, "/healthz")[0] == 503
    finally:
        server.stop()


def test_the_wait_ends_when_the_lease_is_won() -> None:
    store = MemoryLeases()
    store.record = leases.LeaseRecord("", 1, None, None, 4)  # released by the last leader
    store.version = 7
    candidate = leader.Elector(store, "op-b_2", TIMING)
    assert standby.wait_for_leadership(candidate, health_port=0)
    assert store.record.holder == "op-b_2" and store.record.transitions == 5


def test_sigterm_ends_the_wait_and_the_previous_handlers_come_back() -> None:
    store = MemoryLeases()
    store.record = leases.LeaseRecord("op-a_1", 10, None, None, 0)  # a live leader
    candidate = leader.Elector(store, "op-b_2", TIMING)
    before = signal.getsignal(signal.SIGTERM)
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    assert not standby.wait_for_leadership(candidate, health_port=0)
    assert signal.getsignal(signal.SIGTERM) is before
    assert store.record.holder == "op-a_1"
