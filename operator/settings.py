"""The operator's own settings: images, ports, the runtime class, the default store.

They come from `kubegym operator`'s flags, which default to environment
variables (`KUBEGYM_…`), so the Helm chart sets them in the Deployment's env.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import metadata

from kubegym.api import runs

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
    """

    agent_image: str = DEFAULT_AGENT_IMAGE
    sandbox_port: int = 8080
    evaluator_port: int = 8081
    runtime_class: str | None = None
    image_pull_secrets: tuple[str, ...] = ()
    grace_seconds: int = 600
    store: runs.Store | None = None
    namespace: str | None = None
    agent_resources: dict[str, dict[str, str]] = field(
        default_factory=lambda: {
            "requests": {"cpu": "250m", "memory": "512Mi"},
            "limits": {"memory": "2Gi"},
        }
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from `KUBEGYM_AGENT_IMAGE`, `KUBEGYM_RUNTIME_CLASS`, `KUBEGYM_PULL_SECRETS`
        (comma-separated), `KUBEGYM_NAMESPACE` and `KUBEGYM_STORE_BUCKET`/`_ENDPOINT`/`_PREFIX`."""
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
        )
