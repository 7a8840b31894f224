"""`helm install kubegym helm/kubegym` on the development cluster, and the operator it grants.

The chart goes into the test's namespace; its objects are created and its CRDs served. KWOK's
nodes run no containers, so the operator runs as a local process in place of the chart's pod,
with a token of the CHART's ServiceAccount and the settings of the chart's Deployment: a small
run finishes (the test plays the kubelet, as in test_operator.py), and what the chart does not
grant is refused.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym import errors
from kubegym.devcluster import cluster
from kubegym.devcluster import helm as helm_bin
from tests.support.kube import wait_for

from .harness import Kubelet, OperatorProcess
from .resources import apply, benchmark_run, get_run, phase_is, play, summary_for, task

pytestmark = pytest.mark.cluster

RELEASE = "kubegym"
CRDS = ("benchmarkruns.kubegym.io", "tasks.kubegym.io", "trials.kubegym.io")


@pytest.fixture(scope="module")
def helm() -> Path:
    try:
        return helm_bin.ensure_helm()
    except errors.InfraError as exc:
        pytest.skip(f"helm is not available: {exc}")


def run_helm(helm: Path, dev_cluster: cluster.ClusterInfo, *args: str) -> str:
    result = subprocess.run(
        [str(helm), "--kubeconfig", dev_cluster.kubeconfig, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
    return result.stdout


def adopt_crds(api_client: Any, release: str, namespace: str) -> None:
    """Mark CRDs that other tests applied as this release's, so Helm takes them over.

    The CRDs are cluster-wide and outlive a release (`helm.sh/resource-policy: keep`);
    Helm refuses to install over objects without its ownership labels.
    """
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    ext = client.ApiextensionsV1Api(api_client)
    for name in CRDS:
        patch = {
            "metadata": {
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {
                    "meta.helm.sh/release-name": release,
                    "meta.helm.sh/release-namespace": namespace,
                },
            }
        }
        try:
            ext.patch_custom_resource_definition(name, patch)
        except ApiException as exc:
            if exc.status != 404:
                raise


def install(
    helm: Path,
    dev_cluster: cluster.ClusterInfo,
    api_client: Any,
    release: str,
    namespace: str,
    *sets: str,
) -> str:
    adopt_crds(api_client, release, namespace)
    args = ["install", release, str(Path(__file__).parents[2] / "helm" / "kubegym")]
    args += ["--namespace", namespace]
    for item in sets:
        args += ["--set", item]
    return run_helm(helm, dev_cluster, *args)


def service_account_kubeconfig(
    api_client: Any, dev_cluster: cluster.ClusterInfo, namespace: str, account: str, out: Path
) -> Path:
    """A kubeconfig that logs in with a fresh token of `account` (no binding of our own)."""
    from kubernetes import client

    token = (
        client.CoreV1Api(api_client)
        .create_namespaced_service_account_token(
            account, namespace, {"spec": {"expirationSeconds": 3600}}
        )
        .status.token
    )
    config = yaml.safe_load(Path(dev_cluster.kubeconfig).read_text())
    config["users"] = [{"name": account, "user": {"token": token}}]
    for context in config["contexts"]:
        context["context"]["user"] = account
        context["context"]["namespace"] = namespace
    out.write_text(yaml.safe_dump(config))
    return out


def deployment_env(api_client: Any, namespace: str) -> dict[str, str]:
    """The plain env of the chart's operator container, as the cluster holds it."""
    from kubernetes import client

    deployment = client.AppsV1Api(api_client).read_namespaced_deployment(
        f"{RELEASE}-operator", namespace
    )
    (container,) = deployment.spec.template.spec.containers
    return {e.name: e.value for e in container.env if e.value is not None}


@pytest.fixture
def installed(
    helm: Path, dev_cluster: cluster.ClusterInfo, api_client: Any, namespace: str
) -> Iterator[str]:
    """The chart, installed in the test's namespace, watching that namespace only."""
    notes = install(
        helm,
        dev_cluster,
        api_client,
        RELEASE,
        namespace,
        f"operator.watchNamespace={namespace}",
        "image.repository=registry.invalid/kubegym",
    )
    try:
        yield notes
    finally:
        run_helm(helm, dev_cluster, "uninstall", RELEASE, "--namespace", namespace, "--wait")


def test_helm_install_creates_the_objects_and_serves_the_crds(
    installed: str, api_client: Any, dev_cluster: cluster.ClusterInfo, namespace: str
) -> None:
    from kubernetes import client

    assert "kubectl apply -f examples/run.yaml" in installed
    ext = client.ApiextensionsV1Api(api_client)

    def established(name: str) -> bool:
        conditions = ext.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    for name in CRDS:
        wait_for(lambda name=name: established(name))
        crd = ext.read_custom_resource_definition(name)
        assert crd.metadata.annotations["helm.sh/resource-policy"] == "keep"
        assert crd.metadata.labels["app.kubernetes.io/instance"] == RELEASE
    # Served: the custom resources can be listed through the chart's CRDs.
    custom = client.CustomObjectsApi(api_client)
    for plural in ("tasks", "benchmarkruns", "trials"):
        assert (
            custom.list_namespaced_custom_object("kubegym.io", "v1alpha1", namespace, plural)[
                "items"
            ]
            == []
        )

    name = f"{RELEASE}-operator"
    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    rbac = client.RbacAuthorizationV1Api(api_client)
    assert core.read_namespaced_service_account(name, namespace)
    role = rbac.read_namespaced_role(name, namespace)
    docs = list(yaml.safe_load_all((Path(__file__).parents[2] / "operator/rbac.yaml").read_text()))
    expected = next(d for d in docs if d["kind"] == "ClusterRole")["rules"]
    assert [api_client.sanitize_for_serialization(r) for r in role.rules] == expected
    assert rbac.read_namespaced_role_binding(name, namespace).subjects[0].name == name
    service = core.read_namespaced_service(name, namespace)
    assert [(p.name, p.port) for p in service.spec.ports] == [("metrics", 9090)]
    policy = client.NetworkingV1Api(api_client).read_namespaced_network_policy(
        f"{RELEASE}-sandbox-deny-egress", namespace
    )
    assert policy.spec.pod_selector.match_labels == {"kubegym.io/role": "sandbox"}
    dashboards = core.list_namespaced_config_map(namespace, label_selector="grafana_dashboard=1")
    shipped = sorted((Path(__file__).parents[2] / "helm/kubegym/dashboards").glob("*.json"))
    assert len(dashboards.items) == len(shipped)
    # KWOK schedules and "runs" the operator's pod: the Deployment becomes available.
    wait_for(
        lambda: (
            (apps.read_namespaced_deployment(name, namespace).status.available_replicas or 0) == 1
        ),
        timeout=60,
    )
    # kubectl agrees: the chart's ServiceAccount may create pods here, but not read Secrets.
    account = f"system:serviceaccount:{namespace}:{name}"
    kubectl = [dev_cluster.kubectl, "--kubeconfig", dev_cluster.kubeconfig]
    for verb, resource, where, allowed in (
        ("create", "pods", namespace, "yes"),
        ("list", "secrets", namespace, "no"),
        ("get", "pods", "kube-system", "no"),
    ):
        answer = subprocess.run(
            [*kubectl, "auth", "can-i", verb, resource, "-n", where, "--as", account],
            capture_output=True,
            text=True,
            check=False,
        )
        assert answer.stdout.strip() == allowed, (verb, resource, where, answer.stderr)


def test_the_operator_with_the_charts_service_account_runs_a_run_and_nothing_more(
    installed: str,
    api_client: Any,
    dev_cluster: cluster.ClusterInfo,
    namespace: str,
    tmp_path: Path,
) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    kubeconfig = service_account_kubeconfig(
        api_client, dev_cluster, namespace, f"{RELEASE}-operator", tmp_path / "sa.kubeconfig"
    )
    # The operator's settings as the chart's Deployment sets them (its ports are the test's).
    env = deployment_env(api_client, namespace)
    assert env["KUBEGYM_NAMESPACE"] == namespace and env["KUBEGYM_LOG_FORMAT"] == "json"
    env = {k: v for k, v in env.items() if k not in ("KUBEGYM_HEALTH_PORT", "KUBEGYM_METRICS_PORT")}
    operator = OperatorProcess(kubeconfig, namespace, tmp_path / "operator.log", env=env).start()
    custom = client.CustomObjectsApi(api_client)
    kubelet = Kubelet(api_client, namespace)
    try:
        apply(
            custom,
            namespace,
            task("alpha"),
            benchmark_run("small", ["alpha"], ["a1", "a2"], seeds=1, parallelism=2),
        )
        play(
            kubelet,
            phase_is(custom, namespace, "small", "Succeeded", "Failed"),
            lambda pod: kubelet.finish_agent(pod, summary_for(0.8)),
        )
        status = get_run(custom, namespace, "small")["status"]
        assert status["phase"] == "Succeeded", json.dumps(status)
        assert status["counters"]["succeeded"] == 2
        # The agent pods ran the chart's agent image (the finished trials' pods are gone:
        # each trial's status keeps what its containers ran).
        found = custom.list_namespaced_custom_object(
            "kubegym.io", "v1alpha1", namespace, "trials", label_selector="kubegym.io/run=small"
        )["items"]
        images = {
            record["image"]
            for trial in found
            for record in trial["status"].get("images") or []
            if record["pod"] == "agent" and record["container"] == "agent"
        }
        assert images == {env["KUBEGYM_AGENT_IMAGE"]}
        # A refusal reads "Forbidden" or a bare 403 status; a word boundary keeps a port such as
        # 44035 or a timestamp's digits from looking like one.
        refusals = re.findall(r"Forbidden|\b403\b", operator.log())
        assert not refusals, refusals
    finally:
        operator.stop()
        print(operator.log()[-3000:])

    # …and nothing more: the same token is refused what the chart does not grant.
    account = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        core = client.CoreV1Api(account)
        refused = [
            lambda: core.list_namespaced_secret(namespace),
            lambda: core.list_namespaced_pod("kube-system"),
            lambda: core.read_namespaced_secret(f"sh.helm.release.v1.{RELEASE}.v1", namespace),
            lambda: client.RbacAuthorizationV1Api(account).create_cluster_role(
                {"metadata": {"name": f"{namespace}-escalate"}, "rules": []}
            ),
            lambda: client.AppsV1Api(account).list_namespaced_deployment(namespace),
        ]
        for index, action in enumerate(refused):
            with pytest.raises(ApiException) as caught:
                action()
            assert caught.value.status == 403, index
        # What it is granted still works with this token.
        assert core.list_namespaced_pod(namespace).items
    finally:
        account.close()


def test_cluster_wide_install_and_upgrade(
    helm: Path, dev_cluster: cluster.ClusterInfo, api_client: Any, namespace: str
) -> None:
    """The default (every namespace): a ClusterRole with operator/rbac.yaml's rules; `helm
    upgrade` changes the operator and keeps the CRDs."""
    from kubernetes import client

    release = f"kg-{namespace}"  # cluster-wide names must not clash between tests
    install(helm, dev_cluster, api_client, release, namespace, "dashboards.enabled=false")
    rbac = client.RbacAuthorizationV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    name = f"{release}-kubegym-operator"
    try:
        role = rbac.read_cluster_role(name)
        docs = list(
            yaml.safe_load_all((Path(__file__).parents[2] / "operator/rbac.yaml").read_text())
        )
        expected = next(d for d in docs if d["kind"] == "ClusterRole")["rules"]
        assert [api_client.sanitize_for_serialization(r) for r in role.rules] == expected
        binding = rbac.read_cluster_role_binding(name)
        assert (binding.subjects[0].name, binding.subjects[0].namespace) == (name, namespace)
        run_helm(
            helm,
            dev_cluster,
            "upgrade",
            release,
            str(Path(__file__).parents[2] / "helm" / "kubegym"),
            "--namespace",
            namespace,
            "--reuse-values",
            "--set",
            "operator.workers=3",
        )
        args = (
            apps.read_namespaced_deployment(name, namespace).spec.template.spec.containers[0].args
        )
        assert args == ["operator", "--workers", "3"]
        ext = client.ApiextensionsV1Api(api_client)
        for crd in CRDS:
            assert (
                ext.read_custom_resource_definition(crd).metadata.annotations[
                    "meta.helm.sh/release-name"
                ]
                == release
            )
    finally:
        run_helm(helm, dev_cluster, "uninstall", release, "--namespace", namespace, "--wait")
    with pytest.raises(client.exceptions.ApiException):
        rbac.read_cluster_role(name)
    # Kept: runs survive an uninstall.
    for crd in CRDS:
        assert client.ApiextensionsV1Api(api_client).read_custom_resource_definition(crd)
