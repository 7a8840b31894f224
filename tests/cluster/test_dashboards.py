"""Every Grafana panel's query, evaluated against a real Prometheus scraping a real run.

The setup is test_end_to_end's: the control plane, the operator (with its
ServiceAccount's token), MinIO as the S3 store and Prometheus with kubegym's rules
are real servers; `ProcessKubelet` runs the pods' programs. The run has a budget
and its first sandbox is OOM-killed once, so the failure, retry and spend panels
see real series too. Then each panel's queries, with the template variables set
to the run's values as Grafana would, must return data; each variable's values
must include the run's.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubegym import dashboards
from kubegym.devcluster import cluster, minio, prometheus
from tests.support.kube import wait_for
from tests.unit.dashboards.promql import label_values

from . import stack
from .harness import G, V

pytestmark = pytest.mark.cluster

RUN = "dash"
AGENTS = ("baseline", "replay")
TASK = "polyfit"

# Targets ("file: panel title: refId") that may return nothing in this run, and why.
# Each must still parse: /api/v1/query answers success with an empty result. None at
# present: every counter starts at 0 when a run is planned (the store's at the first
# upload), so even the failure and retry panels have series. Keep it short, explained.
MAY_BE_EMPTY: dict[str, str] = {}
# A target may be NaN (a quantile over a window in which its histogram never moved: the
# histograms' series appear with their first observation, so `rate` cannot see it when
# all trials start or all uploads happen within one scrape). Each panel must still show
# one number: the latency panels add the mean since start for that reason. Panels whose
# every value may be NaN here, and why:
MAY_BE_NAN: dict[str, str] = {}


def substitute(expr: str, values: dict[str, str]) -> str:
    """``expr`` with Grafana's variables replaced, as Grafana does for a regex matcher."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], expr)


def _panels() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, text in dashboards.files().items():
        for panel in json.loads(text)["panels"]:
            if panel["type"] != "row":
                yield name, panel


def test_every_dashboard_panel_returns_data_for_a_real_run(
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    kubegym_crds: list[str],
    namespace: str,
    repo_root: Path,
    s3_server: minio.S3Server,
    tmp_path: Path,
) -> None:
    with stack.running(api_client, dev_cluster, namespace, repo_root, s3_server, tmp_path) as st:
        prom, kubelet, custom = st.prom, st.kubelet, st.custom
        run = stack.polyfit_run(
            RUN,
            repo_root,
            stack.s3_store(st, s3_server.endpoint),
            budgetUsd=5.0,
            retryPolicy={"backoffSeconds": 1},
        )
        custom.create_namespaced_custom_object(
            G, V, namespace, "tasks", stack.polyfit_task(repo_root)
        )
        custom.create_namespaced_custom_object(G, V, namespace, "benchmarkruns", run)
        killed: set[str] = set()
        failures = (
            f'kubegym_infra_failures_total{{namespace="{namespace}",run="{RUN}",reason="evicted"}}'
        )

        def finished() -> dict[str, Any] | None:
            # The baseline's first sandbox is evicted for node pressure once (then retried), after
            # Prometheus has scraped the failure counter at 0: `rate` needs the step.
            if not killed and prom.query(f"{failures} == 0"):
                for pod in kubelet.pods("kubegym.io/role=sandbox,kubegym.io/agent=baseline"):
                    if pod["status"].get("phase") == "Running":
                        kubelet.evict(pod)
                        killed.add(pod["metadata"]["labels"]["kubegym.io/attempt"])
            for pod in kubelet.running_agents():
                labels = pod["metadata"]["labels"]
                if labels["kubegym.io/agent"] == "baseline" and (
                    not killed or labels["kubegym.io/attempt"] in killed
                ):
                    continue  # it waits for its sandbox's end, or that sandbox is gone
                kubelet.run_attempt(pod)
            return stack.stored_status(st, namespace, RUN)

        status = wait_for(finished, timeout=300, interval=0.5)
        assert status["phase"] == "Succeeded", status
        assert killed, "no sandbox pod was seen running"

        values = {
            "namespace": namespace,
            "run": RUN,
            "agent": "|".join(AGENTS),
            "task": TASK,
            "__rate_interval": "1m",
        }
        selector = f'namespace="{namespace}",run="{RUN}"'
        # The rules have evaluated over the finished run before panels are read.
        prom.wait_for(f"kubegym_run:progress:ratio{{{selector}}} == 1", timeout=60)
        prom.wait_for(
            f'kubegym_run_reason:infra_failures:rate5m{{{selector},reason="evicted"}} > 0',
            timeout=60,
        )
        results = _evaluate_panels(prom, values)
        _check_variables(prom, values, namespace)

    report = "\n".join(f"{key}: {samples}" for key, samples in sorted(results.items()))
    print(report)
    panels: dict[str, list[float]] = {}
    for key, samples in results.items():
        panel = key.rsplit(": ", 1)[0]
        panels.setdefault(panel, []).extend(samples)
        if key not in MAY_BE_EMPTY:
            assert samples, f"{key} returned no data\n{report}"
    for panel, samples in panels.items():
        if panel not in MAY_BE_NAN:
            assert any(math.isfinite(v) for v in samples), f"{panel}: only NaN\n{report}"


def _evaluate_panels(prom: prometheus.Prometheus, values: dict[str, str]) -> dict[str, list[float]]:
    """``file: panel title: refId`` → the target's sample values; waits a while for empty ones.

    Rules evaluate every second and rates need two samples, so a panel may fill a little
    after the run ends; `prom.query` raises on a parse error, so every query at least parses.
    """
    results: dict[str, list[float]] = {}
    deadline = time.monotonic() + 45
    while True:
        waiting = []
        for name, panel in _panels():
            title = f"{name}: {panel['title']}"
            finite = False
            for target in panel["targets"]:
                answer = prom.query(substitute(target["expr"], values))
                key = f"{title}: {target['refId']}"
                results[key] = [prometheus.value(s) for s in answer]
                finite = finite or any(math.isfinite(v) for v in results[key])
                if not answer and key not in MAY_BE_EMPTY:
                    waiting.append(key)
            if not finite and title not in MAY_BE_NAN:
                waiting.append(title)
        if not waiting or time.monotonic() > deadline:
            return results
        time.sleep(2)


def _check_variables(prom: prometheus.Prometheus, values: dict[str, str], namespace: str) -> None:
    expected = {"namespace": {namespace}, "run": {RUN}, "agent": set(AGENTS), "task": {TASK}}
    for text in dashboards.files().values():
        for variable in json.loads(text)["templating"]["list"]:
            if variable["type"] != "query":
                continue
            metric, selector, label = label_values(variable["query"])
            answer = prom.query(f"count by ({label}) ({metric}{substitute(selector, values)})")
            found = {s["metric"].get(label) for s in answer}
            assert expected[variable["name"]] <= found, (variable["name"], found)
