"""Leader election against the real API server: the Lease it writes, and races it never loses twice.

Candidates here are `kubegym.operator.leader.Elector`s in threads of the test, logged in
with the operator's ServiceAccount (operator/rbac.yaml's rules, so the `leases` rule is
tested too). The whole operator, two processes, is tests/cluster/test_operator_ha.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym.devcluster import cluster
from kubegym.operator import kube, leader, leases
from tests.support.kube import admin_client

pytestmark = pytest.mark.cluster

# Short leases: these tests wait for expiry several times.
FAST = leader.Timing(lease_duration=2, renew_deadline=1.5, retry_period=0.5)


@pytest.fixture
def operator_client(operator_kubeconfig: Path) -> Iterator[Any]:
    with admin_client(operator_kubeconfig) as client:  # the operator's token, not the admin's
        yield client


def candidates(client: Any, namespace: str, count: int, name: str = "race") -> list[leader.Elector]:
    return [
        leader.Elector(leases.LeaseClient(client, namespace, name), f"candidate-{i}", FAST)
        for i in range(count)
    ]


def all_at_once(electors: list[leader.Elector]) -> list[bool]:
    """Every candidate tries in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(electors))
    won = [False] * len(electors)

    def attempt(i: int) -> None:
        barrier.wait()
        won[i] = electors[i].try_acquire_or_renew()

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(electors))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return won


def read_lease(api_client: Any, namespace: str, name: str) -> dict[str, Any]:
    from kubernetes import client

    lease = client.CoordinationV1Api(api_client).read_namespaced_lease(name, namespace)
    body: dict[str, Any] = api_client.sanitize_for_serialization(lease)
    return body


def test_the_lease_holds_client_gos_record(
    operator_client: Any, api_client: Any, namespace: str
) -> None:
    (a,) = candidates(operator_client, namespace, 1, "record")
    assert a.try_acquire_or_renew()
    spec = read_lease(api_client, namespace, "record")["spec"]
    assert spec["holderIdentity"] == "candidate-0"
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == spec["renewTime"]
    first = leases.LeaseRecord.from_spec(spec)
    time.sleep(0.01)
    assert a.try_acquire_or_renew()
    renewed = leases.LeaseRecord.from_spec(read_lease(api_client, namespace, "record")["spec"])
    assert renewed.acquire_time == first.acquire_time
    assert renewed.renew_time is not None and first.renew_time is not None
    assert renewed.renew_time > first.renew_time  # microseconds kept through the API server


def test_racing_candidates_never_both_win(
    operator_client: Any, api_client: Any, namespace: str
) -> None:
    """Five candidates, released together, race to create the Lease and then, round after
    round, to take it over once its holder stops renewing: one winner each time."""
    electors = candidates(operator_client, namespace, 5)
    won = all_at_once(electors)
    assert won.count(True) == 1, won
    holder = electors[won.index(True)]
    for _ in range(4):
        rivals = [e for e in electors if e is not holder]
        for rival in rivals:  # each sees the holder's last renewal, then the holder dies
            assert not rival.try_acquire_or_renew()
        time.sleep(FAST.lease_duration + 0.2)
        won = all_at_once(rivals)
        assert won.count(True) == 1, won
        assert not holder.holds()  # its deadline passed before anyone could take over
        holder = rivals[won.index(True)]
        assert read_lease(api_client, namespace, "race")["spec"]["holderIdentity"] == (
            holder.identity
        )
    assert read_lease(api_client, namespace, "race")["spec"]["leaseTransitions"] == 4


def test_a_live_holder_keeps_the_lease_against_a_candidate_that_never_stops_trying(
    operator_client: Any, namespace: str
) -> None:
    a, b = candidates(operator_client, namespace, 2, "held")
    assert a.try_acquire_or_renew()
    lost = threading.Event()
    a.keep(on_lost=lost.set)
    try:
        tries = 0
        deadline = time.monotonic() + 4 * FAST.lease_duration
        while time.monotonic() < deadline:
            assert not b.try_acquire_or_renew()
            tries += 1
            time.sleep(0.05)
        assert tries > 20 and a.holds() and not lost.is_set()
    finally:
        a.release()


def test_a_released_lease_is_taken_at_the_next_try(
    operator_client: Any, api_client: Any, namespace: str
) -> None:
    a, b = candidates(operator_client, namespace, 2, "handover")
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.keep(on_lost=lambda: None)
    assert a.release()
    spec = read_lease(api_client, namespace, "handover")["spec"]
    assert spec.get("holderIdentity", "") == ""
    assert b.try_acquire_or_renew()  # at once: no lease duration to wait out
    spec = read_lease(api_client, namespace, "handover")["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("candidate-1", 1)


def test_a_fenced_client_refuses_writes_once_the_lease_is_lost(
    operator_client: Any, api_client: Any, namespace: str, dev_cluster: cluster.ClusterInfo
) -> None:
    """The controller's own client: reads go on, writes stop at the renew deadline."""
    from kubernetes import client

    (a,) = candidates(operator_client, namespace, 1, "fenced")
    assert a.try_acquire_or_renew()
    controller_api = kube.connect(dev_cluster.kubeconfig)
    refused: list[str] = []
    leader.fence(controller_api, a, lambda method, url: refused.append(method))
    core = client.CoreV1Api(controller_api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "while-leading"}})
    time.sleep(FAST.renew_deadline)  # no renewal: the deadline passes
    assert core.list_namespaced_config_map(namespace).items  # reads still go
    with pytest.raises(leader.LeadershipLost):
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "after-losing"}})
    assert refused == ["POST"]
    names = {
        c.metadata.name
        for c in client.CoreV1Api(api_client).list_namespaced_config_map(namespace).items
    }
    assert "while-leading" in names and "after-losing" not in names
