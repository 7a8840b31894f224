"""A `coordination.k8s.io/v1` Lease as leader election reads and writes it.

`LeaseRecord` is the part of a Lease's spec that says who holds it; `LeaseClient`
makes the three calls `kubegym.operator.leader.Elector` needs (read, create,
replace at a resourceVersion), on a real API server; `Leases` is their shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class LeaseRecord:
    """What a Lease's spec says about its holder.

    Attributes:
        holder: holderIdentity; empty when the last holder released the Lease.
        duration_seconds: leaseDurationSeconds, the holder's promise to renew within.
        acquire_time: when the holder took the Lease.
        renew_time: when the holder last renewed it (its own wall clock).
        transitions: leaseTransitions, how many times the holder changed.
    """

    holder: str
    duration_seconds: int
    acquire_time: datetime | None
    renew_time: datetime | None
    transitions: int

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> LeaseRecord:
        """Read a Lease's ``spec`` (as the API server's JSON)."""
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=_parse_time(spec.get("acquireTime")),
            renew_time=_parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
        )

    def to_spec(self) -> dict[str, Any]:
        """The Lease's ``spec`` for a write."""
        spec: dict[str, Any] = {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.acquire_time is not None:
            spec["acquireTime"] = _format_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = _format_time(self.renew_time)
        return spec


class Leases(Protocol):
    """The three calls on one Lease the election makes (`LeaseClient` on a real API server)."""

    def read(self, timeout: float) -> tuple[LeaseRecord, str] | None:
        """The Lease's record and resourceVersion; None when there is no Lease."""

    def create(self, record: LeaseRecord, timeout: float) -> str | None:
        """Create the Lease; its resourceVersion, or None when another was first (409)."""

    def replace(self, record: LeaseRecord, resource_version: str, timeout: float) -> str | None:
        """Write the Lease if it is still at `resource_version`; the new one, or None (409)."""


class LeaseClient:
    """`Leases` on the API server, through a `kubernetes.client.ApiClient`.

    Args:
        api_client: a client of its own, so renewals never queue behind the controller's calls.
        namespace: the Lease's namespace.
        name: the Lease's name.
    """

    def __init__(self, api_client: Any, namespace: str, name: str) -> None:
        from kubernetes import client

        self.api: Any = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name

    def read(self, timeout: float) -> tuple[LeaseRecord, str] | None:
        try:
            lease = self.api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=timeout
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return None
            raise
        # The API server's JSON (camelCase, RFC 3339 times), read as any other Lease spec.
        body = self.api.api_client.sanitize_for_serialization(lease)
        version = str(body["metadata"]["resourceVersion"])
        return LeaseRecord.from_spec(body.get("spec") or {}), version

    def create(self, record: LeaseRecord, timeout: float) -> str | None:
        body = {"metadata": {"name": self.name}, "spec": record.to_spec()}
        return self._write(
            lambda: self.api.create_namespaced_lease(self.namespace, body, _request_timeout=timeout)
        )

    def replace(self, record: LeaseRecord, resource_version: str, timeout: float) -> str | None:
        body = {
            "metadata": {"name": self.name, "resourceVersion": resource_version},
            "spec": record.to_spec(),
        }
        return self._write(
            lambda: self.api.replace_namespaced_lease(
                self.name, self.namespace, body, _request_timeout=timeout
            )
        )

    @staticmethod
    def _write(call: Callable[[], Any]) -> str | None:
        try:
            lease = call()
        except Exception as exc:
            if getattr(exc, "status", None) == 409:  # another candidate wrote first
                return None
            raise
        return str(lease.metadata.resource_version)


def _format_time(at: datetime) -> str:
    # A Lease's times are MicroTime: RFC 3339 with microseconds, in UTC.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value))
