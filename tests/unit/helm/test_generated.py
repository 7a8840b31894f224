"""The chart's generated templates are current: its CRDs are crds/'s, its rules rules.yaml's."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

import yaml

from kubegym.metrics import rules

from .conftest import REPO, Render, by_kind, one


def _generator() -> ModuleType:
    name = "kubegym_helm_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "helm" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_the_generated_templates_are_current() -> None:
    stale = _generator().stale_files()
    assert not stale, f"stale chart files {stale}: run `make chart`"


def _without_chart_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    crd = dict(crd, metadata=dict(crd["metadata"]))
    crd["metadata"].pop("annotations", None)
    crd["metadata"].pop("labels", None)
    return crd


def test_the_rendered_crds_are_the_crds_folder(render: Render) -> None:
    rendered = {c["metadata"]["name"]: c for c in by_kind(render(), "CustomResourceDefinition")}
    sources = [yaml.safe_load(p.read_text()) for p in sorted((REPO / "crds").glob("*.yaml"))]
    assert sorted(rendered) == sorted(s["metadata"]["name"] for s in sources)
    for source in sources:
        name = source["metadata"]["name"]
        assert _without_chart_metadata(rendered[name]) == _without_chart_metadata(source), name
        # The crds/ labels survive among the chart's.
        assert source["metadata"]["labels"].items() <= rendered[name]["metadata"]["labels"].items()


def test_a_drifted_crd_template_is_found(tmp_path: Any) -> None:
    import shutil

    chart = tmp_path / "kubegym"
    shutil.copytree(REPO / "helm" / "kubegym", chart)
    target = chart / "templates" / "crds" / "kubegym.io_tasks.yaml"
    target.write_text(target.read_text().replace("shortNames:", "shortNames:\n    - drift"))
    (chart / "templates" / "crds" / "old.yaml").write_text("# a CRD that crds/ no longer has\n")
    stale = {str(p) for p in _generator().stale_files(chart)}
    assert stale == {"templates/crds/kubegym.io_tasks.yaml", "templates/crds/old.yaml"}


def test_the_prometheus_rule_holds_the_rules_file(render: Render) -> None:
    objects = render(sets={"metrics.prometheusRule.enabled": True})
    rule = one(objects, "PrometheusRule")
    # Helm turned the escaped alert templates back into Prometheus' own {{ $labels… }}.
    assert rule["spec"] == rules.prometheus_rule()["spec"]
    assert rule["metadata"]["namespace"] == "kubegym-system"
    assert not by_kind(render(), "PrometheusRule")
