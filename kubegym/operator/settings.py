"""The operator's own settings: images, ports, the runtime class, the default store.

They come from `kubegym operator`'s flags, which default to environment
variables (`KUBEGYM_…`), so the Helm chart sets them in the Deployment's env.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata

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
        `_SECRET`, `KUBEGYM_DEFAULT_QUEUE` and `KUBEGYM_GPU_PRODUCTS` (JSON: product →
        `{nodeSelector, tolerations}`, as the Helm chart's `gpu.products`).

        Raises:
            ConfigError: `KUBEGYM_GPU_PRODUCTS` is not such a JSON object.
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
        )

    def gpu_placement(self, product: str | None) -> GpuPlacement | None:
        """The configured placement of a GPU product, if any."""
        return self.gpu_products.get(product) if product else None


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
