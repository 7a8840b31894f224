"""Leader election on a `coordination.k8s.io/v1` Lease: of several operator replicas, one acts.

`kubegym.operator.standby` waits in `Elector.acquire` until this replica leads;
`kubegym.operator.main` then keeps the Lease (`Elector.keep`, a renewing thread),
fences the controller's API client (`fence`) and hands the Lease back on a clean
stop (`Elector.release`); the Lease's calls are `kubegym.operator.leases`. The rules
are client-go's leader election, in our words:

- A candidate takes the Lease when nobody holds it (no Lease yet, or an empty
  holderIdentity left by a release) or when the holder's record has not changed for
  its leaseDurationSeconds, timed on the candidate's own monotonic clock from when it
  first saw that record. Its renewTime is never compared with the candidate's wall
  clock, so clocks that disagree between nodes cannot make two leaders.
- Every write carries the resourceVersion that was read (optimistic concurrency): of
  two candidates racing for one free Lease the API server accepts one and answers
  409 Conflict to the other.
- The leader renews every retry period. It counts as leader only until the renew
  deadline has passed since it *sent* its last successful renewal. A standby takes
  over no earlier than the lease duration after it *saw* that renewal, which is later;
  the deadline is shorter than the duration, so the two never act at once.
- Past the deadline the leader stops at once: a fenced client refuses its writes and
  ``on_lost`` runs (the operator exits non-zero and restarts as a standby).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from kubegym.errors import ConfigError, KubegymError
from kubegym.operator import leases

log = structlog.get_logger()

# Methods that change nothing: a fenced client still sends them after leadership is lost.
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# A tenth of a second past the expiry, so a standby's try never lands a hair before it.
_EXPIRY_MARGIN = 0.1


class LeadershipLost(KubegymError):
    """A write was refused: this process no longer holds the leader Lease."""


@dataclass(frozen=True)
class Timing:
    """How long a Lease lasts and how often it is renewed (client-go's three durations).

    The defaults let a standby take over within 12 s of the leader's death: the
    lease duration plus at most one retry period before it saw the last renewal.

    Attributes:
        lease_duration: seconds a standby waits after the holder's last change before
            taking over; written as the Lease's leaseDurationSeconds (whole seconds).
        renew_deadline: seconds the leader keeps acting without a successful renewal;
            shorter than the lease duration, the margin that keeps two leaders apart.
        retry_period: seconds between two tries, to renew (leader) or acquire (standby).
    """

    lease_duration: float = 10.0
    renew_deadline: float = 8.0
    retry_period: float = 2.0

    def __post_init__(self) -> None:
        if self.lease_duration != int(self.lease_duration) or self.lease_duration < 1:
            raise ConfigError(
                f"must be a whole number of seconds, at least 1, not {self.lease_duration}",
                field="--lease-duration",
                hint="a Lease's leaseDurationSeconds is an integer",
            )
        if not 0 < self.retry_period < self.renew_deadline:
            raise ConfigError(
                f"must be more than 0 and less than the renew deadline ({self.renew_deadline} s),"
                f" not {self.retry_period}",
                field="--retry-period",
            )
        if not self.renew_deadline < self.lease_duration:
            raise ConfigError(
                f"must be shorter than the lease duration ({self.lease_duration} s), not "
                f"{self.renew_deadline}: otherwise a standby could take over while the leader "
                "still acts",
                field="--renew-deadline",
            )


def identity(hostname: str | None = None) -> str:
    """This process's holder identity: the pod's name (``HOSTNAME``) and a random suffix.

    The suffix makes a restarted pod (same name) a new candidate, which waits for its
    old self's Lease to expire instead of resuming a leadership it may have lost.
    """
    host = hostname or os.environ.get("HOSTNAME") or socket.gethostname()
    return f"{host}_{secrets.token_hex(4)}"


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def own_namespace(watched: str | None, account_file: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """Where the Lease goes when not named: the watched namespace, else the pod's own.

    The pod's own comes from ``KUBEGYM_POD_NAMESPACE`` (the chart sets it from the
    downward API), else from its service account's mounted ``namespace`` file.

    Raises:
        ConfigError: none of them is known (outside a pod, watching every namespace).
    """
    found = watched or os.environ.get("KUBEGYM_POD_NAMESPACE")
    if not found and account_file.is_file():
        found = account_file.read_text().strip()
    if not found:
        raise ConfigError(
            "no namespace for the leader election's Lease",
            field="--lease-namespace",
            hint="name one, or set KUBEGYM_POD_NAMESPACE; outside a pod nothing says which",
        )
    return found


class Elector:
    """One candidate for the leadership of one Lease.

    Args:
        store: the Lease's API calls.
        identity: this candidate's holderIdentity (`identity()`).
        timing: the lease duration, renew deadline and retry period.
        clock: monotonic seconds; for tests.
        now: the wall clock written into the Lease; for tests.
    """

    def __init__(
        self,
        store: leases.Leases,
        identity: str,
        timing: Timing | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,  # for tests
        now: Callable[[], datetime] = lambda: datetime.now(UTC),  # for tests
    ) -> None:
        self.store = store
        self.identity = identity
        self.timing = timing or Timing()
        self._clock = clock
        self._now = now
        self._lock = threading.Lock()
        # The last record seen, its resourceVersion, and when it was first seen (monotonic).
        self._seen: tuple[leases.LeaseRecord, str] | None = None
        self._seen_at = 0.0
        # When the last successful acquire or renewal was sent (monotonic); None: not leading.
        self._renewed_at: float | None = None
        self._tried_at = clock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.log = log.bind(lease=getattr(store, "name", None), identity=identity)

    # --- state ------------------------------------------------------------------------

    def holds(self) -> bool:
        """Whether this candidate leads now: its last renewal was sent within the deadline."""
        with self._lock:
            renewed = self._renewed_at
        return renewed is not None and self._clock() - renewed < self.timing.renew_deadline

    def healthy(self) -> bool:
        """Whether the election loop is alive: it tried within two retry periods and a deadline."""
        limit = 2 * self.timing.retry_period + self.timing.renew_deadline
        return self._clock() - self._tried_at < limit

    def record(self) -> leases.LeaseRecord | None:
        """The Lease's record as last seen (or written) by this candidate."""
        with self._lock:
            return self._seen[0] if self._seen else None

    # --- one try ----------------------------------------------------------------------

    def try_acquire_or_renew(self) -> bool:
        """One try: take the Lease if it is free or expired, renew it if it is ours.

        Returns:
            True when this candidate holds the Lease after the try. A failed call, a
            conflict or a live holder other than this one is False; on a leader that
            saw another holder, leadership ends at once.
        """
        started = self._clock()
        self._tried_at = started
        timeout = self._request_timeout(started)
        try:
            current = self.store.read(timeout)
            # Stamped once the record is read, so a takeover's acquireTime is never before
            # the expiry it was decided on (the deadline still counts from `started`).
            now = self._now()
            if current is None:
                mine = leases.LeaseRecord(self.identity, self._duration(), now, now, 0)
                return self._wrote(mine, self.store.create(mine, timeout), started)
            record, version = current
            self._observe(record, version)
            if record.holder not in ("", self.identity):
                if self._renewed_at is not None:  # someone took it: not ours any more
                    self._end("taken", holder=record.holder)
                if not self._expired(record):
                    return False
            if record.holder == self.identity:
                mine = dataclasses.replace(
                    record, duration_seconds=self._duration(), renew_time=now
                )
            else:
                mine = leases.LeaseRecord(
                    self.identity, self._duration(), now, now, record.transitions + 1
                )
            return self._wrote(mine, self.store.replace(mine, version, timeout), started)
        except Exception as exc:  # any failed call is a failed try; the deadline decides
            self.log.warning("lease_try_failed", error=_describe(exc))
            return False

    def _observe(self, record: leases.LeaseRecord, version: str) -> None:
        with self._lock:
            if self._seen is None or self._seen[1] != version:
                self._seen = (record, version)
                self._seen_at = self._clock()

    def _expired(self, record: leases.LeaseRecord) -> bool:
        with self._lock:
            seen_at = self._seen_at
        return self._clock() - seen_at >= record.duration_seconds

    def _wrote(self, record: leases.LeaseRecord, version: str | None, started: float) -> bool:
        if version is None:  # 409: another candidate wrote between our read and our write
            return False
        with self._lock:
            self._seen = (record, version)
            self._seen_at = self._clock()
            acquired = self._renewed_at is None
            self._renewed_at = started
        if acquired:
            self.log.info("leader_acquired", transitions=record.transitions)
        return True

    def _end(self, why: str, **details: Any) -> None:
        with self._lock:
            self._renewed_at = None
        self.log.warning("leader_lost", why=why, **details)

    def _duration(self) -> int:
        return int(self.timing.lease_duration)

    def _request_timeout(self, started: float) -> float:
        # A leader's call must end before its deadline, so a hung API server is noticed in
        # time; a standby's within a lease duration.
        with self._lock:
            renewed = self._renewed_at
        if renewed is None:
            return self.timing.lease_duration
        return max(0.1, renewed + self.timing.renew_deadline - started)

    # --- the loops --------------------------------------------------------------------

    def acquire(self, stop: threading.Event) -> bool:
        """Block as a standby until this candidate holds the Lease.

        Returns:
            True once it leads; False when `stop` was set first.
        """
        self.log.info("leader_election_standby", **dataclasses.asdict(self.timing))
        while not stop.is_set():
            if self.try_acquire_or_renew():
                return True
            if stop.wait(self._standby_wait()):
                break
        return False

    def _standby_wait(self) -> float:
        # Try every retry period, or right when the holder's record expires if sooner: the
        # takeover then comes a lease duration after the last renewal we saw, not up to a
        # retry period later.
        with self._lock:
            seen, seen_at = self._seen, self._seen_at
        wait = self.timing.retry_period
        if seen is not None and seen[0].holder:
            expires_in = seen_at + seen[0].duration_seconds - self._clock() + _EXPIRY_MARGIN
            wait = min(wait, max(expires_in, 0.0))
        return wait

    def keep(self, on_lost: Callable[[], None]) -> None:
        """Renew the Lease every retry period on a daemon thread while this candidate leads.

        Args:
            on_lost: called once, on that thread, when leadership ends without `release`:
                the renewals failed for the renew deadline, or another holder took the Lease.
        """
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._renew_loop, args=(on_lost,), name="lease-renewal", daemon=True
        )
        self._thread.start()

    def _renew_loop(self, on_lost: Callable[[], None]) -> None:
        while self.holds():
            with self._lock:
                renewed = self._renewed_at or 0.0
            left = renewed + self.timing.renew_deadline - self._clock()
            # Wake at the deadline if it comes before the next try, to stop right then.
            if self._stopping.wait(max(0.0, min(self.timing.retry_period, left))):
                return
            if self.holds():
                self.try_acquire_or_renew()
            if self._stopping.is_set():
                return
        with self._lock:
            expired = self._renewed_at is not None  # else another holder was seen (logged)
        if expired:
            self._end("renew_deadline", seconds=self.timing.renew_deadline)
        on_lost()

    def stop(self) -> None:
        """Stop renewing (without giving up the Lease); returns when the thread has ended."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timing.lease_duration)

    def release(self) -> bool:
        """Stop renewing and hand the Lease back, so a standby takes it at its next try.

        Returns:
            True when the Lease was released; False when this candidate no longer held it
            (the write would then be refused, or would undo another holder's).
        """
        self.stop()
        if not self.holds():
            return False
        with self._lock:
            assert self._seen is not None  # set by the write that made us leader
            record, version = self._seen
        now = self._now()
        # As client-go releases: no holder, a 1 s duration, the transitions kept.
        empty = leases.LeaseRecord("", 1, now, now, record.transitions)
        started = self._clock()
        try:
            written = self.store.replace(empty, version, self._request_timeout(started))
        except Exception as exc:
            self.log.warning("lease_release_failed", error=_describe(exc))
            written = None
        with self._lock:
            self._renewed_at = None
        self.log.info("leader_released", released=written is not None)
        return written is not None


def fence(api_client: Any, elector: Elector, on_refused: Callable[[str, str], None]) -> None:
    """Refuse every write through `api_client` once `elector` no longer leads.

    Wraps the client's one way out (`call_api`), so no code path of the controller can
    write after the renew deadline, even in the moment before the renewal thread notices
    (a process stopped and continued, a thread that was scheduled first).

    Args:
        api_client: the controller's `kubernetes.client.ApiClient`.
        elector: whose leadership the writes need.
        on_refused: told the method and URL of each refused write (before it raises).

    Raises:
        LeadershipLost: from the wrapped client, for a write without leadership.
    """
    send = api_client.call_api

    def fenced(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if method.upper() not in READS and not elector.holds():
            on_refused(method, url)
            raise LeadershipLost(f"{method} {url}: this operator no longer holds the leader Lease")
        return send(method, url, *args, **kwargs)

    api_client.call_api = fenced


def _describe(exc: Exception) -> str:
    # An API error's status and reason, not its headers and body: one short log line a try.
    status = getattr(exc, "status", None)
    if status is not None:
        return f"{type(exc).__name__}: {status} {getattr(exc, 'reason', '')}".strip()
    return f"{type(exc).__name__}: {exc}"[:300]
