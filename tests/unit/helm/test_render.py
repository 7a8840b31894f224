"""`helm lint` and `helm template` with default and full values; every object validates strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from .conftest import CHART, FULL_VALUES, Render, by_kind, one, run_helm

KUBERNETES = "1.32"
# Kinds of other projects' CRDs: kubernetes-validate holds only Kubernetes' own schemas, so
# these are checked structurally (and the PrometheusRule's rules by promtool in tests/metrics).
FOREIGN = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("kueue.x-k8s.io/v1beta1", "LocalQueue"),
}


@pytest.mark.parametrize("values", [None, FULL_VALUES], ids=["default", "full"])
def test_helm_lint_passes(helm: Path, values: Path | None) -> None:
    args = ["lint", "--strict", str(CHART)] + (["--values", str(values)] if values else [])
    result = run_helm(helm, *args)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", [(), (FULL_VALUES,)], ids=["default", "full"])
def test_every_rendered_object_validates_strictly(render: Render, values: tuple[Path, ...]) -> None:
    objects = render(*values)
    assert objects
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if (obj["apiVersion"], obj["kind"]) in FOREIGN:
            assert obj["metadata"]["name"] and obj["metadata"]["namespace"], name
            assert isinstance(obj["spec"], dict) and obj["spec"], name
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {exc}")


def test_default_values_render_the_core_and_no_optional_part(render: Render) -> None:
    kinds = sorted({o["kind"] for o in render()})
    assert kinds == sorted(
        {
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",  # the dashboards, where dashboards/*.json exist
            "CustomResourceDefinition",
            "Deployment",
            "NetworkPolicy",
            "Service",
            "ServiceAccount",
        }
        - (set() if list((CHART / "dashboards").glob("*.json")) else {"ConfigMap"})
    )


def test_full_values_render_every_optional_part(render: Render) -> None:
    objects = render(FULL_VALUES)
    for kind in ("ServiceMonitor", "PrometheusRule", "LocalQueue"):
        assert by_kind(objects, kind), kind
    secrets = {s["metadata"]["name"]: s for s in by_kind(objects, "Secret")}
    assert secrets["s3-credentials"]["stringData"]["AWS_ACCESS_KEY_ID"] == "minioadmin"
    assert secrets["openai"]["stringData"] == {"api-key": "sk-test"}
    policies = {p["metadata"]["namespace"] for p in by_kind(objects, "NetworkPolicy")}
    assert policies == {"kubegym-system", "benchmarks", "team-a"}
    monitor = one(objects, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (service,) = [
        s
        for s in by_kind(objects, "Service")
        if s["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    assert monitor["spec"]["jobLabel"] in service["metadata"]["labels"]
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "kubegym-operator"
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The operator's container (the egress proxy has a Deployment of its own)."""
    (deployment,) = [
        d
        for d in by_kind(objects, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_operator_deployment_is_one_recreated_hardened_pod(render: Render) -> None:
    objects = render()
    deployment = one(objects, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == one(objects, "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = _container(objects)
    assert container["image"] == "ghcr.io/kubegym/kubegym:0.1.0"
    assert container["args"][0] == "operator"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # The only writable place: the rollups' temporary files.
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    env = _env(container)
    assert env["KUBEGYM_LOG_FORMAT"] == "json"
    assert env["KUBEGYM_AGENT_IMAGE"] == container["image"]
    assert env["KUBEGYM_NAMESPACE"] == ""  # every namespace
    assert env["KUBEGYM_HEALTH_PORT"] == "8080" and env["KUBEGYM_METRICS_PORT"] == "9090"
    assert "AWS_ACCESS_KEY_ID" not in env
    service = one(objects, "Service")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert service["spec"]["selector"].items() <= pod_labels(deployment).items()


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    return dict(deployment["spec"]["template"]["metadata"]["labels"])


def test_full_values_reach_the_operator_as_its_settings(render: Render) -> None:
    from kubegym.operator.settings import Settings

    container = _container(render(FULL_VALUES))
    env = _env(container)
    # The egress proxy's settings read its key file: tests/unit/helm/test_egress_proxy.py.
    plain = {
        k: v for k, v in env.items() if isinstance(v, str) and not k.startswith("KUBEGYM_EGRESS_")
    }
    settings = Settings.from_env(plain)
    assert settings.agent_image == "registry.example.com/kubegym/kubegym:0.1.0-rc1"
    assert settings.runtime_class == "gvisor"
    assert settings.image_pull_secrets == ("regcred",)
    assert settings.store is not None and settings.store.s3 is not None
    assert settings.store.s3.bucket == "kubegym-results"
    assert settings.store.s3.endpoint == "https://minio.example.com"
    assert settings.store.s3.prefix == "runs"
    assert settings.store.s3.credentials_secret == "s3-credentials"
    assert plain["AWS_DEFAULT_REGION"] == "eu-west-1"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[key] == {"secretKeyRef": {"name": "s3-credentials", "key": key}}
    assert plain["KUBEGYM_DEBUG_NOTE"] == "full-values"
    assert settings.default_queue == "kubegym"
    h100 = settings.gpu_placement("NVIDIA-H100-80GB-HBM3")
    assert h100 is not None and h100.node_selector is not None
    assert h100.node_selector["cloud.example.com/pool"] == "h100"
    assert container["args"] == ["operator", "--workers", "16"]


def test_every_kubegym_variable_the_chart_sets_is_read_by_the_operator(render: Render) -> None:
    """No dead settings: each KUBEGYM_ variable is a flag's envvar, Settings.from_env's or logging's."""
    import inspect

    from kubegym import log
    from kubegym.cli.operator import operator
    from kubegym.operator import leader
    from kubegym.operator.settings import EgressProxy, Settings

    flags = {p.envvar for p in operator.params if isinstance(p.envvar, str)}
    sources = (
        inspect.getsource(Settings.from_env)
        + inspect.getsource(EgressProxy.from_env)
        + inspect.getsource(log)
        + inspect.getsource(leader.own_namespace)
    )
    chart_env = {n for n in _env(_container(render(FULL_VALUES))) if n.startswith("KUBEGYM_")}
    for name in chart_env - {"KUBEGYM_DEBUG_NOTE"}:
        assert name in flags or f'"{name}"' in sources, f"the operator never reads {name}"


def test_the_sandbox_network_policy_denies_egress_of_sandbox_pods(render: Render) -> None:
    from kubegym.operator import labels

    policy = one(render(), "NetworkPolicy")
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {labels.ROLE: "sandbox"}},
        "policyTypes": ["Egress"],
        "egress": [],
    }
    assert not by_kind(render(sets={"sandboxNetworkPolicy.enabled": False}), "NetworkPolicy")


def test_crds_install_false_leaves_the_crds_out(render: Render) -> None:
    assert len(by_kind(render(), "CustomResourceDefinition")) == 3
    assert not by_kind(render(sets={"crds.install": False}), "CustomResourceDefinition")
    kept = by_kind(render(), "CustomResourceDefinition")[0]["metadata"]["annotations"]
    assert kept == {"helm.sh/resource-policy": "keep"}
    plain = by_kind(render(sets={"crds.keep": False}), "CustomResourceDefinition")[0]
    assert "annotations" not in plain["metadata"]


def test_an_image_digest_pins_the_operator_and_the_agent_runner(render: Render) -> None:
    """`image.digest` (the images lock's) wins over the tag, for both images kubegym runs."""
    digest = "sha256:" + "ab" * 32
    objects = render(
        sets={"image.repository": "127.0.0.1:5100/kubegym/kubegym", "image.digest": digest}
    )
    container = _container(objects)
    assert container["image"] == f"127.0.0.1:5100/kubegym/kubegym@{digest}"
    assert _env(container)["KUBEGYM_AGENT_IMAGE"] == container["image"]
