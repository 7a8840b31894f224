"""The operator's own settings: images, ports, the runtime class, the default store.

They come from `kubegym operator`'s flags, which default to environment
variables (`KUBEGYM_…`), so the Helm chart sets them in the Deployment's env.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from pydantic import ValidationError

from kubegym.api import runs, tasks
from kubegym.api.common import Model
from kubegym.errors import ConfigError

#: The image that runs kubegym's agent runner (the root Dockerfile builds it), same version.
DEFAULT_AGENT_IMAGE = f"ghcr.io/kubegym/kubegym:{metadata.version('kubegym')}"


@dataclass(frozen=True)
class Settings:
    """How the operator builds the pods of a trial.

    Attributes:
        agent_image: the agent-runner image (kubegym's own agents).
        sandbox_port: the port of the sandbox command server in the sandbox container.
        evaluator_port: the port of the evaluator's API in the evaluator container.
        runtime_class: a RuntimeClass for sandbox pods (`gvisor`, `kata`), if any.
        image_pull_secrets: Secrets for pulling task and agent images.
        grace_seconds: added to a trial's wall time for the pods' activeDeadlineSeconds,
            so the agent's own limit (which submits what it has) always comes first.
        store: the store for runs that name none.
        namespace: the one namespace to watch; all namespaces when None.
        default_queue: the Kueue LocalQueue of runs that name none (`spec.queueName`).
        gpu_products: per GPU product, the node selector and tolerations its sandboxes need,
            for clusters that label or taint GPU nodes their own way (a task's own
            `resources.gpu.nodeSelector`/`tolerations` still win).
        egress: the installation's egress proxy, which sandboxes with an allowlist reach
            (`kubegym.operator.egress`); None when there is none: a run asking for egress
            hosts then waits with a message naming the field.
        viewer_url: the base URL of the installation's viewer (`kubegym view`); each
            Trial is created with its page's URL in the `labels.VIEWER` annotation.
            None: no viewer, no annotation.
    """

    agent_image: str = DEFAULT_AGENT_IMAGE
    sandbox_port: int = 8080
    evaluator_port: int = 8081
    runtime_class: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    grace_seconds: int = 600
    store: runs.Store | None = None
    namespace: str | None = None
    default_queue: str | None = None
    gpu_products: dict[str, GpuPlacement] = field(default_factory=dict)
    egress: EgressProxy | None = None
    viewer_url: str | None = None
    agent_resources: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"memory": "2Gi"},
        }
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `KUBEGYM_AGENT_IMAGE`, `KUBEGYM_RUNTIME_CLASS`, `KUBEGYM_PULL_SECRETS`
        (comma-separated), `KUBEGYM_NAMESPACE`, `KUBEGYM_STORE_BUCKET`/`_ENDPOINT`/`_PREFIX`/
        `_SECRET`, `KUBEGYM_DEFAULT_QUEUE`, `KUBEGYM_GPU_PRODUCTS` (JSON: product →
        `{nodeSelector, tolerations}`, as the Helm chart's `gpu.products`) and the egress
        proxy's `KUBEGYM_EGRESS_*` (`EgressProxy.from_env`), and `KUBEGYM_VIEWER_URL`.

        Raises:
            ConfigError: `KUBEGYM_GPU_PRODUCTS` is not such a JSON object, or the egress
                proxy's settings are incomplete or its key unreadable, or
                `KUBEGYM_VIEWER_URL` is not an http(s) URL.
        """
        env = os.environ if environ is None else environ
        store = None
        if env.get("KUBEGYM_STORE_BUCKET"):
            store = runs.Store(
                s3=runs.S3Store(
                    bucket=env["KUBEGYM_STORE_BUCKET"],
                    endpoint=env.get("KUBEGYM_STORE_ENDPOINT") or None,
                    prefix=env.get("KUBEGYM_STORE_PREFIX") or "kubegym",
                    credentials_secret=env.get("KUBEGYM_STORE_SECRET") or None,
                )
            )
        return cls(
            agent_image=env.get("KUBEGYM_AGENT_IMAGE") or DEFAULT_AGENT_IMAGE,
            runtime_class=env.get("KUBEGYM_RUNTIME_CLASS") or None,
            image_pull_secrets=tuple(
                s for s in env.get("KUBEGYM_PULL_SECRETS", "").split(",") if s
            ),
            namespace=env.get("KUBEGYM_NAMESPACE") or None,
            store=store,
            default_queue=env.get("KUBEGYM_DEFAULT_QUEUE") or None,
            gpu_products=_gpu_products(env.get("KUBEGYM_GPU_PRODUCTS") or "{}"),
            egress=EgressProxy.from_env(env),
            viewer_url=viewer_base(env.get("KUBEGYM_VIEWER_URL") or None),
        )

    def gpu_placement(self, product: str | None) -> GpuPlacement | None:
        """The configured placement of a GPU product, if any."""
        return self.gpu_products.get(product) if product else None


def viewer_base(url: str | None, *, field: str = "KUBEGYM_VIEWER_URL") -> str | None:
    """The viewer's base URL without its trailing slash, checked to be http(s).

    Raises:
        ConfigError: the URL is not ``http://`` or ``https://`` with a host, or holds a
            query, fragment or space (a Trial's link is made by appending its path).
    """
    if url is None:
        return None
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f"not an http(s) URL: {url!r}", field=field, hint="e.g. http://kubegym-viewer:8765"
        )
    if parsed.query or parsed.fragment or any(c.isspace() for c in url):
        raise ConfigError(
            f"the viewer's base URL has a query, fragment or space: {url!r}", field=field
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class EgressProxy:
    """The installation's egress proxy (`kubegym.egress.service`), as the operator uses it.

    One proxy per installation, in the release's namespace, serves the sandboxes of every
    namespace the operator watches; each sandbox proves which trial it is with signed
    credentials (`kubegym.egress.credentials`).

    Attributes:
        host: what sandboxes connect to. The chart gives the Service's DNS name and the
            operator turns it into the Service's cluster IP (`kubegym.operator.egress.resolve`),
            so a sandbox needs no DNS, which would be a way out of its own.
        port: the proxy port sandboxes connect to.
        namespace: the proxy pods' namespace (the sandbox NetworkPolicy's peer).
        pod_labels: labels that select the proxy pods there.
        records_url: the proxy's records endpoint (``http://host:port``), which only the
            operator reaches.
        key: the key that signs the sandboxes' credentials (from the chart's Secret).
    """

    host: str
    port: int
    namespace: str
    pod_labels: dict[str, str]
    records_url: str
    key: bytes = field(repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EgressProxy | None:
        """From `KUBEGYM_EGRESS_PROXY` (``host:port``), `KUBEGYM_EGRESS_NAMESPACE`,
        `KUBEGYM_EGRESS_POD_LABELS` (JSON), `KUBEGYM_EGRESS_RECORDS_URL` and
        `KUBEGYM_EGRESS_KEY_FILE`; None when `KUBEGYM_EGRESS_PROXY` is unset.

        Raises:
            ConfigError: a setting is missing or malformed, or the key file unreadable.
        """
        address = env.get("KUBEGYM_EGRESS_PROXY") or ""
        if not address:
            return None
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"{address!r} is not host:port", field="KUBEGYM_EGRESS_PROXY")
        missing = [
            name
            for name in (
                "KUBEGYM_EGRESS_NAMESPACE",
                "KUBEGYM_EGRESS_POD_LABELS",
                "KUBEGYM_EGRESS_RECORDS_URL",
                "KUBEGYM_EGRESS_KEY_FILE",
            )
            if not env.get(name)
        ]
        if missing:
            raise ConfigError(
                "the egress proxy needs it too",
                field=missing[0],
                hint="the Helm chart's egressProxy sets them all",
            )
        try:
            pod_labels = json.loads(env["KUBEGYM_EGRESS_POD_LABELS"])
            if not isinstance(pod_labels, dict) or not pod_labels:
                raise ValueError("not a non-empty JSON object")
        except ValueError as exc:
            raise ConfigError(
                f"not a JSON map of labels: {exc}", field="KUBEGYM_EGRESS_POD_LABELS"
            ) from None
        key_file = env["KUBEGYM_EGRESS_KEY_FILE"]
        try:
            key = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read the egress key: {exc.strerror}", field="KUBEGYM_EGRESS_KEY_FILE"
            ) from None
        if len(key) < 32:
            raise ConfigError(
                f"the egress key in {key_file} has {len(key)} bytes, fewer than 32",
                field="KUBEGYM_EGRESS_KEY_FILE",
            )
        return cls(
            host=host,
            port=int(port),
            namespace=env["KUBEGYM_EGRESS_NAMESPACE"],
            pod_labels={str(k): str(v) for k, v in pod_labels.items()},
            records_url=env["KUBEGYM_EGRESS_RECORDS_URL"].rstrip("/"),
            key=key,
        )


class GpuPlacement(Model):
    """Where one GPU product's sandboxes go on this cluster."""

    node_selector: dict[str, str] | None = None
    """Node labels to require instead of `nvidia.com/gpu.product=<product>`."""

    tolerations: list[tasks.Toleration] | None = None
    """Tolerations instead of the default `nvidia.com/gpu` NoSchedule one."""


def _gpu_products(text: str) -> dict[str, GpuPlacement]:
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return {str(k): GpuPlacement.model_validate(v) for k, v in data.items()}
    except (ValueError, ValidationError) as exc:
        raise ConfigError(
            f"not a map of GPU product to {{nodeSelector, tolerations}}: {exc}",
            field="KUBEGYM_GPU_PRODUCTS",
            hint="set it from the Helm chart's gpu.products",
        ) from None
