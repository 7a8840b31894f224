"""The chart's egress proxy: off by default; on, its Deployment, Service, NetworkPolicy and key
Secret agree with each other and with the settings the operator reads from its env, and
the key reaches the operator and the proxy only."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.operator.settings import Settings

from .conftest import CHART, Render, by_kind, run_helm, template_args

ON: dict[str, Any] = {"egressProxy.enabled": True}


def component(objects: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [
        o
        for o in by_kind(objects, kind)
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == name
    ]


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_off_by_default(render: Render) -> None:
    objects = render()
    assert not [
        o
        for o in objects
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "egress-proxy"
    ]
    (operator,) = component(objects, "Deployment", "operator")
    assert not [n for n in env_of(operator) if n.startswith("KUBEGYM_EGRESS_")]


def test_the_operators_settings_match_the_proxys_objects(render: Render, tmp_path: Path) -> None:
    objects = render(sets=ON)
    (operator,) = component(objects, "Deployment", "operator")
    (proxy,) = component(objects, "Deployment", "egress-proxy")
    (service,) = component(objects, "Service", "egress-proxy")
    (secret,) = component(objects, "Secret", "egress-proxy")
    env = {k: v for k, v in env_of(operator).items() if isinstance(v, str)}
    key = base64.b64decode(secret["data"]["key"])
    assert len(key) >= 32
    (tmp_path / "key").write_bytes(key)
    settings = Settings.from_env({**env, "KUBEGYM_EGRESS_KEY_FILE": str(tmp_path / "key")})
    egress = settings.egress
    assert egress is not None
    assert egress.host == f"{service['metadata']['name']}.kubegym-system.svc"
    assert egress.namespace == service["metadata"]["namespace"] == "kubegym-system"
    pod_labels = proxy["spec"]["template"]["metadata"]["labels"]
    assert egress.pod_labels.items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    (container,) = proxy["spec"]["template"]["spec"]["containers"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    # The sandboxes' NetworkPolicy names the pods' port: the Service must not translate it.
    assert ports["proxy"]["port"] == container_ports["proxy"] == egress.port
    assert egress.records_url.endswith(f":{container_ports['records']}")
    command = container["command"]
    assert command[:3] == ["python", "-m", "kubegym.egress.service"]
    assert f"0.0.0.0:{egress.port}" in command


def test_only_the_operator_and_the_proxy_mount_the_key(render: Render) -> None:
    objects = render(sets=ON)
    (secret,) = component(objects, "Secret", "egress-proxy")
    mounting = []
    for deployment in by_kind(objects, "Deployment"):
        volumes = deployment["spec"]["template"]["spec"].get("volumes", [])
        if any(
            v.get("secret", {}).get("secretName") == secret["metadata"]["name"] for v in volumes
        ):
            mounting.append(deployment["metadata"]["labels"]["app.kubernetes.io/component"])
    assert sorted(mounting) == ["egress-proxy", "operator"]
    (proxy,) = component(objects, "Deployment", "egress-proxy")
    spec = proxy["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False  # the proxy needs no API access
    assert spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_proxys_policy_admits_sandboxes_and_the_operator_only(
    render: Render, tmp_path: Path
) -> None:
    objects = render(values(tmp_path, egressPorts=[80, 443, 8080]))
    (policy,) = component(objects, "NetworkPolicy", "egress-proxy")
    (operator,) = component(objects, "Deployment", "operator")
    spec = policy["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    proxy_rule, records_rule = spec["ingress"]
    assert proxy_rule == {
        "from": [
            {
                "namespaceSelector": {},
                "podSelector": {"matchLabels": {"kubegym.io/role": "sandbox"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 3128}],
    }
    (peer,) = records_rule["from"]
    assert set(peer) == {"podSelector"}  # the operator's own namespace only
    operator_labels = operator["spec"]["template"]["metadata"]["labels"]
    assert peer["podSelector"]["matchLabels"].items() <= operator_labels.items()
    assert records_rule["ports"] == [{"protocol": "TCP", "port": 3129}]
    dns, out = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert [p["port"] for p in out["ports"]] == [80, 443, 8080]


def test_an_existing_secret_and_trusted_networks(render: Render, tmp_path: Path) -> None:
    objects = render(
        values(tmp_path, existingSecret="my-egress-key", trustedNetworks=["10.96.0.0/12"])
    )
    assert component(objects, "Secret", "egress-proxy") == []
    (proxy,) = component(objects, "Deployment", "egress-proxy")
    spec = proxy["spec"]["template"]["spec"]
    assert spec["volumes"][0]["secret"]["secretName"] == "my-egress-key"
    command = spec["containers"][0]["command"]
    assert command[command.index("--trusted-network") + 1] == "10.96.0.0/12"


@pytest.mark.parametrize(
    "bad",
    [
        {"trustedNetworks": ["everything"]},
        {"port": 0},
        {"egressPorts": []},
        {"existingSecret": "Not_A_Name"},
    ],
)
def test_the_schema_refuses_bad_values(helm: Path, tmp_path: Path, bad: dict[str, Any]) -> None:
    args = template_args(CHART, (values(tmp_path, **bad),), {}, "kubegym-system")
    result = run_helm(helm, *args, check=False)
    assert result.returncode != 0 and "egressProxy" in result.stderr, json.dumps(bad)


def values(tmp_path: Path, **egress: Any) -> Path:
    """A values file turning the proxy on with ``egress`` set."""
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump({"egressProxy": {"enabled": True, **egress}}))
    return path
