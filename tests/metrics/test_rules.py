"""The recording rules and alerts: promtool accepts and unit-tests them; the PrometheusRule matches."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from kubegym.metrics import families, rules

HERE = Path(__file__).parent


def test_promtool_accepts_the_rules_file(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(rules.RULES_FILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_behave_as_their_unit_tests_say(promtool: str) -> None:
    # Input series → recorded values and firing alerts, in tests/metrics/rules_test.yaml.
    result = subprocess.run(
        [promtool, "test", "rules", str(HERE / "rules_test.yaml")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_issue_s_alerts_exist() -> None:
    alerts = {r["alert"] for g in rules.load_groups() for r in g["rules"] if "alert" in r}
    assert {
        "KubegymRunNoProgress",
        "KubegymInfraFailuresRising",
        "KubegymBudgetNearlySpent",
        "KubegymOperatorDown",
    } <= alerts
    for group in rules.load_groups():
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
                assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_every_rule_reads_only_metrics_kubegym_exports() -> None:
    exported = {
        f._name for f in vars(families.Families()).values() if hasattr(f, "_name")
    }  # counter names without `_total`
    recorded = {r["record"] for g in rules.load_groups() for r in g["rules"] if "record" in r}
    for group in rules.load_groups():
        for rule in group["rules"]:
            names = {w for w in _identifiers(rule["expr"]) if w.startswith("kubegym")}
            for name in names:
                base = name.removesuffix("_total").removesuffix("_bucket")
                assert base in exported or name in recorded, f"{rule}: unknown {name}"


def test_record_names_follow_level_metric_operations() -> None:
    for group in rules.load_groups():
        for rule in group["rules"]:
            if "record" in rule:
                level, metric, operations = rule["record"].split(":")
                assert level.startswith("kubegym") and metric and operations, rule["record"]


def test_the_prometheus_rule_holds_exactly_the_rules_file_s_groups() -> None:
    manifest = rules.prometheus_rule(name="kubegym", namespace="monitoring", labels={"r": "x"})
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "PrometheusRule"
    assert manifest["metadata"] == {
        "name": "kubegym",
        "namespace": "monitoring",
        "labels": {"r": "x"},
    }
    assert manifest["spec"]["groups"] == rules.load_groups()
    assert yaml.safe_load(rules.render_prometheus_rule())["spec"]["groups"] == rules.load_groups()


def test_the_operator_job_can_be_renamed() -> None:
    text = rules.render_prometheus_rule(operator_job="kubegym-metrics")
    assert 'up{job="kubegym-metrics"}' in text
    assert "kubegym-operator" not in text


def test_helm_escaping_keeps_the_alert_templates_for_prometheus(tmp_path: Path) -> None:
    text = rules.render_prometheus_rule(helm=True)
    assert "{{`{{ $labels.run }}`}}" in text
    # What Helm prints for {{`…`}} is the text between the backticks: the original.
    unescaped = text.replace("{{`", "").replace("`}}", "")
    assert yaml.safe_load(unescaped) == rules.prometheus_rule()


def test_the_prometheus_rule_s_groups_pass_promtool(promtool: str, tmp_path: Path) -> None:
    groups = tmp_path / "from-prometheus-rule.yaml"
    manifest = yaml.safe_load(rules.render_prometheus_rule())
    groups.write_text(yaml.safe_dump({"groups": manifest["spec"]["groups"]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(groups)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _identifiers(expr: str) -> set[str]:
    import re

    without_strings = re.sub(r'"[^"]*"', '""', expr)
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_strings))


def test_the_rules_file_ships_in_the_wheel(repo: Path) -> None:
    import tomllib

    setuptools = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    # Packages are found under kubegym/ (tests/unit/test_layout.py builds the wheel and
    # checks every module is in it); the rules file is data, so it is named.
    assert "kubegym.*" in setuptools["packages"]["find"]["include"]
    assert rules.RULES_FILE.name in setuptools["package-data"]["kubegym.metrics"]
