"""What the egress proxy records: one `EgressRecord` per request, let through or refused.

The proxy (`kubegym.egress.proxy`) hands every record to a sink, a plain callable.
`JsonlLog` is the one a trial gets: it appends each record to the trial's
``egress.jsonl`` as it happens (flushed, so a killed run keeps what happened) and
counts per host for the trial's `kubegym.api.results.EgressSummary` (`JsonlLog.summary`).
`summarise` builds the same summary from records read back.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from kubegym.api import results as results_api
from kubegym.api import trials

EGRESS_JSONL: Final = "egress.jsonl"
"""A trial's egress log, next to its results.json."""

LOG_BYTES: Final = 64 * 2**20
"""Most bytes a trial's egress log holds: a sandbox sending requests in a loop must not fill
the host's disk. Past it, requests are still counted, not written, and the summary says so."""


@dataclass(frozen=True)
class EgressRecord:
    """One request to the proxy and what came of it."""

    time: str
    """When the request arrived (ISO 8601, UTC)."""

    trial: str
    """Whose request it was; empty when the client could not be identified."""

    method: str
    """``CONNECT`` (a TLS tunnel) or the plain HTTP method; empty when unreadable."""

    host: str
    """The host asked for, as the client wrote it (at most 253 characters)."""

    port: int
    """The port asked for (0 when unreadable)."""

    allowed: bool
    """Whether the proxy let it through (the connection was made)."""

    reason: str
    """Why: ``allowed``, or a refusal's code (``not_listed``, ``ip_literal``, ``port``,
    ``private_address``, ``host_mismatch``, ``sni_mismatch``, ``not_tls``, ``malformed``,
    ``too_large``, ``identity``, ``unresolved``, ``unreachable``…)."""

    bytes_up: int = 0
    """Bytes from the client to the host (request body, tunnelled bytes)."""

    bytes_down: int = 0
    """Bytes from the host to the client."""

    seconds: float = 0.0
    """How long the request (or the tunnel) lasted."""

    address: str = ""
    """The address the proxy connected to, resolved by itself; empty when it connected nowhere."""

    idle: bool = False
    """Whether the proxy ended it because no byte moved for its idle timeout."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Sink = Callable[[EgressRecord], None]
"""Where the proxy sends each record; called on the proxy's event loop, so keep it quick."""


class _Counts:
    """Per-host totals, in the order hosts were first seen; past `trials.EGRESS_HOSTS_MAX`
    hosts, one `trials.EGRESS_OTHERS` row adds up the rest (a sandbox asking for a million
    names gets a bounded summary, and a bounded proxy's memory)."""

    def __init__(self) -> None:
        self.hosts: dict[str, results_api.EgressHost] = {}

    def add(self, record: EgressRecord) -> None:
        key = record.host
        if key not in self.hosts and len(self.hosts) >= trials.EGRESS_HOSTS_MAX:
            key = trials.EGRESS_OTHERS
        row = self.hosts.setdefault(key, results_api.EgressHost(host=key))
        if record.allowed:
            row.allowed += 1
        else:
            row.refused += 1
        row.bytes_up += record.bytes_up
        row.bytes_down += record.bytes_down


def summarise(
    records: Iterable[EgressRecord], allowlist: Iterable[str]
) -> results_api.EgressSummary:
    """A trial's egress summary (network ``allowlist``) from its records."""
    counts = _Counts()
    for record in records:
        counts.add(record)
    return results_api.EgressSummary(
        network="allowlist",
        allowlist=sorted(allowlist),
        hosts=list(counts.hosts.values()),
        log=EGRESS_JSONL,
    )


def read(path: Path) -> list[EgressRecord]:
    """The records of an ``egress.jsonl``; a last line cut short by a crash is skipped."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(EgressRecord(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return found


class JsonlLog:
    """A trial's egress log: appends every record to ``path`` and keeps per-host counts.

    A sink for `kubegym.egress.proxy.EgressProxy`; safe to call from the proxy's thread
    while another thread reads `summary`.
    """

    def __init__(self, path: Path, allowlist: Iterable[str], max_bytes: int = LOG_BYTES) -> None:
        self.path = path
        self.allowlist = sorted(allowlist)
        self.max_bytes = max_bytes
        self.unwritten = 0
        """Records counted but not written: the log was full."""
        self._lock = threading.Lock()
        self._counts = _Counts()
        self._file: TextIO | None = path.open("a", encoding="utf-8")
        self._written = path.stat().st_size

    def __call__(self, record: EgressRecord) -> None:
        line = json.dumps(record.to_json(), ensure_ascii=False) + "\n"
        with self._lock:
            self._counts.add(record)
            if self._file is None:
                return
            size = len(line.encode("utf-8"))
            if self._written + size > self.max_bytes:
                self.unwritten += 1
                return
            self._file.write(line)
            self._file.flush()
            self._written += size

    def summary(self) -> results_api.EgressSummary:
        """What the trial contacted so far."""
        with self._lock:
            hosts = [row.model_copy() for row in self._counts.hosts.values()]
            complete = self.unwritten == 0
        return results_api.EgressSummary(
            network="allowlist",
            allowlist=self.allowlist,
            hosts=hosts,
            log=EGRESS_JSONL,
            complete=complete,
        )

    def close(self) -> None:
        """Close the file (idempotent); later records are counted but not written."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
