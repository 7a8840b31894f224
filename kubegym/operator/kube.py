"""The few Kubernetes API calls the operator makes, on dict-shaped objects.

Objects are read and written as the API server's own JSON (camelCase, as
`kubectl get -o json` shows them) rather than the client's generated classes
(whose deserialisation costs more than the request), so the same dictionaries
flow from kopf's watch events, from these calls and into the pure decision
functions. Creates are idempotent (an existing object of the same name is
success), deletes ignore what is already gone: with names fixed by (trial,
attempt), a restarted operator repeats calls harmlessly. Every create and
status patch hands the API server's answer to an observer (the informer cache's
write-through, `kubegym.operator.informer`); a status patch decided from an
older copy of the object is refused (`Conflict`).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import structlog

from kubegym import metrics
from kubegym.api import common
from kubegym.operator import labels, leanjson

log = structlog.get_logger()

GROUP = common.GROUP
VERSION = common.VERSION
COMPONENT = "kubegym-operator"


class Conflict(Exception):
    """The object changed since the copy a write was decided from (HTTP 409)."""


#: Told of every object the API server returns from a write: (plural, body).
Observer = Callable[[str, dict[str, Any]], None]


def _json(response: Any) -> dict[str, Any]:
    """The API server's answer, less its managedFields (`leanjson`)."""
    body: dict[str, Any] = leanjson.loads(response.data)
    return body


#: The only keys a resync's LIST page is read for (`listed_names`), at any depth.
_LISTED_FIELDS = frozenset(
    {"items", "metadata", "name", "namespace", "resourceVersion", "continue"}
)


def _listed_fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: value for key, value in pairs if key in _LISTED_FIELDS}


def listed_names(data: bytes) -> tuple[list[tuple[str, str]], int, str | None]:
    """A metadata-only LIST page's (namespace, name) of each item, its resourceVersion and
    its continue token.

    The page is decoded keeping only those fields: 500 pods' metadata is 3.5 MB of JSON,
    97% of it managedFields, and ~19 MiB once decoded whole. Decoded whole every resync,
    while the event loop made objects that stay among the page's, each page left pymalloc
    arenas that could not be given back (a 10,000-trial run's RSS rose ~30 MiB at each of
    its first resyncs). Dropped as it is decoded, each object's unread fields are freed
    before the next is made, and the page costs next to nothing; it also decodes faster.
    """
    body = json.loads(data, object_pairs_hook=_listed_fields)
    meta = body.get("metadata") or {}
    names = []
    for item in body.get("items") or []:
        found = item.get("metadata") or {}
        names.append((str(found.get("namespace") or ""), str(found.get("name") or "")))
    return names, int(meta.get("resourceVersion") or 0), meta.get("continue") or None


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
    api: Any = client.ApiClient(configuration)
    # Every request of every client version goes through its REST client's `request`.
    api.rest_client.request = counted(api.rest_client.request)
    return api


def request_kind(method: str, url: str) -> tuple[str, str]:
    """A request's verb and resource as the API server's own metrics name them: ``LIST``
    for a collection's GET; ``group/resource/subresource`` (no group for the core API).

    Examples:
        >>> request_kind("GET", "https://h/api/v1/namespaces/a/pods?labelSelector=x")
        ('LIST', 'pods')
        >>> request_kind("PATCH", "https://h/apis/kubegym.io/v1alpha1/namespaces/a/trials/t/status")
        ('PATCH', 'kubegym.io/trials/status')
    """
    verb = method.upper()
    parts = [p for p in urllib.parse.urlsplit(url).path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) > 2:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) > 3:
        group, rest = parts[1], parts[3:]
    else:
        return verb, "other"  # discovery, /version, /healthz
    if len(rest) > 2 and rest[0] == "namespaces":  # a namespaced resource, not a namespace
        rest = rest[2:]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    if verb == "GET" and len(rest) == 1:
        verb = "LIST"
    return verb, f"{group}/{resource}" if group else resource


def counted(request: Callable[..., Any]) -> Callable[..., Any]:
    """`request` (an `ApiClient`'s REST client's) counting each call in
    ``kubegym_operator_api_requests_total`` by verb, resource and status code. The
    answer's status is the code: newer clients raise for an error status only after
    `request` returns; older ones raise it from `request`, and both are counted."""
    from kubernetes.client.exceptions import ApiException

    def count(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        verb, resource = request_kind(method, url)
        try:
            response = request(method, url, *args, **kwargs)
        except ApiException as exc:
            metrics.api_request(verb, resource, str(exc.status or "error"))
            raise
        except Exception:
            metrics.api_request(verb, resource, "error")
            raise
        metrics.api_request(verb, resource, str(response.status))
        return response

    return count


class Kube:
    """The operator's API calls.

    Args:
        api_client: a `kubernetes.client.ApiClient`.
    """

    def __init__(self, api_client: Any, observer: Observer | None = None) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.observer = observer
        # Typed as Any: the calls take and return the API server's JSON as plain dicts.
        self.core: Any = client.CoreV1Api(api_client)
        self.custom: Any = client.CustomObjectsApi(api_client)
        self.networking: Any = client.NetworkingV1Api(api_client)

    # --- reads (everything else comes from the cache, `kubegym.operator.informer`) ---

    def list_keys(
        self, plural: str, namespace: str | None, page_size: int = 500
    ) -> tuple[set[tuple[str, str]], int]:
        """The (namespace, name) of every object of a kind the operator watches (kubegym's
        pods only), in `namespace` or all namespaces, and the list's resourceVersion (for
        `informer.Cache.resync`). Metadata only, 500 a page: at thousands of pods a full
        LIST would cost the operator hundreds of megabytes at once."""
        selector = f"{labels.MANAGED_BY}=kubegym" if plural == "pods" else ""
        headers = {"Accept": "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"}
        keys: set[tuple[str, str]] = set()
        version, token = 0, None
        while True:
            page: dict[str, Any] = {
                "limit": page_size,
                "_preload_content": False,
                "_headers": headers,
                **({"_continue": token} if token else {}),
            }
            if plural == "pods":
                response = (
                    self.core.list_pod_for_all_namespaces(label_selector=selector, **page)
                    if namespace is None
                    else self.core.list_namespaced_pod(namespace, label_selector=selector, **page)
                )
            elif namespace is None:
                response = self.custom.list_cluster_custom_object(GROUP, VERSION, plural, **page)
            else:
                response = self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, **page
                )
            names, listed_at, token = listed_names(response.data)
            # Every page of one list is the same snapshot: the first page's version.
            version = version or listed_at
            keys.update(names)
            if not token:
                return keys, version

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
        calls: dict[str, tuple[str, Callable[..., Any]]] = {
            "Pod": ("pods", self.core.create_namespaced_pod),
            "Service": ("services", self.core.create_namespaced_service),
            "Secret": ("secrets", self.core.create_namespaced_secret),
            "NetworkPolicy": (
                "networkpolicies",
                self.networking.create_namespaced_network_policy,
            ),
        }
        try:
            if kind == "Trial":
                plural = "trials"
                response = self.custom.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, manifest, _preload_content=False
                )
            elif kind in calls:
                plural, call = calls[kind]
                response = call(namespace, manifest, _preload_content=False)
            else:
                raise ValueError(f"the operator does not create {kind} objects")
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        self._observe(plural, response)
        return True

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete an object; one that is gone already is fine."""
        calls = {
            "Pod": self.core.delete_namespaced_pod,
            "Service": self.core.delete_namespaced_service,
            "Secret": self.core.delete_namespaced_secret,
            "NetworkPolicy": self.networking.delete_namespaced_network_policy,
        }
        self._missing_is_none(
            calls[kind], name, namespace, propagation_policy="Background", _preload_content=False
        )

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

    def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: Any,
        resource_version: str | None = None,
    ) -> None:
        """Replace the status through a merge patch (null fields are removed).

        With `resource_version`, only if the object is still at that version: the
        decision was made from that copy (`Conflict` otherwise).
        """
        from kubernetes.client.exceptions import ApiException

        body: dict[str, Any] = {"status": status.model_dump(mode="json", by_alias=True)}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            response = self._missing_is_none(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                body,
                _preload_content=False,
            )
        except ApiException as exc:
            if exc.status == 409:
                raise Conflict(f"{plural}/{name} changed since version {resource_version}") from exc
            raise
        self._observe(plural, response)

    def annotate(self, plural: str, namespace: str, name: str, key: str, value: str) -> None:
        body = {"metadata": {"annotations": {key: value}}}
        response = self._missing_is_none(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            body,
            _preload_content=False,
        )
        self._observe(plural, response)

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
            self.core.create_namespaced_event(meta["namespace"], body, _preload_content=False)
        except ApiException as exc:
            log.warning("event_not_posted", reason=reason, status=exc.status)

    def _observe(self, plural: str, response: Any) -> None:
        """Hand a write's answer (None: the object was gone) to the observer, if any."""
        if response is not None and self.observer is not None:
            self.observer(plural, _json(response))

    @staticmethod
    def _missing_is_none(call: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return call(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
