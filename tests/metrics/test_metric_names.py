"""Every metric follows Prometheus' conventions and stays low-cardinality."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from kubegym import metrics
from kubegym.metrics import families

# Labels that would create a series per trial, step, pod or attempt: never on a metric.
PER_TRIAL_LABELS = {"trial", "trial_id", "id", "uid", "step", "pod", "node", "seed", "attempt"}


def all_families() -> dict[str, MetricWrapperBase]:
    every = families.Families()
    return {k: v for k, v in vars(every).items() if isinstance(v, MetricWrapperBase)}


def exposed_name(family: MetricWrapperBase) -> str:
    # prometheus-client strips `_total` from a counter's name and adds it back on export.
    name: str = family._name  # type: ignore[attr-defined]
    return f"{name}_total" if isinstance(family, Counter) else name


def labels(family: MetricWrapperBase) -> tuple[str, ...]:
    names: tuple[str, ...] = family._labelnames  # type: ignore[attr-defined]
    return names


def test_the_set_the_issue_asks_for_is_there() -> None:
    names = {exposed_name(f) for f in all_families().values()}
    assert names == {
        "kubegym_trials",
        "kubegym_trials_finished_total",
        "kubegym_trial_duration_seconds",
        "kubegym_trial_scheduling_latency_seconds",
        "kubegym_agent_steps_total",
        "kubegym_agent_tokens_total",
        "kubegym_agent_cost_usd_total",
        "kubegym_infra_failures_total",
        "kubegym_trial_retries_total",
        "kubegym_best_score",
        "kubegym_aup",
        "kubegym_run_budget_usd",
        "kubegym_run_spend_usd",
        "kubegym_run_trials_planned",
        "kubegym_run_trials_finished",
        "kubegym_run_last_progress_timestamp_seconds",
        "kubegym_operator_reconcile_duration_seconds",
        "kubegym_operator_reconcile_errors_total",
        "kubegym_operator_leader",
        "kubegym_operator_events_dropped_total",
        "kubegym_operator_api_requests_total",
        "kubegym_store_upload_bytes_total",
        "kubegym_store_upload_duration_seconds",
        "kubegym_store_upload_failures_total",
    }


def test_names_follow_prometheus_conventions() -> None:
    for family in all_families().values():
        name = exposed_name(family)
        assert name.startswith("kubegym_"), name
        assert name == name.lower(), name
        if isinstance(family, Counter):
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), f"{name}: only counters end in _total"
        if isinstance(family, Histogram):
            assert name.endswith("_seconds"), f"{name}: histograms here measure time in seconds"
        # Base units only: seconds, bytes, US dollars — never ms, minutes, kB.
        for unit in ("_ms", "_milliseconds", "_minutes", "_hours", "_kb", "_mb", "_cents"):
            assert unit not in name, name
        assert isinstance(family, Counter | Gauge | Histogram)


def test_every_metric_has_a_help_text_that_says_what_it_counts() -> None:
    text = metrics.render(families.Families().registry)
    helps = [line for line in text.splitlines() if line.startswith("# HELP ")]
    assert len(helps) == len(all_families())
    for line in helps:
        _, _, name, doc = line.split(" ", 3)
        assert len(doc) > 20 and doc.endswith((".", ")")), f"{name}: {doc!r}"


def test_no_metric_has_a_per_trial_label() -> None:
    for attr, family in all_families().items():
        names = set(labels(family))
        assert not names & PER_TRIAL_LABELS, (
            f"{attr} has per-trial labels {names & PER_TRIAL_LABELS}"
        )
        assert names <= families.ALLOWED_LABELS, f"{attr}: {names - families.ALLOWED_LABELS}"


def test_per_run_metrics_carry_namespace_and_run() -> None:
    for attr, family in all_families().items():
        names = labels(family)
        if attr.startswith(("reconcile", "events", "upload", "leader", "api_requests")):
            assert families.RUN not in names, attr  # the operator's and store's own
        else:
            assert names[:2] == families.RUN_LABELS, attr


def test_the_registry_is_kubegym_s_own() -> None:
    from prometheus_client import REGISTRY as GLOBAL

    assert metrics.REGISTRY is not GLOBAL
    assert "kubegym_trials" not in metrics.render(GLOBAL)
    assert "kubegym_trials" in metrics.render(metrics.REGISTRY)


def test_no_created_series_are_exported(recorder: metrics.Metrics) -> None:
    recorder.trial_finished(
        metrics.RunRef("ns", "r"), task="t", agent="a", phase="Succeeded", seconds=1.0
    )
    assert "_created" not in metrics.render(recorder.registry)


def test_importing_the_package_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, kubegym.metrics\n"
        "print(sorted(m for m in ('pandas', 'numpy', 'kopf', 'kubernetes', 'yaml', 'boto3')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
