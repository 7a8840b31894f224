"""The egress log and summary stay bounded whatever a sandbox sends: a flood of names, a
flood of requests."""

from __future__ import annotations

import json
from pathlib import Path

from kubegym.api import trials
from kubegym.egress import records
from tests.unit.egress.conftest import ask, start_proxy


def _record(host: str, allowed: bool = False) -> records.EgressRecord:
    return records.EgressRecord(
        time="2026-01-01T00:00:00+00:00",
        trial="t",
        method="GET",
        host=host,
        port=80,
        allowed=allowed,
        reason="allowed" if allowed else "not_listed",
        bytes_down=10 if allowed else 0,
    )


def test_a_flood_of_names_is_summed_past_the_cap(tmp_path: Path) -> None:
    proxy = start_proxy(tmp_path, ["pypi.org"])
    try:
        for n in range(trials.EGRESS_HOSTS_MAX + 30):
            ask(proxy.socket, f"GET http://n{n}.example/ HTTP/1.1\r\n\r\n".encode())
        summary = proxy.egress.summary()
    finally:
        proxy.egress.close()
    assert len(summary.hosts) == trials.EGRESS_HOSTS_MAX + 1
    assert summary.hosts[0].host == "n0.example"
    others = summary.hosts[-1]
    assert others.host == trials.EGRESS_OTHERS and others.refused == 30
    assert summary.refused == trials.EGRESS_HOSTS_MAX + 30
    assert len(proxy.records()) == trials.EGRESS_HOSTS_MAX + 30  # the log has every one


def test_the_log_stops_at_its_size_and_the_summary_says_so(tmp_path: Path) -> None:
    path = tmp_path / "egress.jsonl"
    log = records.JsonlLog(path, ["pypi.org"], max_bytes=2000)
    for _ in range(100):
        log(_record("pypi.org", allowed=True))
    log.close()
    assert path.stat().st_size <= 2000
    written = len(path.read_text().splitlines())
    assert 0 < written < 100 and log.unwritten == 100 - written
    summary = log.summary()
    assert not summary.complete
    assert summary.hosts[0].allowed == 100 and summary.hosts[0].bytes_down == 1000


def test_a_cut_last_line_is_skipped_and_a_full_one_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "egress.jsonl"
    line = json.dumps(_record("pypi.org").to_json())
    path.write_text(line + "\n" + line[:30])
    assert records.read(path) == [_record("pypi.org")]
    summary = records.summarise(records.read(path), ["pypi.org"])
    assert summary.complete and summary.hosts[0].refused == 1
