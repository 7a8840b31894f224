"""The few Kubernetes API calls the operator makes, on dict-shaped objects.

Objects are read as the API server's own JSON (camelCase, as `kubectl get -o
json` shows them) rather than the client's generated classes, so the same
dictionaries flow from kopf's watch events, from these reads and into the
pure decision functions. Creates are idempotent (an existing object of the
same name is success), deletes ignore what is already gone: with names fixed
by (trial, attempt), a restarted operator repeats calls harmlessly.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import structlog

from kubegym.api import common
from kubegym.operator import labels

log = structlog.get_logger()

GROUP = common.GROUP
VERSION = common.VERSION
COMPONENT = "kubegym-operator"


def connect(kubeconfig: str | None = None, pool: int = 16) -> Any:
    """A `kubernetes.client.ApiClient`: from `kubeconfig`, else in-cluster, else ~/.kube/config."""
    from kubernetes import client
    from kubernetes import config as loader

    config: Any = loader  # its loaders are untyped
    configuration = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    else:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(client_configuration=configuration)
    # One connection per worker thread, or urllib3 drops and re-opens them.
    configuration.connection_pool_maxsize = pool
    return client.ApiClient(configuration)


class Kube:
    """The operator's API calls.

    Args:
        api_client: a `kubernetes.client.ApiClient`.
    """

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self.api_client = api_client
        # Typed as Any: the calls take and return the API server's JSON as plain dicts.
        self.core: Any = client.CoreV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)
        self.networking: Any = client.NetworkingV1Api(api_client)

    # --- reads ---------------------------------------------------------------------

    def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self._missing_is_none(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
        )
        return found

    def list_custom(
        self, plural: str, namespace: str, selector: str | None = None
    ) -> list[dict[str, Any]]:
        answer = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, plural, label_selector=selector or ""
        )
        items: list[dict[str, Any]] = answer.get("items", [])
        return items

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        response = self.core.list_namespaced_pod(
            namespace, label_selector=selector, _preload_content=False
        )
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return items

    def kubelet_evictions(self, namespace: str, pod: str) -> list[str]:
        """The messages of the kubelet's ``Evicted`` events about ``pod``, oldest first."""
        response = self.core.list_namespaced_event(
            namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod},reason=Evicted",
            _preload_content=False,
        )
        items: list[dict[str, Any]] = json.loads(response.data)["items"]
        return [
            str(item.get("message") or "")
            for item in items
            if "kubelet"
            in ((item.get("source") or {}).get("component"), item.get("reportingComponent"))
        ]

    # --- writes --------------------------------------------------------------------

    def create(self, manifest: dict[str, Any]) -> bool:
        """Create `manifest`; False when an object of that name exists already."""
        from kubernetes.client.exceptions import ApiException

        kind = manifest["kind"]
        namespace = manifest["metadata"]["namespace"]
        try:
            if kind == "Pod":
                self.core.create_namespaced_pod(namespace, manifest)
            elif kind == "Service":
                self.core.create_namespaced_service(namespace, manifest)
            elif kind == "Secret":
                self.core.create_namespaced_secret(namespace, manifest)
            elif kind == "NetworkPolicy":
                self.networking.create_namespaced_network_policy(namespace, manifest)
            elif kind == "Trial":
                self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "trials", manifest
                )
            else:
                raise ValueError(f"the operator does not create {kind} objects")
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object; one that is gone already is fine."""
        calls = {
            "Pod": self.core.delete_namespaced_pod,
            "Service": self.core.delete_namespaced_service,
            "Secret": self.core.delete_namespaced_secret,
            "NetworkPolicy": self.networking.delete_namespaced_network_policy,
        }
        self._missing_is_none(calls[kind], name, namespace, propagation_policy="Background")

    def delete_run(self, namespace: str, name: str) -> None:
        self._missing_is_none(
            self.custom.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "benchmarkruns",
            name,
            propagation_policy="Background",
        )

    def patch_status(self, plural: str, namespace: str, name: str, status: Any) -> None:
        """Replace the status through a merge patch (null fields are removed)."""
        body = {"status": status.model_dump(mode="json", by_alias=True)}
        self._missing_is_none(
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            body,
        )

    def annotate(self, plural: str, namespace: str, name: str, key: str, value: str) -> None:
        body = {"metadata": {"annotations": {key: value}}}
        self._missing_is_none(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            body,
        )

    def event(
        self, involved: dict[str, Any], kind: str, event_type: str, reason: str, message: str
    ) -> None:
        """Post a Kubernetes Event about an object (best effort: a lost event loses no state)."""
        from kubernetes.client.exceptions import ApiException

        meta = involved["metadata"]
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": common.API_VERSION,
                "kind": kind,
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
        }
        try:
            self.core.create_namespaced_event(meta["namespace"], body)
        except ApiException as exc:
            log.warning("event_not_posted", reason=reason, status=exc.status)

    @staticmethod
    def _missing_is_none(call: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return call(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise


def selector(**pairs: str) -> str:
    """A label selector string from kubegym's label keys: `selector(trial="x")`."""
    keys = {"run": labels.RUN, "trial": labels.TRIAL, "attempt": labels.ATTEMPT}
    return ",".join(f"{keys[k]}={v}" for k, v in pairs.items())
