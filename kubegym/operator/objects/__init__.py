"""The Kubernetes objects of a run and of one trial attempt, as plain manifests.

Per run (`run_objects`, owned by the BenchmarkRun, made before its first Trial): headless
Services over the run's sandbox pods (one per 128 of its parallelism, each pod in one
shard by a hash of its trial: `service_shards`, `service_shard`), a NetworkPolicy that
lets the run's sandbox pods admit only the run's agent pods (on the sandbox and evaluator
ports) and reach nothing, one per network mode that opens the sandboxes' egress, and one
per agent that lets its pods reach only DNS, the run's sandbox pods and the model
endpoints (and store) that agent allows (`run`).

Per attempt (`attempt_objects`, owned by the Trial): a Secret only where the run's key
cannot serve (`credentials`), the sandbox pod (the sandbox container running the command
server on the task image, the evaluator container, which alone mounts the evaluation
script and the hidden data, and the jail container, where the agent code an evaluation
runs is started), reached at ``<hostname>.<its shard's Service>.<namespace>.svc``, and the
agent pod. Every object carries the attempt's labels and has a name fixed by (trial, attempt),
so an operator that restarts half-way creates nothing twice.

Trust between the trials of a run: the policies are per run, so an agent pod can open a
connection to another trial's sandbox pod of the same run. What keeps it out is the
attempt's tokens: the sandbox server and the evaluator each refuse (401) any request
without their own attempt's token. The tokens are per attempt whatever holds them: derived
from the run's key and (role, namespace, trial, attempt) by the pods' ``credentials`` init
container, the only container that mounts the key, or minted into the attempt's own
Secret (`credentials.own_secret`). An agent pod holds its own two tokens and no other
attempt's. Pods of another run, or of another namespace, cannot connect to a run's
sandbox pods at all.

Trust: the evaluator container writes the trial's record (its scores) to its
termination message (``--record /dev/termination-log``); the operator takes scores
from there only. The agent pod holds no store credentials unless it runs
kubegym's own agent runner (which uploads the trajectory and workspace); an
external agent image gets none. Which Secret keys and ports the runner gets is
the store backend's answer (`kubegym.store.backends`, `store_access`), not this module's. Every container has a read-only root file
system (writable paths are emptyDirs), CPU, memory and ephemeral-storage limits,
and the operator's runtimeClass applies to both pods.

The jail container (``python -m kubegym.evaluator jail-serve``, `kubegym.evaluator.jails`)
runs as another non-root uid than the evaluator (`JAIL_UID`), mounts neither the eval
volume, nor a Secret, nor the termination log, and has its own limits (the task's
sandbox resources). It reads what the evaluator copies into the ``jail-share`` volume
(the adapter, its files, the submission; read-only there) and listens on a socket in
``jail-socket``: the evaluator forwards its evaluations' jail requests there and gets
the jails' pipes back; the metrics pipe never leaves the evaluator.

Pure functions of their inputs; `kubegym.operator.trials` decides when to create an
attempt's, the run reconcile (`kubegym.operator.controller`) a run's.
By noun: `run` (the run's Services and NetworkPolicies), `attempt` (the attempt and what its
objects share), `sandbox` (the sandbox pod), `agent` (the agent pod), `network` (an agent's
egress rules), `egress` (what an egress allowlist adds: the proxy URL, its variables, its
NetworkPolicy rule, the sandbox's network mode); this package lists their public names,
which callers use as ``objects.<name>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubegym.operator.objects import credentials, egress
from kubegym.operator.objects.agent import (
    agent_pod,
    store_access,
)
from kubegym.operator.objects.attempt import (
    AGENT_DEFAULT_LIMITS,
    CONFIG,
    DATA_IMAGE_DATA,
    DATA_IMAGE_EVAL,
    EVAL_DIR,
    EVALUATOR_CPU,
    EVALUATOR_EPHEMERAL,
    EVALUATOR_TOKEN,
    INIT_RESOURCES,
    JAIL_SECURITY,
    JAIL_SHARE,
    JAIL_SOCKET,
    JAIL_SOCKET_DIR,
    JAIL_UID,
    KUEUE_GROUP,
    KUEUE_GROUP_COUNT,
    KUEUE_PRIORITY,
    KUEUE_QUEUE,
    MAX_SERVICE_SHARDS,
    PRIVATE_CIDRS,
    RESTRICTED,
    ROLE_AGENT,
    ROLE_SANDBOX,
    SANDBOX_TOKEN,
    SECRETS_DIR,
    SERVICE_SHARD_PODS,
    TERMINATION_LOG,
    WORKSPACE,
    Attempt,
    at_most,
    kueue,
    label_value,
    metadata,
    owner_reference,
    placement,
    pod_common,
    resource_limits,
    run_service_name,
    sandbox_hostname,
    secret,
    secret_env,
    secret_volume,
    service_shard,
    service_shards,
    trial_config,
)
from kubegym.operator.objects.network import agent_egress
from kubegym.operator.objects.run import (
    RunObjects,
    run_agent_policy_name,
    run_objects,
    sandbox_policy_name,
)
from kubegym.operator.objects.sandbox import (
    copy_containers,
    evaluator_container,
    jail_container,
    sandbox_container,
    sandbox_pod,
)


def attempt_objects(a: Attempt, clock: Callable[[], float] = time.time) -> list[dict[str, Any]]:
    """Every object of an attempt, in the order they are created: its own Secret when it
    needs one (`credentials.own_secret`), the sandbox pod, the agent pod (the run's Services,
    NetworkPolicies and key, `run_objects`, exist already). With an egress allowlist, the
    Secret also holds the proxy URL with the attempt's credentials, valid from `clock`'s
    now (`egress.proxy_url`)."""
    pods = [sandbox_pod(a), agent_pod(a)]
    if not credentials.own_secret(a):
        return pods  # the pods derive their tokens from the run's key
    attempt_secret = secret(a)
    url = egress.proxy_url(a, clock)
    if url is not None:
        attempt_secret["stringData"][egress.PROXY_URL] = url
    return [attempt_secret, *pods]


__all__ = [
    "AGENT_DEFAULT_LIMITS",
    "CONFIG",
    "DATA_IMAGE_DATA",
    "DATA_IMAGE_EVAL",
    "EVALUATOR_CPU",
    "EVALUATOR_EPHEMERAL",
    "EVALUATOR_TOKEN",
    "EVAL_DIR",
    "INIT_RESOURCES",
    "JAIL_SECURITY",
    "JAIL_SHARE",
    "JAIL_SOCKET",
    "JAIL_SOCKET_DIR",
    "JAIL_UID",
    "KUEUE_GROUP",
    "KUEUE_GROUP_COUNT",
    "KUEUE_PRIORITY",
    "KUEUE_QUEUE",
    "MAX_SERVICE_SHARDS",
    "PRIVATE_CIDRS",
    "RESTRICTED",
    "ROLE_AGENT",
    "ROLE_SANDBOX",
    "SANDBOX_TOKEN",
    "SECRETS_DIR",
    "SERVICE_SHARD_PODS",
    "TERMINATION_LOG",
    "WORKSPACE",
    "Attempt",
    "RunObjects",
    "agent_egress",
    "agent_pod",
    "at_most",
    "attempt_objects",
    "copy_containers",
    "credentials",
    "egress",
    "evaluator_container",
    "jail_container",
    "kueue",
    "label_value",
    "metadata",
    "owner_reference",
    "placement",
    "pod_common",
    "resource_limits",
    "run_agent_policy_name",
    "run_objects",
    "run_service_name",
    "sandbox_container",
    "sandbox_hostname",
    "sandbox_pod",
    "sandbox_policy_name",
    "secret",
    "secret_env",
    "secret_volume",
    "service_shard",
    "service_shards",
    "store_access",
    "trial_config",
]
