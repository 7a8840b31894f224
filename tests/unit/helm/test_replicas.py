"""Operator replicas in the chart: one by default (recreated, no election); more turn leader
election on, with a rolling update, a disruption budget and replicas spread over nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import CHART, Render, by_kind, one, run_helm


def operator_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [
        d
        for d in by_kind(objects, "Deployment")
        if d["metadata"]["labels"]["app.kubernetes.io/component"] == "operator"
    ]
    return deployment


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_one_replica_by_default_without_leader_election(render: Render) -> None:
    objects = render()
    deployment = operator_deployment(objects)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    env = env_of(deployment)
    assert env["KUBEGYM_LEADER_ELECTION"] == "false"
    assert "KUBEGYM_LEASE_NAME" not in env
    assert not by_kind(objects, "PodDisruptionBudget")
    assert "affinity" not in deployment["spec"]["template"]["spec"]


def test_more_replicas_turn_leader_election_on(render: Render) -> None:
    objects = render(sets={"operator.replicas": 3})
    deployment = operator_deployment(objects)
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    # A rolling update: the new pod waits as a standby; the old one hands the Lease over.
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    env = env_of(deployment)
    assert env["KUBEGYM_LEADER_ELECTION"] == "true"
    assert env["KUBEGYM_LEASE_NAME"] == deployment["metadata"]["name"]
    assert env["KUBEGYM_POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    selector = spec["selector"]["matchLabels"]
    budget = one(objects, "PodDisruptionBudget")
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": selector}}
    assert budget["metadata"]["namespace"] == "kubegym-system"
    (term,) = spec["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == selector


def test_the_operators_own_affinity_wins_over_the_spread(render: Render, tmp_path: Path) -> None:
    mine = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"operator": {"replicas": 2, "affinity": mine}}))
    pod = operator_deployment(render(values))["spec"]["template"]["spec"]
    assert pod["affinity"] == mine


def test_leader_election_can_be_on_with_one_replica(render: Render) -> None:
    objects = render(sets={"operator.leaderElection.enabled": True})
    deployment = operator_deployment(objects)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert env_of(deployment)["KUBEGYM_LEADER_ELECTION"] == "true"
    assert not by_kind(objects, "PodDisruptionBudget")  # one pod: a budget would block drains


def test_the_lease_is_where_the_operator_s_rbac_reaches(render: Render) -> None:
    """Watching one namespace, the Role is there, and so is the Lease (the watched namespace
    is the CLI's default); watching all, the ClusterRole reaches the release's namespace."""
    from kubegym.operator import leader

    lease_rule = {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update"],
    }
    objects = render(sets={"operator.replicas": 2, "operator.watchNamespace": "benchmarks"})
    role = one(objects, "Role")
    assert lease_rule in role["rules"]
    env = env_of(operator_deployment(objects))
    assert role["metadata"]["namespace"] == leader.own_namespace(env["KUBEGYM_NAMESPACE"])
    assert lease_rule in one(render(sets={"operator.replicas": 2}), "ClusterRole")["rules"]


@pytest.mark.parametrize(
    ("sets", "field"),
    [
        (["operator.replicas=0"], "/operator/replicas"),
        (["operator.replicas=two"], "/operator/replicas"),
        (["operator.leaderElection.enabled=yes"], "/operator/leaderElection/enabled"),
        (["operator.leaderElection.leaseName=x"], "/operator/leaderElection"),
    ],
)
def test_wrong_replica_values_are_refused_naming_the_field(
    helm: Path, sets: list[str], field: str
) -> None:
    args = ["template", "kubegym", str(CHART)]
    for item in sets:
        args += ["--set-string" if "=yes" in item or "=two" in item else "--set", item]
    result = run_helm(helm, *args, check=False)
    assert result.returncode != 0, f"{sets} was accepted"
    assert f"at '{field}'" in result.stderr, result.stderr
