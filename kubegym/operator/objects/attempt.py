"""One trial attempt (`Attempt`) and what all its objects share: names, labels, owner
references, the Secret, the frozen config, limits, placement and the security contexts.

Used by the sibling modules that build the pods and policies (`sandbox`, `agent`,
`network`) and by `kubegym.operator.trials`, which builds an `Attempt` per attempt.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final

from kubegym.api import common, runs, tasks, trials
from kubegym.operator import labels
from kubegym.operator.settings import Settings

ROLE_SANDBOX: Final = "sandbox"


ROLE_AGENT: Final = "agent"


#: Where the pod's secret files are mounted in every container (each sees only its own keys).
SECRETS_DIR: Final = "/var/run/kubegym"


WORKSPACE: Final = "/workspace"


#: In the data image: the agent's datasets, and the evaluation part only the evaluator gets.
DATA_IMAGE_DATA: Final = "/kubegym/data"


DATA_IMAGE_EVAL: Final = "/kubegym/eval"


EVAL_DIR: Final = "/kubegym/eval"


#: The jail container: its uid (never the evaluator's 1000), the folder the evaluator copies
#: adapters and submissions into (read-only for the jail), and the jail server's socket.
JAIL_UID: Final = 1001


JAIL_SHARE: Final = "/kubegym/jail/share"


JAIL_SOCKET_DIR: Final = "/kubegym/jail/socket"


JAIL_SOCKET: Final = f"{JAIL_SOCKET_DIR}/jails.sock"


#: Where the kubelet reads a container's termination message: the evaluator's record.
TERMINATION_LOG: Final = "/dev/termination-log"


#: Public addresses only: the default egress of a model agent leaves these closed (the
#: cluster's pods and services, the node, the cloud's metadata service).
PRIVATE_CIDRS: Final = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "127.0.0.0/8",
)


SANDBOX_TOKEN: Final = "sandbox-token"


EVALUATOR_TOKEN: Final = "evaluator-token"


CONFIG: Final = "trial.json"


# Kueue's pod integration: the queue, and a group so both pods are admitted together.
KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"


KUEUE_GROUP: Final = "kueue.x-k8s.io/pod-group-name"


KUEUE_GROUP_COUNT: Final = "kueue.x-k8s.io/pod-group-total-count"
#: An attempt's group is never completed by replacement pods: once neither pod runs, Kueue
#: finishes its Workload and frees the quota. A retriable group (Kueue's default) whose
#: sandbox pod ends Failed (deleted at the trial's end, or stopped by a preemption) keeps
#: its quota, waiting for a replacement that no attempt ever creates.
KUEUE_RETRIABLE: Final = "kueue.x-k8s.io/retriable-in-group"
#: The run's WorkloadPriorityClass: Kueue reads it off the group's pods.
KUEUE_PRIORITY: Final = "kueue.x-k8s.io/priority-class"


# Init containers only copy files. Without requests, their limits would be the requests,
# and a pod's request is the larger of its biggest init container and its containers' sum.
INIT_RESOURCES: Final[dict[str, Any]] = {
    "requests": {"cpu": "100m", "memory": "64Mi"},
    "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"},
}


#: The evaluator's own limits besides memory (the task's): scoring is one process at a time.
EVALUATOR_CPU: Final = "2"


EVALUATOR_EPHEMERAL: Final = "2Gi"


#: Limits an agent container gets when the operator's settings name none.
AGENT_DEFAULT_LIMITS: Final[dict[str, str]] = {"cpu": "2", "ephemeral-storage": "2Gi"}


RESTRICTED: Final[dict[str, Any]] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


#: The jail container's: restricted, as its own uid and group (the pod's fsGroup stays a
#: supplementary group; no volume the jail mounts is the evaluator's).
JAIL_SECURITY: Final[dict[str, Any]] = {
    **RESTRICTED,
    "runAsUser": JAIL_UID,
    "runAsGroup": JAIL_UID,
}


@dataclass(frozen=True)
class Attempt:
    """Everything one attempt's objects are made from.

    Attributes:
        namespace: the Trial's namespace.
        trial: the Trial's name.
        trial_uid: the Trial's uid, for owner references.
        spec: the Trial's spec (run, task, agent, seed).
        attempt: the attempt number.
        task: the Task (its spec at the time the attempt starts).
        agent: the agent, as the run declares it.
        run: the run's spec.
        settings: the operator's settings.
        shard: the Service shard of the attempt's sandbox pod when that pod exists already
            (a start cut short): the agent pod made now must name the sandbox where it is,
            whatever the run's parallelism has become since. None: by the trial
            (`service_shard`).
    """

    namespace: str
    trial: str
    trial_uid: str
    spec: trials.TrialSpec
    attempt: int
    task: tasks.Task
    agent: runs.Agent
    run: runs.BenchmarkRunSpec
    settings: Settings
    shard: int | None = None

    @property
    def base_name(self) -> str:
        """`<trial>-a<attempt>`: the Secret's and NetworkPolicy's name, the pods' prefix."""
        return f"{self.trial}-a{self.attempt}"

    @property
    def sandbox_pod(self) -> str:
        return f"{self.base_name}-sandbox"

    @property
    def agent_pod(self) -> str:
        return f"{self.base_name}-agent"

    @property
    def service_shard(self) -> int:
        """Which of the run's headless Services names the sandbox pod (`service_shard`)."""
        if self.shard is not None:
            return self.shard
        return service_shard(self.trial, service_shards(self.run.parallelism))

    @property
    def service(self) -> str:
        """The sandbox pod's ``subdomain``: its shard of the run's headless Services."""
        return run_service_name(self.spec.run, self.service_shard)

    @property
    def hostname(self) -> str:
        """The sandbox pod's ``hostname``, unique in its run (`sandbox_hostname`)."""
        return sandbox_hostname(self.trial, self.attempt)

    @property
    def sandbox_host(self) -> str:
        """The sandbox pod's DNS name: ``<hostname>.<run's Service>.<namespace>.svc``."""
        return f"{self.hostname}.{self.service}.{self.namespace}.svc"

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.sandbox_host}:{self.settings.sandbox_port}"

    @property
    def evaluator_url(self) -> str:
        return f"http://{self.sandbox_host}:{self.settings.evaluator_port}"

    def labels(self, role: str | None = None) -> dict[str, str]:
        result = labels.for_trial(
            self.spec.run, self.trial, self.spec.task, self.spec.agent, self.spec.seed, self.attempt
        )
        if role is not None:
            result[labels.ROLE] = role
        return result

    def wall_time_seconds(self) -> int:
        """The trial's wall time: the task's, capped by the run's trial deadline."""
        wall = self.task.spec.limits.wall_time_seconds
        if self.run.deadlines.trial_seconds is not None:
            wall = min(wall, self.run.deadlines.trial_seconds)
        return wall

    def max_validations(self) -> int | None:
        """The trial's cap on validate calls: the task's and the run's, the smaller wins."""
        caps = [
            c
            for c in (self.task.spec.limits.max_validations, self.run.max_validations)
            if c is not None
        ]
        return min(caps) if caps else None

    def evaluator_deadline_seconds(self) -> int:
        """When the evaluator ends itself: past the wall time (the agent's auto-submit comes
        first) and before the pods' deadline, so its record is written by itself."""
        return self.wall_time_seconds() + self.settings.grace_seconds // 2

    def deadline_seconds(self) -> int:
        """The pods' activeDeadlineSeconds: the wall time plus a grace for the auto-submit."""
        return self.wall_time_seconds() + self.settings.grace_seconds


#: The run's Service name starts so: a letter first (DNS-1035), and never the chart's own
#: ``kubegym-<component>`` Services, whatever the run is called.
RUN_SERVICE_PREFIX: Final = "kubegym-run-"


#: A run's sandbox pods are named under one headless Service per this many of its
#: parallelism, at most `MAX_SERVICE_SHARDS`. Every change of a sandbox pod makes the
#: endpoint controllers rewrite its Service's Endpoints and EndpointSlices with all the
#: pods it selects: with one Service per run, what they wrote per trial grew with the
#: run's parallelism (bench/README.md, issue 15).
SERVICE_SHARD_PODS: Final = 128


MAX_SERVICE_SHARDS: Final = 32


def service_shards(parallelism: int) -> int:
    """How many headless Services a run of this parallelism has: one up to
    `SERVICE_SHARD_PODS`, then one more per as many, at most `MAX_SERVICE_SHARDS`."""
    return min(MAX_SERVICE_SHARDS, max(1, -(-parallelism // SERVICE_SHARD_PODS)))


def service_shard(trial: str, shards: int) -> int:
    """The trial's shard among `shards`: a hash of its name, so its attempts and both of its
    pods agree without being told, and the run's trials spread evenly."""
    if shards <= 1:
        return 0
    return int.from_bytes(hashlib.sha256(trial.encode()).digest()[:8], "big") % shards


def run_service_name(run: str, shard: int = 0) -> str:
    """One of the run's headless Services: a DNS-1035 label of at most 63 characters, fixed by
    the run and the shard.

    Shard 0 is ``kubegym-run-<run>`` (the name of a run's one Service before there were
    shards); shard k is ``kubegym-run<k>-<run>``: a digit where shard 0 has its hyphen, and
    k ends at the first hyphen, so no (run, shard) pair shares a name with another. A long
    name is cut and ends with a hash of the run, so two runs never share one.
    """
    prefix = RUN_SERVICE_PREFIX if shard == 0 else f"kubegym-run{shard}-"
    name = prefix + run
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(run.encode()).hexdigest()[:8]
    return f"{name[: 63 - 9]}-{digest}"


def sandbox_hostname(trial: str, attempt: int) -> str:
    """The sandbox pod's ``hostname``: ``<trial>-a<attempt>``, a DNS-1123 label unique in the run.

    Trial names end with a hash of their identity, so a long one loses its head, never
    its tail, when cut to 63 characters (and never starts with a hyphen).
    """
    suffix = f"-a{attempt}"
    return (trial[-(63 - len(suffix)) :]).lstrip("-") + suffix


def owner_reference(kind: str, name: str, uid: str) -> dict[str, Any]:
    """An owner reference that makes the owner's deletion delete the object (and block it)."""
    return {
        "apiVersion": common.API_VERSION,
        "kind": kind,
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def metadata(a: Attempt, name: str, role: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": a.namespace,
        "labels": a.labels(role),
        "ownerReferences": [owner_reference("Trial", a.trial, a.trial_uid)],
    }


def trial_config(a: Attempt) -> dict[str, Any]:
    """The attempt's frozen configuration, read by the evaluator and the agent runner."""
    max_steps = a.agent.max_steps or a.task.spec.limits.max_steps
    return {
        "trial": a.trial,
        "attempt": a.attempt,
        "spec": a.spec.model_dump(mode="json", by_alias=True),
        "task": a.task.model_dump(mode="json", by_alias=True, exclude_none=True),
        "agent": a.agent.model_dump(mode="json", by_alias=True, exclude_none=True),
        "validation": a.run.validation,
        "limits": {
            "maxSteps": max_steps,
            "costLimitUsd": a.agent.cost_limit_usd,
            "wallTimeSeconds": a.wall_time_seconds(),
            "maxValidations": a.max_validations(),
        },
        "store": (
            store.model_dump(mode="json", by_alias=True, exclude_none=True)
            if (store := a.run.store or a.settings.store) is not None
            else None
        ),
        "sandbox": a.sandbox_url,
        "evaluator": a.evaluator_url,
        "evalDir": EVAL_DIR,
    }


def secret(a: Attempt, token_source: Any = secrets) -> dict[str, Any]:
    """The attempt's Secret: a fresh token for the sandbox, another for the evaluator, the config."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(a, a.base_name),
        "type": "Opaque",
        "stringData": {
            SANDBOX_TOKEN: token_source.token_urlsafe(32),
            EVALUATOR_TOKEN: token_source.token_urlsafe(32),
            CONFIG: json.dumps(trial_config(a), sort_keys=True),
        },
    }


def secret_volume(a: Attempt, name: str, items: dict[str, str]) -> dict[str, Any]:
    """A volume with only some keys of the attempt's Secret: each container sees its own."""
    return {
        "name": name,
        "secret": {
            "secretName": a.base_name,
            "defaultMode": 0o440,
            "items": [{"key": key, "path": path} for key, path in items.items()],
        },
    }


def pod_common(a: Attempt) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "activeDeadlineSeconds": a.deadline_seconds(),
        "terminationGracePeriodSeconds": 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if a.settings.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in a.settings.image_pull_secrets]
    return spec


def label_value(text: str) -> str:
    """`text` as a label value (at most 63 characters): long ones keep a hash of the whole."""
    if len(text) <= 63:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[: 63 - 9].rstrip('-_.')}-{digest}"


def kueue(a: Attempt, metadata: dict[str, Any]) -> dict[str, Any]:
    queue = a.run.queue_name or a.settings.default_queue
    if queue is not None:
        metadata["labels"][KUEUE_QUEUE] = queue
        metadata["labels"][KUEUE_GROUP] = label_value(a.base_name)
        metadata.setdefault("annotations", {})[KUEUE_GROUP_COUNT] = "2"
        metadata["annotations"][KUEUE_RETRIABLE] = "false"
        if a.run.workload_priority_class is not None:
            metadata["labels"][KUEUE_PRIORITY] = a.run.workload_priority_class
    return metadata


def resource_limits(cpu: str, memory: str, ephemeral_storage: str, gpus: int = 0) -> dict[str, str]:
    """A container's limits; a GPU entry only for a container that gets GPUs."""
    limits = {"cpu": cpu, "memory": memory, "ephemeral-storage": ephemeral_storage}
    if gpus:
        limits[tasks.GPU_RESOURCE] = str(gpus)
    return limits


def at_most(quantity: str, limit: str) -> str:
    """`quantity`, or `limit` when that is smaller (a request may not exceed its limit)."""
    return quantity if common.parse_quantity(quantity) <= common.parse_quantity(limit) else limit


def placement(a: Attempt) -> tuple[dict[str, str], list[tasks.Toleration]]:
    """The sandbox pod's node selector and tolerations.

    From the task's GPU request, unless the operator's settings place this GPU product
    their own way (`Settings.gpu_products`); the task's own node selector and
    tolerations win over both.
    """
    resources = a.task.spec.resources
    gpu = resources.gpu
    if not gpu.count and not a.task.spec.evaluation.gpu:
        return resources.node_selector(), []
    # A CPU sandbox whose evaluator runs the model on a GPU still lands on a GPU node.
    on_gpu = resources.model_copy(update={"gpu": gpu.model_copy(update={"count": 1})})
    node_selector, tolerations = resources.node_selector(), on_gpu.tolerations()
    configured = a.settings.gpu_placement(gpu.product)
    if configured is not None:
        if configured.node_selector is not None:
            node_selector = {**configured.node_selector, **(gpu.node_selector or {})}
        if configured.tolerations is not None and gpu.tolerations is None:
            tolerations = list(configured.tolerations)
    return node_selector, tolerations


def secret_env(name: str, secret_name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
