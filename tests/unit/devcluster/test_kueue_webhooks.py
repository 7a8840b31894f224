"""Kueue's webhook configurations as the development cluster registers them: only its own
objects' and pods' webhooks, called by URL, and pods only when they name a queue."""

from __future__ import annotations

from pathlib import Path

import yaml

from kubegym.devcluster import kueue

URL = "https://127.0.0.1:9443"


def _hook(name: str, group: str, resource: str, path: str) -> dict[str, object]:
    return {
        "name": name,
        "admissionReviewVersions": ["v1"],
        "clientConfig": {
            "service": {"name": "webhook-service", "namespace": "system", "path": path}
        },
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "rules": [
            {
                "apiGroups": [group],
                "apiVersions": ["v1"],
                "operations": ["CREATE", "UPDATE"],
                "resources": [resource],
            }
        ],
    }


def _manifests(tmp_path: Path) -> Path:
    """The shape of Kueue's config/components/webhook/manifests.yaml, shortened."""
    hooks = [
        _hook("mpod.kb.io", "", "pods", "/mutate--v1-pod"),
        _hook("mjob.kb.io", "batch", "jobs", "/mutate-batch-v1-job"),
        _hook("mdeployment.kb.io", "apps", "deployments", "/mutate-apps-v1-deployment"),
        _hook("mworkload.kb.io", "kueue.x-k8s.io", "workloads", "/mutate-kueue-workload"),
    ]
    docs = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": kind,
            "metadata": {"name": n},
            "webhooks": hooks,
        }
        for kind, n in (
            ("MutatingWebhookConfiguration", "mutating-webhook-configuration"),
            ("ValidatingWebhookConfiguration", "validating-webhook-configuration"),
        )
    ]
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_only_kueues_own_objects_and_pods_are_sent_to_it_by_url(tmp_path: Path) -> None:
    configs = kueue.webhook_configurations(_manifests(tmp_path), URL, "Q0E=")
    assert [c["metadata"]["name"] for c in configs] == [kueue.MUTATING, kueue.VALIDATING]
    for config in configs:
        hooks = {h["name"]: h for h in config["webhooks"]}
        # Jobs and Deployments are not integrated here: Kueue never sees them.
        assert set(hooks) == {"mpod.kb.io", "mworkload.kb.io"}
        assert hooks["mpod.kb.io"]["clientConfig"] == {
            "url": URL + "/mutate--v1-pod",
            "caBundle": "Q0E=",
        }
        assert hooks["mworkload.kb.io"]["clientConfig"]["url"] == URL + "/mutate-kueue-workload"


def test_a_pod_without_a_queue_label_never_reaches_kueue(tmp_path: Path) -> None:
    for config in kueue.webhook_configurations(_manifests(tmp_path), URL, "Q0E="):
        hooks = {h["name"]: h for h in config["webhooks"]}
        assert hooks["mpod.kb.io"]["objectSelector"] == {
            "matchExpressions": [{"key": kueue.QUEUE_LABEL, "operator": "Exists"}]
        }
        # Kueue's own objects exist only with Kueue: no selector needed there.
        assert "objectSelector" not in hooks["mworkload.kb.io"]


def test_the_configuration_enables_pod_groups_and_leaves_certificates_to_us(tmp_path: Path) -> None:
    config = kueue._configuration(9443, 8081, tmp_path)
    assert config["integrations"] == {"frameworks": ["pod"]}
    assert config["internalCertManagement"] == {"enable": False}
    assert config["webhook"] == {"host": "127.0.0.1", "port": 9443, "certDir": str(tmp_path)}
    assert config["manageJobsWithoutQueueName"] is False
