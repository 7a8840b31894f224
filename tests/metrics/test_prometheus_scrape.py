"""A real Prometheus (Debian's package) scrapes a real exporter: series, labels, values, rules.

Two exporters: the typed API on a thread of this process (exact values, every
rule and alert), and `kubegym run --metrics-port` on the quickstart in a
subprocess (the series a real local run exports, checked against the files it
leaves). Skipped, with the reason, where ``prometheus`` is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from kubegym import metrics
from kubegym.devcluster import processes, prometheus
from tests.metrics.conftest import FakeClock

RUN = metrics.RunRef("team-a", "bench")
SELECT = 'namespace="team-a",run="bench"'


def only(samples: list[prometheus.Sample]) -> float:
    assert len(samples) == 1, samples
    return prometheus.value(samples[0])


def test_the_api_s_series_reach_prometheus_with_their_labels_and_values(
    recorder: metrics.Metrics, prom: prometheus.Prometheus
) -> None:
    recorder.run_planned(RUN, trials=8, budget_usd=20.0, tasks=["fmnist"], agents=["gpt"])
    recorder.set_phases(RUN, {"Pending": 4, "Running": 2, "Succeeded": 1, "Failed": 1})
    recorder.set_spend(RUN, 19.0)
    recorder.steps_taken(RUN, agent="gpt", prompt_tokens=1200, completion_tokens=80, cost_usd=0.5)
    recorder.trial_finished(RUN, task="fmnist", agent="gpt", phase="Succeeded", seconds=420.0)
    recorder.set_aup(RUN, agent="gpt", profile="best_attempt", value=1.17)
    recorder.set_best_score(RUN, task="fmnist", agent="gpt", score=0.913)
    with recorder.reconcile("Trial"):
        pass
    recorder.upload("s3", nbytes=4096, seconds=0.05)

    planned = prom.wait_for(f"kubegym_run_trials_planned{{{SELECT}}}")
    labels = planned[0]["metric"]
    assert labels["job"] == "kubegym" and labels["instance"].startswith("127.0.0.1:")
    assert only(planned) == 8
    assert only(prom.query(f'kubegym_trials{{{SELECT},phase="Running"}}')) == 2
    assert only(prom.query(f'kubegym_agent_tokens_total{{{SELECT},type="prompt"}}')) == 1200
    assert only(prom.query(f'kubegym_aup{{{SELECT},agent="gpt",profile="best_attempt"}}')) == 1.17
    assert only(prom.query(f'kubegym_best_score{{{SELECT},task="fmnist"}}')) == 0.913
    bucket = f'kubegym_trial_duration_seconds_bucket{{{SELECT},task="fmnist",le="600.0"}}'
    assert only(prom.query(bucket)) == 1
    assert only(prom.query('kubegym_store_upload_bytes_total{backend="s3"}')) == 4096
    assert only(prom.query('kubegym_operator_reconcile_errors_total{kind="Trial"}')) == 0

    # The recording rules evaluate on what was scraped, aggregated to (namespace, run).
    ratio = prom.wait_for(f"kubegym_run:progress:ratio{{{SELECT}}}")
    assert ratio[0]["metric"] == {"__name__": "kubegym_run:progress:ratio", **_run_labels()}
    assert only(ratio) == 0.25
    assert only(prom.wait_for(f"kubegym_run:spend:ratio{{{SELECT}}}")) == 0.95
    assert only(prom.wait_for(f"kubegym_run_agent:aup:max{{{SELECT}}}")) == 1.17

    # 95 % spent fires at once; the fake clock left the run's last progress in 2023,
    # so "no progress" is pending (it waits a minute before it fires).
    prom.wait_for('ALERTS{alertname="KubegymBudgetNearlySpent",alertstate="firing"}')
    stuck = prom.wait_for('ALERTS{alertname="KubegymRunNoProgress"}')
    assert stuck[0]["metric"]["run"] == "bench" and stuck[0]["metric"]["alertstate"] == "pending"


def test_a_rising_failure_count_shows_in_the_rate_and_the_alert(
    recorder: metrics.Metrics, prom: prometheus.Prometheus
) -> None:
    recorder.run_planned(RUN, trials=8)
    # Prometheus must see the counter at 0 before it moves, as it would in a real run.
    zero = f'kubegym_infra_failures_total{{{SELECT},reason="oom_killed"}}'
    prom.wait_for(f"count_over_time({zero}[1m]) >= 2")
    recorder.infra_failure(RUN, "OOMKilled", count=5)
    recorder.retried(RUN, "OOMKilled", count=5)
    rate = prom.wait_for(
        f'kubegym_run_reason:infra_failures:rate5m{{{SELECT},reason="oom_killed"}} > 0'
    )
    assert rate[0]["metric"]["reason"] == "oom_killed"
    firing = prom.wait_for('ALERTS{alertname="KubegymInfraFailuresRising",alertstate="firing"}')
    assert firing[0]["metric"]["reason"] == "oom_killed"


def test_a_forgotten_run_disappears_from_prometheus(
    recorder: metrics.Metrics, clock: FakeClock, prom: prometheus.Prometheus
) -> None:
    other = metrics.RunRef("team-a", "kept")
    recorder.run_planned(RUN, trials=2)
    recorder.run_planned(other, trials=3)
    prom.wait_for("count(kubegym_run_trials_planned) == 2")
    recorder.forget_run(RUN)
    # The next scrape lacks the run's series: Prometheus marks them stale at once.
    left = prom.wait_for("kubegym_run_trials_planned", until=lambda r: len(r) == 1)
    assert left[0]["metric"]["run"] == "kept"


@pytest.mark.usefixtures("prometheus_binary")
def test_kubegym_run_exports_a_local_run_while_it_goes(repo: Path, tmp_path: Path) -> None:
    port = processes.free_port()
    out = tmp_path / "out"
    with prometheus.running(tmp_path / "prometheus", [f"127.0.0.1:{port}"]) as prom:
        command = [
            sys.executable,
            "-m",
            "kubegym",
            "run",
            str(repo / "examples" / "quickstart.yaml"),
            "--out",
            str(out),
            "--metrics-port",
            str(port),
            # Long enough for the checks below; the process is stopped once they pass.
            "--metrics-linger",
            "300",
        ]
        env = {**os.environ, "KUBEGYM_LOG_FORMAT": "json"}
        log = (tmp_path / "run.log").open("w")
        run = subprocess.Popen(command, cwd=repo, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            local = 'namespace="local",run="quickstart"'
            planned = prom.wait_for(f"kubegym_run_trials_planned{{{local}}}", timeout=120)
            assert only(planned) == 12
            # The whole grid finishes while Prometheus watches (the linger keeps the last values).
            prom.wait_for(
                f"kubegym_run:progress:ratio{{{local}}} == 1",
                timeout=300,
                until=lambda r: run.poll() is None and bool(r),
            )
            prom.wait_for(f'kubegym_aup{{{local},agent="replay"}}', timeout=60)
            _check_against_the_run_s_files(prom, local, out)
        finally:
            run.terminate()
            run.wait(timeout=30)
            log.close()


def _check_against_the_run_s_files(prom: prometheus.Prometheus, local: str, out: Path) -> None:
    trials = [json.loads(p.read_text()) for p in out.glob("trials/*/results.json")]
    assert len(trials) == 12
    assert only(prom.query(f'kubegym_trials{{{local},phase="Succeeded"}}')) == 12
    assert only(prom.query(f'kubegym_trials{{{local},phase="Pending"}}')) == 0
    steps = Counter[str]()
    for trial in trials:
        steps[trial["agent"]] += trial["steps"]
    for agent, count in steps.items():
        assert only(prom.query(f'kubegym_agent_steps_total{{{local},agent="{agent}"}}')) == count
    finished = prom.query(f"sum by (task, agent) (kubegym_trials_finished_total{{{local}}})")
    assert {(s["metric"]["task"], s["metric"]["agent"]): prometheus.value(s) for s in finished} == {
        (task, agent): 2
        for task in ("polyfit", "xor-blobs", "prisoners-dilemma")
        for agent in ("baseline", "replay")
    }
    durations = prom.query(f"sum(kubegym_trial_duration_seconds_count{{{local}}})")
    assert only(durations) == 12
    # The leaderboard's AUP and each agent's best score, as the run wrote them.
    board = json.loads((out / "leaderboard.json").read_text())
    for agent in ("baseline", "replay"):
        for profile in ("best_attempt", "best_submission"):
            series = f'kubegym_aup{{{local},agent="{agent}",profile="{profile}"}}'
            assert only(prom.query(series)) == pytest.approx(board["agents"][agent][profile])
    assert not prom.query(f'kubegym_aup{{{local},agent="task-baseline"}}')
    polyfit = max(
        t["best_attempt"] for t in trials if t["task"] == "polyfit" and t["agent"] == "replay"
    )
    best = f'kubegym_best_score{{{local},task="polyfit",agent="replay"}}'
    assert only(prom.query(best)) == pytest.approx(polyfit)
    # No infrastructure failure in the quickstart: every reason's counter exists, at 0.
    failures = prom.query(f"kubegym_infra_failures_total{{{local}}}")
    assert {s["metric"]["reason"] for s in failures} == metrics.INFRA_REASONS
    assert {prometheus.value(s) for s in failures} == {0.0}


def _run_labels() -> dict[str, str]:
    return {"namespace": RUN.namespace, "run": RUN.name}
