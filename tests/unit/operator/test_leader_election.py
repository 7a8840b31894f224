"""Leader election's rules, on a fake clock: who may take the Lease, when, and when a leader stops.

The Lease here is an in-memory store that keeps the API server's one promise the
election relies on (a write at a stale resourceVersion is refused); the same rules
run against the real API server in tests/cluster/test_leader_election.py.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubegym.errors import ConfigError
from kubegym.operator import leader, leases

TIMING = leader.Timing(lease_duration=10, renew_deadline=8, retry_period=2)
EPOCH = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class Clock:
    """Monotonic seconds and a wall clock that move only when told."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def wall(self) -> datetime:
        return EPOCH + timedelta(seconds=self.t - 1000.0)

    def advance(self, seconds: float) -> None:
        self.t += seconds


class MemoryLeases:
    """One Lease with resourceVersions: a write at a stale version is a conflict (None)."""

    def __init__(self) -> None:
        self.record: leases.LeaseRecord | None = None
        self.version = 0
        self.failing = False
        self.writes = 0

    def read(self, timeout: float) -> tuple[leases.LeaseRecord, str] | None:
        if self.failing:
            raise ConnectionRefusedError("the API server is unreachable")
        return None if self.record is None else (self.record, str(self.version))

    def create(self, record: leases.LeaseRecord, timeout: float) -> str | None:
        if self.failing:
            raise ConnectionRefusedError("the API server is unreachable")
        if self.record is not None:
            return None
        return self._store(record)

    def replace(
        self, record: leases.LeaseRecord, resource_version: str, timeout: float
    ) -> str | None:
        if self.failing:
            raise ConnectionRefusedError("the API server is unreachable")
        if self.record is None or resource_version != str(self.version):
            return None
        return self._store(record)

    def _store(self, record: leases.LeaseRecord) -> str:
        self.record, self.version, self.writes = record, self.version + 1, self.writes + 1
        return str(self.version)


def elector(store: MemoryLeases, name: str, clock: Clock) -> leader.Elector:
    return leader.Elector(store, name, TIMING, clock=clock, now=clock.wall)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryLeases:
    return MemoryLeases()


def test_the_first_candidate_creates_the_lease_with_the_whole_record(
    store: MemoryLeases, clock: Clock
) -> None:
    a = elector(store, "op-a_1", clock)
    assert a.try_acquire_or_renew() and a.holds()
    assert store.record == leases.LeaseRecord("op-a_1", 10, clock.wall(), clock.wall(), 0)
    clock.advance(2)
    assert a.try_acquire_or_renew()
    assert store.record is not None
    assert store.record.renew_time == clock.wall()
    assert store.record.acquire_time == EPOCH  # renewing keeps the acquire time
    assert store.record.transitions == 0


def test_a_standby_never_wins_while_the_leader_renews(store: MemoryLeases, clock: Clock) -> None:
    a, b = elector(store, "op-a_1", clock), elector(store, "op-b_2", clock)
    assert a.try_acquire_or_renew()
    for _ in range(50):  # 100 s: ten lease durations
        clock.advance(2)
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
        assert not b.holds()
    assert store.record is not None and store.record.holder == "op-a_1"


def test_a_standby_takes_over_a_lease_duration_after_it_saw_the_last_renewal(
    store: MemoryLeases, clock: Clock
) -> None:
    a, b = elector(store, "op-a_1", clock), elector(store, "op-b_2", clock)
    assert a.try_acquire_or_renew()
    clock.advance(1)
    assert not b.try_acquire_or_renew()  # b sees a's record at t = 1; a dies now
    clock.advance(9.9)
    assert not b.try_acquire_or_renew()  # 9.9 s after b saw it: not yet
    clock.advance(0.1)
    assert b.try_acquire_or_renew() and b.holds()
    assert store.record is not None
    assert store.record.holder == "op-b_2"
    assert store.record.transitions == 1
    assert store.record.acquire_time == store.record.renew_time == clock.wall()
    # The old leader's own deadline passed long before: it acted until t = 8 at most.
    assert not a.holds()


def test_a_standby_that_saw_the_lease_late_waits_a_whole_duration_from_then(
    store: MemoryLeases, clock: Clock
) -> None:
    """Expiry is timed from when the standby saw the record, never from its renewTime:
    a renewTime that looks old on a skewed wall clock does not make the lease free."""
    a = elector(store, "op-a_1", clock)
    assert a.try_acquire_or_renew()
    assert store.record is not None
    store.record = leases.LeaseRecord("op-a_1", 10, EPOCH, EPOCH - timedelta(hours=1), 0)
    b = elector(store, "op-b_2", clock)
    assert not b.try_acquire_or_renew()
    clock.advance(9)
    assert not b.try_acquire_or_renew()
    clock.advance(1)
    assert b.try_acquire_or_renew()


def test_each_renewal_restarts_the_standbys_wait(store: MemoryLeases, clock: Clock) -> None:
    a, b = elector(store, "op-a_1", clock), elector(store, "op-b_2", clock)
    assert a.try_acquire_or_renew()
    for _ in range(4):
        assert not b.try_acquire_or_renew()
        clock.advance(9)
        assert a.try_acquire_or_renew()  # renewed just in time, 9 s after b's last look
    assert not b.try_acquire_or_renew()


def test_two_candidates_racing_for_one_free_lease_never_both_win(
    store: MemoryLeases, clock: Clock
) -> None:
    a = elector(store, "op-a_1", clock)
    b, c = elector(store, "op-b_2", clock), elector(store, "op-c_3", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew() and not c.try_acquire_or_renew()
    clock.advance(11)  # a is gone; b and c both find its record expired
    seen = store.read(1)
    # Both read the same version before either writes; only the first write lands.
    store.read = lambda timeout: seen  # type: ignore[method-assign]
    assert [b.try_acquire_or_renew(), c.try_acquire_or_renew()] == [True, False]
    assert store.record is not None and store.record.holder == "op-b_2"
    assert store.record.transitions == 1
    assert b.holds() and not c.holds()


def test_a_leader_that_cannot_renew_stops_at_its_deadline_before_anyone_may_take_over(
    store: MemoryLeases, clock: Clock
) -> None:
    a, b = elector(store, "op-a_1", clock), elector(store, "op-b_2", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    store.failing = True  # a is cut off from the API server; b is not
    clock.advance(7.9)
    assert not a.try_acquire_or_renew()
    assert a.holds()  # within its deadline it still acts
    clock.advance(0.1)
    assert not a.holds()  # 8 s after its last renewal was sent: done
    store.failing = False
    clock.advance(1.9)
    assert not b.try_acquire_or_renew()  # 9.9 s after b saw the renewal: still a's
    clock.advance(0.1)
    assert b.try_acquire_or_renew()


def test_a_leader_that_sees_another_holder_stops_at_once(store: MemoryLeases, clock: Clock) -> None:
    a = elector(store, "op-a_1", clock)
    assert a.try_acquire_or_renew()
    # Someone wrote the Lease over a's (a forced takeover, kubectl edit).
    store.record = leases.LeaseRecord("intruder", 10, clock.wall(), clock.wall(), 1)
    store.version += 1
    clock.advance(2)
    assert not a.try_acquire_or_renew()
    assert not a.holds()


def test_a_fenced_client_refuses_writes_once_the_deadline_has_passed(
    store: MemoryLeases, clock: Clock
) -> None:
    a = elector(store, "op-a_1", clock)
    assert a.try_acquire_or_renew()
    sent: list[str] = []
    refused: list[str] = []

    class Client:
        def call_api(self, method: str, url: str, *args: object, **kwargs: object) -> str:
            sent.append(f"{method} {url}")
            return "ok"

    client = Client()
    leader.fence(client, a, lambda method, url: refused.append(f"{method} {url}"))
    assert client.call_api("POST", "/api/v1/namespaces/t/pods") == "ok"
    clock.advance(8)  # no renewal for the renew deadline
    assert client.call_api("GET", "/api/v1/namespaces/t/pods") == "ok"  # reads still go
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        with pytest.raises(leader.LeadershipLost):
            client.call_api(method, "/api/v1/namespaces/t/pods/x")
    assert sent == ["POST /api/v1/namespaces/t/pods", "GET /api/v1/namespaces/t/pods"]
    assert [r.split()[0] for r in refused] == ["POST", "PUT", "PATCH", "DELETE"]


def test_release_hands_the_lease_to_the_next_try_of_a_standby(
    store: MemoryLeases, clock: Clock
) -> None:
    a, b = elector(store, "op-a_1", clock), elector(store, "op-b_2", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    clock.advance(1)
    assert a.release() and not a.holds()
    assert store.record is not None
    assert (store.record.holder, store.record.duration_seconds) == ("", 1)
    clock.advance(0.5)
    assert b.try_acquire_or_renew()  # no lease duration to wait for
    assert store.record.transitions == 1
    assert not a.release()  # not a's any more: nothing written
    assert store.record.holder == "op-b_2"


def test_a_standby_tries_again_right_when_the_holder_expires(
    store: MemoryLeases, clock: Clock
) -> None:
    a, b = elector(store, "op-a_1", clock), elector(store, "op-b_2", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert b._standby_wait() == TIMING.retry_period
    clock.advance(9)
    assert b._standby_wait() == pytest.approx(1.1)  # the expiry (and a margin), before 2 s


def renewing(store: MemoryLeases) -> tuple[leader.Elector, threading.Event]:
    """A leader on the real clock with short timings, renewing on its thread; and its loss."""
    fast = leader.Timing(lease_duration=1, renew_deadline=0.5, retry_period=0.1)
    elected = leader.Elector(store, "op-a_1", fast)
    assert elected.try_acquire_or_renew()
    lost = threading.Event()
    elected.keep(on_lost=lost.set)
    return elected, lost


def test_the_renewal_thread_calls_on_lost_when_the_api_server_is_gone(
    store: MemoryLeases,
) -> None:
    a, lost = renewing(store)
    store.failing = True
    assert lost.wait(30)
    assert not a.holds()


def test_stopping_the_renewal_thread_is_not_a_loss(store: MemoryLeases) -> None:
    a, lost = renewing(store)
    assert a.release()
    assert not lost.is_set()
    assert store.record is not None and store.record.holder == ""


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        ({"lease_duration": 10, "renew_deadline": 10, "retry_period": 2}, "--renew-deadline"),
        ({"lease_duration": 10, "renew_deadline": 8, "retry_period": 8}, "--retry-period"),
        ({"lease_duration": 10, "renew_deadline": 8, "retry_period": 0}, "--retry-period"),
        ({"lease_duration": 9.5, "renew_deadline": 8, "retry_period": 2}, "--lease-duration"),
    ],
)
def test_timings_that_could_make_two_leaders_are_refused(
    timing: dict[str, float], field: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        leader.Timing(**timing)
    assert refused.value.field == field


def test_the_defaults_let_a_standby_take_over_within_15_seconds() -> None:
    default = leader.Timing()
    assert default.lease_duration + default.retry_period < 15
    assert default.renew_deadline < default.lease_duration


def test_a_lease_record_reads_back_what_it_writes() -> None:
    at = datetime(2026, 12, 3, 12, 0, 1, 123456, tzinfo=UTC)
    record = leases.LeaseRecord("op-a_1", 10, at, at + timedelta(seconds=2), 3)
    spec = record.to_spec()
    assert spec["renewTime"] == "2026-12-03T12:00:03.123456Z"
    assert leases.LeaseRecord.from_spec(spec) == record
    assert leases.LeaseRecord.from_spec({}) == leases.LeaseRecord("", 0, None, None, 0)


def test_identity_is_the_pod_name_and_a_random_suffix() -> None:
    one, two = (
        leader.identity("kubegym-operator-7d9f-abcde"),
        leader.identity("kubegym-operator-7d9f-abcde"),
    )
    assert one.startswith("kubegym-operator-7d9f-abcde_") and one != two


def test_the_lease_namespace_defaults_to_the_watched_then_the_pods_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = tmp_path / "namespace"
    monkeypatch.delenv("KUBEGYM_POD_NAMESPACE", raising=False)
    assert leader.own_namespace("benchmarks", account) == "benchmarks"
    with pytest.raises(ConfigError) as refused:
        leader.own_namespace(None, account)
    assert refused.value.field == "--lease-namespace"
    account.write_text("kubegym-system\n")
    assert leader.own_namespace(None, account) == "kubegym-system"
    monkeypatch.setenv("KUBEGYM_POD_NAMESPACE", "ops")
    assert leader.own_namespace(None, account) == "ops"
