"""The chart's RBAC is exactly operator/rbac.yaml's: a ClusterRole, or a Role for one namespace."""

from __future__ import annotations

import yaml

from .conftest import REPO, Render, by_kind, one


def _rbac_yaml_rules() -> list[dict[str, object]]:
    docs = list(yaml.safe_load_all((REPO / "operator" / "rbac.yaml").read_text()))
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    return list(role["rules"])


def test_the_cluster_role_has_exactly_the_rules_of_operator_rbac_yaml(render: Render) -> None:
    objects = render()
    assert one(objects, "ClusterRole")["rules"] == _rbac_yaml_rules()
    binding = one(objects, "ClusterRoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one(objects, "ClusterRole")["metadata"]["name"],
    }
    account = one(objects, "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    assert not by_kind(objects, "Role") and not by_kind(objects, "RoleBinding")


def test_watching_one_namespace_grants_a_role_there_only(render: Render) -> None:
    objects = render(sets={"operator.watchNamespace": "benchmarks"})
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ClusterRoleBinding")
    role, binding = one(objects, "Role"), one(objects, "RoleBinding")
    assert role["rules"] == _rbac_yaml_rules()
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "benchmarks"
    assert binding["roleRef"]["kind"] == "Role"
    assert binding["subjects"][0]["namespace"] == "kubegym-system"
    (container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["KUBEGYM_NAMESPACE"] == "benchmarks"
    # The sandbox safety net goes where the runs are, too.
    namespaces = {p["metadata"]["namespace"] for p in by_kind(objects, "NetworkPolicy")}
    assert namespaces == {"kubegym-system", "benchmarks"}


def test_the_default_release_names_match_operator_rbac_yaml(render: Render) -> None:
    """`helm install kubegym` names the ServiceAccount and roles as operator/rbac.yaml does."""
    objects = render()
    assert one(objects, "ServiceAccount")["metadata"]["name"] == "kubegym-operator"
    assert one(objects, "ClusterRole")["metadata"]["name"] == "kubegym-operator"


def test_rbac_and_service_account_can_be_left_to_the_cluster(render: Render) -> None:
    objects = render(
        sets={"rbac.create": False, "serviceAccount.create": False, "serviceAccount.name": "ops"}
    )
    assert not by_kind(objects, "ClusterRole") and not by_kind(objects, "ServiceAccount")
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "ops"
