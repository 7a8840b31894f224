"""kubegym's recording rules and alerts: the plain rules file, and the same groups as a PrometheusRule.

``rules.yaml`` next to this module is the one source: a plain Prometheus rules
file (loaded by the test Prometheus in `kubegym.devcluster.prometheus`, checked
by ``promtool``) that `prometheus_rule` wraps into the Prometheus Operator's
PrometheusRule for the Helm chart, so the two can never drift.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

RULES_FILE = Path(__file__).with_name("rules.yaml")
# The scrape job the operator-down alert watches; the chart's ServiceMonitor may name another.
OPERATOR_JOB = "kubegym-operator"

_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (the longer PromQL expressions) as ``|`` blocks, as in rules.yaml."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


def load_groups(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    """The rule groups of a rules file, as plain data (``groups:`` of ``rules.yaml`` by default)."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    groups: list[dict[str, Any]] = document["groups"]
    return groups


def prometheus_rule(
    *,
    name: str = "kubegym",
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    operator_job: str = OPERATOR_JOB,
) -> dict[str, Any]:
    """The rules file's groups as a ``monitoring.coreos.com/v1`` PrometheusRule.

    Args:
        name: the object's name.
        namespace: its namespace; left out when None (Helm or kubectl sets it).
        labels: the object's labels, e.g. the ``release`` a Prometheus selects rules by.
        operator_job: the scrape job of the operator, where it is not ``kubegym-operator``.

    Returns:
        The manifest as plain data, ready for `yaml.safe_dump`.
    """
    groups = load_groups()
    if operator_job != OPERATOR_JOB:
        for group in groups:
            for rule in group["rules"]:
                rule["expr"] = rule["expr"].replace(
                    f'job="{OPERATOR_JOB}"', f'job="{operator_job}"'
                )
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": metadata,
        "spec": {"groups": groups},
    }


def render_prometheus_rule(*, helm: bool = False, **options: Any) -> str:
    """`prometheus_rule` as YAML text.

    Args:
        helm: escape the alerts' own ``{{ $labels… }}`` templates as
            ``{{`{{ … }}`}}``, so the text can sit in a Helm template without
            Helm expanding them.
        **options: passed to `prometheus_rule`.
    """
    text = yaml.dump(prometheus_rule(**options), Dumper=_BlockDumper, sort_keys=False, width=1000)
    if helm:
        text = _TEMPLATE.sub(lambda m: "{{`{{" + m.group(1) + "}}`}}", text)
    return text
