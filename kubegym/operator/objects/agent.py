"""The agent pod: kubegym's agent runner or an external agent image, with only the
tokens, model key and store access (the store backend's answer) its kind needs.
"""

from __future__ import annotations

from typing import Any

from kubegym.api import common, runs
from kubegym.operator.objects.attempt import (
    AGENT_DEFAULT_LIMITS,
    CONFIG,
    EVALUATOR_TOKEN,
    RESTRICTED,
    ROLE_AGENT,
    SANDBOX_TOKEN,
    SECRETS_DIR,
    Attempt,
    kueue,
    metadata,
    pod_common,
    secret_env,
)
from kubegym.operator.objects.credentials import (
    init_container,
    key_volume,
    own_secret,
    token_volume,
)
from kubegym.operator.settings import Settings
from kubegym.store import backends as store_backends


def agent_pod(a: Attempt) -> dict[str, Any]:
    """The agent pod: kubegym's agent runner (or the agent's own image), with egress and the keys.

    Only kubegym's own agent runner gets the store's credentials (it uploads the
    trajectory and the workspace); an external image gets none: nothing it could
    write to the store counts, and its scores come from the evaluator.
    """
    derived = not own_secret(a)  # kubegym's runner, its tokens derived by an init container
    tokens: list[dict[str, Any]] = (
        [
            {"name": "KUBEGYM_SANDBOX_TOKEN_FILE", "value": f"{SECRETS_DIR}/{SANDBOX_TOKEN}"},
            {"name": "KUBEGYM_EVALUATOR_TOKEN_FILE", "value": f"{SECRETS_DIR}/{EVALUATOR_TOKEN}"},
        ]
        if derived
        else [
            secret_env("KUBEGYM_SANDBOX_TOKEN", a.base_name, SANDBOX_TOKEN),
            secret_env("KUBEGYM_EVALUATOR_TOKEN", a.base_name, EVALUATOR_TOKEN),
        ]
    )
    env: list[dict[str, Any]] = [
        {"name": "KUBEGYM_SANDBOX_URL", "value": a.sandbox_url},
        {"name": "KUBEGYM_EVALUATOR_URL", "value": a.evaluator_url},
        *tokens,
        {"name": "KUBEGYM_TRIAL_CONFIG", "value": f"{SECRETS_DIR}/{CONFIG}"},
        {"name": "LITELLM_LOCAL_MODEL_COST_MAP", "value": "True"},
        # The root file system is read only: home and temporary files go to /tmp's volume.
        {"name": "HOME", "value": "/tmp"},
    ]
    if a.agent.api_key_secret is not None:
        variable = a.agent.api_key_env or "KUBEGYM_MODEL_API_KEY"
        ref = a.agent.api_key_secret
        env.append(secret_env(variable, ref.name, ref.key))
    env.extend(
        secret_env(v.name, v.secret, v.key) for v in store_access(a.agent, a.run, a.settings).env
    )
    own_runner = a.agent.image is None
    # trial.json, and the two tokens as files when they are derived (else the Secret's
    # keys are variables, the external image's contract).
    files = {CONFIG: CONFIG}
    if derived:
        files.update({SANDBOX_TOKEN: SANDBOX_TOKEN, EVALUATOR_TOKEN: EVALUATOR_TOKEN})
    container: dict[str, Any] = {
        "name": "agent",
        "image": a.agent.image or a.settings.agent_image,
        "env": env,
        "resources": _agent_resources(a.settings.agent_resources),
        "securityContext": RESTRICTED,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "trial", "mountPath": SECRETS_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if own_runner:
        container["command"] = ["python", "-m", "kubegym.agent_runner"]
    limits = container["resources"]["limits"]
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": kueue(a, metadata(a, a.agent_pod, ROLE_AGENT)),
        "spec": {
            **pod_common(a),
            "containers": [container],
            "volumes": [
                token_volume(a, "trial", files),
                {"name": "tmp", "emptyDir": {"sizeLimit": limits["ephemeral-storage"]}},
            ],
        },
    }
    if derived:
        pod["spec"]["initContainers"] = [
            init_container(a, a.settings.agent_image, {"trial": files})
        ]
        pod["spec"]["volumes"].append(key_volume(a))
    if a.settings.runtime_class:
        pod["spec"]["runtimeClassName"] = a.settings.runtime_class
    return pod


def store_access(
    agent: runs.Agent, run: runs.BenchmarkRunSpec, settings: Settings
) -> store_backends.PodAccess:
    """What the agent's pods need to reach the run's store, as its backend says (Secret keys
    as variables, ports); nothing for an external image, nothing without a store."""
    store = run.store or settings.store
    if agent.image is not None or store is None:
        return store_backends.PodAccess()
    return store_backends.for_spec(store).pod_access(store)


def _agent_resources(configured: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The operator's agent resources, with a CPU and an ephemeral-storage limit always set."""
    requests = dict(configured.get("requests") or {})
    limits = {**AGENT_DEFAULT_LIMITS, **(configured.get("limits") or {})}
    for name, value in list(requests.items()):
        if name in limits and common.parse_quantity(value) > common.parse_quantity(limits[name]):
            requests[name] = limits[name]  # a request may not exceed its limit
    return {"requests": requests, "limits": limits}
