"""The operator reads a finished trial's requests from the real shared proxy, puts them in
the Trial's status (bounded, whatever the sandbox asked for) and closes the trial there."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from kubegym.api import trials
from kubegym.egress import credentials, records
from kubegym.errors import InfraError
from kubegym.operator import egress
from kubegym.operator import results as operator_results
from kubegym.operator.settings import EgressProxy
from tests.unit.egress_cluster.test_shared_proxy import KEY, Running, get, grant, running
from tests.unit.operator import builders

__all__ = ["running"]  # the fixture, used by name


def proxy_of(r: Running, key: bytes = KEY) -> EgressProxy:
    return EgressProxy(
        host="127.0.0.1",
        port=r.proxy_port,
        namespace="kubegym-system",
        pod_labels={"app": "egress"},
        records_url=f"http://127.0.0.1:{r.records_port}",
        key=key,
    )


def test_the_operator_reads_then_closes_a_trials_records(running: Running) -> None:
    a = grant("trial-a", hosts=("localhost", "pypi.org"))
    assert get(running, a)[0] == 200
    assert get(running, a, host="example.org")[0] == 403
    reader = egress.Records(proxy_of(running))
    taken = reader.read("bench", "trial-a", 0)
    assert [(r.host, r.allowed) for r in taken.records] == [
        ("localhost", True),
        ("example.org", False),
    ]
    assert taken.dropped == 0 and taken.since <= dt.datetime.now(dt.UTC)
    status = egress.status_of(["localhost", "pypi.org"], taken.records, complete=True)
    assert status.network == "allowlist" and status.complete
    assert [(h.host, h.allowed, h.refused) for h in status.hosts] == [
        ("localhost", 1, 0),
        ("example.org", 0, 1),
    ]
    assert reader.read("bench", "trial-a", 0).records == taken.records  # reading twice is safe
    reader.close("bench", "trial-a", 0)
    assert get(running, a)[0] == 407
    assert reader.read("bench", "trial-a", 0).records == []


def test_without_the_operators_key_the_records_stay_shut(running: Running) -> None:
    with pytest.raises(InfraError, match="EgressProxyUnavailable"):
        egress.Records(proxy_of(running, key=b"w" * 32)).read("bench", "trial-a", 0)


def test_an_unreachable_proxy_is_an_infra_error() -> None:
    proxy = EgressProxy("127.0.0.1", 1, "ns", {"a": "b"}, "http://127.0.0.1:1", KEY)
    with pytest.raises(InfraError, match="EgressProxyUnavailable"):
        egress.Records(proxy, timeout=2).read("bench", "trial-a", 0)


def test_a_flood_of_names_cannot_grow_the_status_past_its_bound() -> None:
    """A sandbox asking for thousands of distinct names: the status lists the first
    `EGRESS_HOSTS_MAX` and adds the rest up in one row, losing no count."""
    refused = {"time": "t", "trial": "x", "method": "CONNECT", "port": 443, "allowed": False}
    found = [
        records.EgressRecord(host=f"h{i}.example", reason="not_listed", **refused)  # type: ignore[arg-type]
        for i in range(trials.EGRESS_HOSTS_MAX + 300)
    ]
    status = egress.status_of(["pypi.org"], found, complete=True)
    assert len(status.hosts) == trials.EGRESS_HOSTS_MAX + 1
    assert status.hosts[-1].host == trials.EGRESS_OTHERS and status.hosts[-1].refused == 300
    assert sum(h.refused for h in status.hosts) == len(found)
    trials.TrialStatus(egress=status)  # within the schema's bounds


@pytest.mark.parametrize("complete", [True, False])
def test_the_trials_results_carry_its_status_egress(complete: bool) -> None:
    """TrialResult.egress is the status's, with `complete` kept: a partial count must never
    read as the whole in the results."""
    found = [
        records.EgressRecord(
            host="pypi.org", reason="allowed", allowed=True, bytes_down=10, **_BASE
        ),
        records.EgressRecord(host="evil.example", reason="not_listed", allowed=False, **_BASE),
    ]
    status = egress.status_of(["pypi.org"], found, complete=complete)
    view = builders.trial_view(phase="Succeeded", exit_reason="submitted", egress=status)
    result = operator_results.result_of(view, builders.task())
    assert result.egress is not None
    assert result.egress.complete is complete and result.egress.log is None
    assert result.egress.allowlist == ["pypi.org"]
    assert [(h.host, h.allowed, h.refused, h.bytes_down) for h in result.egress.hosts] == [
        ("pypi.org", 1, 0, 10),
        ("evil.example", 0, 1, 0),
    ]


_BASE: dict[str, Any] = {"time": "t", "trial": "x", "method": "CONNECT", "port": 443}


def _finishing(created: dt.datetime, **task: Any) -> tuple[Any, Any, Any]:
    view = builders.trial_view(name="trial-a", phase="Running").replace(
        namespace="bench", created=created
    )
    return view, builders.task(**task), builders.run_spec(sandboxEgress={"hosts": ["pypi.org"]})


def test_a_finishing_trial_gets_every_attempts_requests(running: Running) -> None:
    for attempt in (0, 1):
        grant_ = credentials.Grant("bench", "trial-a", attempt, ("localhost",), expires=5_000)
        assert get(running, credentials.mint(KEY, grant_))[0] == 200
    # Created before the proxy started: requests may have gone to a proxy since restarted.
    view, task, run = _finishing(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    early = egress.finish(view, 1, task, run, proxy_of(running))
    assert early.egress is not None and early.egress.complete is False and early.problem is None
    view, task, run = _finishing(dt.datetime.now(dt.UTC))
    ended = egress.finish(view, 1, task, run, proxy_of(running))
    assert ended.attempts == [0, 1] and ended.problem is None
    assert ended.egress is not None and ended.egress.complete is True
    assert ended.egress.allowlist == ["pypi.org"]
    assert [(h.host, h.allowed) for h in ended.egress.hosts] == [("localhost", 2)]


def test_an_unreachable_proxy_makes_the_counts_incomplete_and_says_why() -> None:
    proxy = EgressProxy("127.0.0.1", 1, "ns", {"a": "b"}, "http://127.0.0.1:1", KEY)
    view, task, run = _finishing(dt.datetime.now(dt.UTC))
    ended = egress.finish(view, 0, task, run, proxy)
    assert ended.egress is not None and ended.egress.complete is False
    assert ended.problem is not None and "EgressProxyUnavailable" in ended.problem
    assert ended.attempts == [0]  # still closed at the proxy, when it is back


def test_an_open_or_offline_sandbox_has_no_records_to_read() -> None:
    view, task, run = _finishing(dt.datetime.now(dt.UTC), network="egress")
    ended = egress.finish(view, 0, task, run, None)
    assert ended.egress is not None and ended.egress.network == "open" and ended.attempts == []
    view, task, _ = _finishing(dt.datetime.now(dt.UTC))
    offline = egress.finish(view, 0, task, builders.run_spec(), None)
    assert offline == egress.Finished(None, [])
