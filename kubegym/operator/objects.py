"""The Kubernetes objects of one trial attempt, as plain manifests.

One attempt is: a Secret (the two tokens and the attempt's frozen config), the
sandbox pod (the sandbox container running the command server on the task
image, the evaluator container, which alone mounts the evaluation script and
the hidden data, and the jail container, where the agent code an evaluation
runs is started), a Service in front of both, a NetworkPolicy that admits only
the attempt's agent pod, the agent pod, and a NetworkPolicy that lets the agent
pod reach only DNS, its sandbox pod and the model endpoints its agent allows.
Every object is owned by the Trial, carries the attempt's labels and has a name
fixed by (trial, attempt), so an operator that restarts half-way creates nothing
twice.

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

Pure functions of their inputs; `kubegym.operator.trials` decides when to create them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from kubegym.api import common, runs, tasks, trials
from kubegym.operator import labels
from kubegym.operator.settings import Settings
from kubegym.store import backends as store_backends

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

# Init containers only copy files. Without requests, their limits would be the requests,
# and a pod's request is the larger of its biggest init container and its containers' sum.
_INIT_RESOURCES: Final[dict[str, Any]] = {
    "requests": {"cpu": "100m", "memory": "64Mi"},
    "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"},
}
#: The evaluator's own limits besides memory (the task's): scoring is one process at a time.
EVALUATOR_CPU: Final = "2"
EVALUATOR_EPHEMERAL: Final = "2Gi"
#: Limits an agent container gets when the operator's settings name none.
AGENT_DEFAULT_LIMITS: Final[dict[str, str]] = {"cpu": "2", "ephemeral-storage": "2Gi"}

_RESTRICTED: Final[dict[str, Any]] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
#: The jail container's: restricted, as its own uid and group (the pod's fsGroup stays a
#: supplementary group; no volume the jail mounts is the evaluator's).
_JAIL_SECURITY: Final[dict[str, Any]] = {
    **_RESTRICTED,
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
    def service(self) -> str:
        return service_name(self.trial, self.attempt)

    @property
    def sandbox_url(self) -> str:
        return f"http://{self.service}.{self.namespace}.svc:{self.settings.sandbox_port}"

    @property
    def evaluator_url(self) -> str:
        return f"http://{self.service}.{self.namespace}.svc:{self.settings.evaluator_port}"

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


def service_name(trial: str, attempt: int) -> str:
    """The attempt's Service name: a DNS-1035 label (a letter first, at most 63 characters).

    Trial names end with a hash of their identity, so the tail is kept when cutting.
    """
    suffix = f"-a{attempt}"
    return "s-" + trial[-(63 - 2 - len(suffix)) :] + suffix


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


def _metadata(a: Attempt, name: str, role: str | None = None) -> dict[str, Any]:
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
        "metadata": _metadata(a, a.base_name),
        "type": "Opaque",
        "stringData": {
            SANDBOX_TOKEN: token_source.token_urlsafe(32),
            EVALUATOR_TOKEN: token_source.token_urlsafe(32),
            CONFIG: json.dumps(trial_config(a), sort_keys=True),
        },
    }


def _secret_volume(a: Attempt, name: str, items: dict[str, str]) -> dict[str, Any]:
    """A volume with only some keys of the attempt's Secret: each container sees its own."""
    return {
        "name": name,
        "secret": {
            "secretName": a.base_name,
            "defaultMode": 0o440,
            "items": [{"key": key, "path": path} for key, path in items.items()],
        },
    }


def _pod_common(a: Attempt) -> dict[str, Any]:
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


def _kueue(a: Attempt, metadata: dict[str, Any]) -> dict[str, Any]:
    queue = a.run.queue_name or a.settings.default_queue
    if queue is not None:
        metadata["labels"][KUEUE_QUEUE] = queue
        metadata["labels"][KUEUE_GROUP] = label_value(a.base_name)
        metadata.setdefault("annotations", {})[KUEUE_GROUP_COUNT] = "2"
    return metadata


def _dataset_mounts(a: Attempt) -> list[dict[str, Any]]:
    mounts = []
    for dataset in a.task.spec.datasets:
        target = dataset.mount_path or f"data/{dataset.name}"
        mounts.append(
            {
                "name": "data",
                "mountPath": f"{WORKSPACE}/{target}",
                "subPath": dataset.name,
                "readOnly": True,
            }
        )
    return mounts


def _copy_into(source: str, target: str, *, optional: bool = False) -> str:
    """A shell command copying what ``source`` holds into the volume at ``target``.

    Each entry is copied with its modes and times, never the folder itself: ``cp -a
    src/. dst/`` also sets the volume root's times, which only its owner (root, for an
    emptyDir) may do, so it fails as the pods' non-root uid on a real kubelet. Works with
    GNU and busybox tools (the data image is busybox). ``optional``: a missing source is
    no error (a task without datasets); any other failure is.
    """
    copy = f"find {source} -mindepth 1 -maxdepth 1 -exec cp -a {{}} {target}/ \\;"
    return f"{{ [ ! -e {source} ] || {copy}; }}" if optional else copy


def sandbox_pod(a: Attempt) -> dict[str, Any]:
    """The sandbox pod: the sandbox, evaluator and jail containers, sharing the workspace.

    Two init containers fill its volumes first: the task image's starter code, and the
    data image's datasets and evaluation part (`copy_containers`).
    """
    spec = a.task.spec
    image = spec.image
    data_image = spec.resolved_data_image()
    if image is None or data_image is None:
        raise ValueError(f"task {a.task.name} has no image (or data image) to run on a cluster")
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _kueue(a, _metadata(a, a.sandbox_pod, ROLE_SANDBOX)),
        "spec": {
            **_pod_common(a),
            "initContainers": copy_containers(image, data_image),
            "containers": [
                sandbox_container(a, image),
                evaluator_container(a, image),
                jail_container(a, image),
            ],
            "volumes": _sandbox_volumes(a),
        },
    }
    node_selector, tolerations = placement(a)
    if node_selector:
        pod["spec"]["nodeSelector"] = node_selector
    if tolerations:
        pod["spec"]["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tolerations
        ]
    if a.settings.runtime_class:
        pod["spec"]["runtimeClassName"] = a.settings.runtime_class
    return pod


def copy_containers(image: str, data_image: str) -> list[dict[str, Any]]:
    """The sandbox pod's init containers: they only copy files into its volumes.

    The task image's starter code (its /workspace) onto the workspace volume; the data
    image's datasets and evaluation part onto the ``data`` and ``eval`` volumes. The data
    image never runs as the sandbox.
    """
    data = _copy_into(DATA_IMAGE_DATA, "/mnt/data", optional=True)
    evaluation = _copy_into(DATA_IMAGE_EVAL, "/mnt/eval")
    return [
        {
            "name": "workspace",
            "image": image,
            "command": ["sh", "-c", _copy_into(WORKSPACE, "/mnt/workspace")],
            "volumeMounts": [{"name": "workspace", "mountPath": "/mnt/workspace"}],
            "securityContext": _RESTRICTED,
            "resources": _INIT_RESOURCES,
        },
        {
            "name": "task-data",
            "image": data_image,
            "command": ["sh", "-c", f"{data} && {evaluation}"],
            "volumeMounts": [
                {"name": "data", "mountPath": "/mnt/data"},
                {"name": "eval", "mountPath": "/mnt/eval"},
            ],
            "securityContext": _RESTRICTED,
            "resources": _INIT_RESOURCES,
        },
    ]


def sandbox_container(a: Attempt, image: str) -> dict[str, Any]:
    """Where the agent's commands run: the command server on the task image.

    It gets the task's resources (GPUs included) as both requests and limits, the
    workspace and the datasets (read-only), shared memory, its /tmp and its own token
    only: never the eval volume, the evaluator's token or the trial's config.
    """
    spec = a.task.spec
    resources = spec.resources
    limits = _limits(
        resources.cpu, resources.memory, resources.ephemeral_storage, resources.gpu.count
    )
    return {
        "name": "sandbox",
        "image": image,
        "command": [
            "python",
            "-m",
            "kubegym.sandbox",
            "serve",
            "--workspace",
            WORKSPACE,
            "--host",
            "0.0.0.0",
            "--port",
            str(a.settings.sandbox_port),
            "--token-file",
            f"{SECRETS_DIR}/token",
            "--timeout",
            str(spec.limits.training_timeout_seconds),
        ],
        "ports": [{"name": "sandbox", "containerPort": a.settings.sandbox_port}],
        "env": [{"name": "HOME", "value": WORKSPACE}],
        "resources": {"requests": dict(limits), "limits": limits},
        "readinessProbe": {
            "tcpSocket": {"port": a.settings.sandbox_port},
            "periodSeconds": 2,
        },
        "securityContext": _RESTRICTED,
        "volumeMounts": [
            {"name": "workspace", "mountPath": WORKSPACE},
            *_dataset_mounts(a),
            {"name": "dshm", "mountPath": "/dev/shm"},
            {"name": "sandbox-tmp", "mountPath": "/tmp"},
            {"name": "sandbox-token", "mountPath": SECRETS_DIR, "readOnly": True},
        ],
    }


def evaluator_container(a: Attempt, image: str) -> dict[str, Any]:
    """The trusted scorer: the evaluator server, alone with the evaluation script and data.

    It reads the workspace read-only, writes the trial's record (its scores) to the
    termination message, and hands submitted code to the jail container through the
    shared folder and the jail's socket. Its memory is the task's; its CPU and disk are
    `EVALUATOR_CPU` and `EVALUATOR_EPHEMERAL`, and the task's evaluation GPUs.
    """
    spec = a.task.spec
    memory = spec.resources.memory
    limits = _limits(EVALUATOR_CPU, memory, EVALUATOR_EPHEMERAL, spec.evaluation.gpu)
    return {
        "name": "evaluator",
        "image": image,
        "command": [
            "python",
            "-m",
            "kubegym.evaluator",
            "serve",
            "--config",
            f"{SECRETS_DIR}/{CONFIG}",
            "--eval-dir",
            EVAL_DIR,
            "--workspace",
            WORKSPACE,
            "--host",
            "0.0.0.0",
            "--port",
            str(a.settings.evaluator_port),
            "--token-file",
            f"{SECRETS_DIR}/token",
            "--record",
            TERMINATION_LOG,
            "--deadline-seconds",
            str(a.evaluator_deadline_seconds()),
            "--jail-socket",
            JAIL_SOCKET,
            "--jail-share",
            JAIL_SHARE,
        ],
        "ports": [{"name": "evaluator", "containerPort": a.settings.evaluator_port}],
        # The trial's scores: the kubelet copies this file into the pod's status.
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
        "resources": {
            "requests": {"cpu": "250m", "memory": _at_most("512Mi", memory)},
            "limits": limits,
        },
        "readinessProbe": {
            "tcpSocket": {"port": a.settings.evaluator_port},
            "periodSeconds": 2,
        },
        "securityContext": _RESTRICTED,
        "volumeMounts": [
            {"name": "workspace", "mountPath": WORKSPACE, "readOnly": True},
            {"name": "eval", "mountPath": EVAL_DIR, "readOnly": True},
            {"name": "evaluator-files", "mountPath": SECRETS_DIR, "readOnly": True},
            {"name": "evaluator-tmp", "mountPath": "/tmp"},
            {"name": "jail-share", "mountPath": JAIL_SHARE},
            # Connecting to a socket works on a read-only mount.
            {"name": "jail-socket", "mountPath": JAIL_SOCKET_DIR, "readOnly": True},
        ],
    }


def _sandbox_volumes(a: Attempt) -> list[dict[str, Any]]:
    """The sandbox pod's volumes: emptyDirs sized by the task, and each container's Secret keys."""
    resources = a.task.spec.resources
    return [
        {"name": "workspace", "emptyDir": {"sizeLimit": resources.ephemeral_storage}},
        {"name": "data", "emptyDir": {}},
        {"name": "eval", "emptyDir": {}},
        {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": resources.shm}},
        # The root file systems are read only: /tmp is a volume in each container.
        {"name": "sandbox-tmp", "emptyDir": {"sizeLimit": resources.ephemeral_storage}},
        {"name": "evaluator-tmp", "emptyDir": {"sizeLimit": EVALUATOR_EPHEMERAL}},
        {"name": "jail-tmp", "emptyDir": {"sizeLimit": resources.ephemeral_storage}},
        {"name": "jail-share", "emptyDir": {"sizeLimit": resources.ephemeral_storage}},
        {"name": "jail-socket", "emptyDir": {"sizeLimit": "1Mi"}},
        _secret_volume(a, "sandbox-token", {SANDBOX_TOKEN: "token"}),
        _secret_volume(a, "evaluator-files", {EVALUATOR_TOKEN: "token", CONFIG: CONFIG}),
    ]


def jail_container(a: Attempt, image: str) -> dict[str, Any]:
    """The sandbox pod's jail container: where the agent code an evaluation runs is started.

    Its own uid (`JAIL_UID`), a read-only root, no capabilities, the task's CPU, memory and
    ephemeral storage as its limits; it mounts the shared folder read-only, its socket's
    folder and its /tmp, and nothing else: no eval volume, no Secret, no termination log
    (the pod has no service-account token).
    """
    resources = a.task.spec.resources
    limits = _limits(resources.cpu, resources.memory, resources.ephemeral_storage)
    return {
        "name": "jail",
        "image": image,
        "command": [
            "python",
            "-m",
            "kubegym.evaluator",
            "jail-serve",
            "--socket",
            JAIL_SOCKET,
            "--share",
            JAIL_SHARE,
            "--mode",
            "auto",
        ],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": _at_most("256Mi", resources.memory)},
            "limits": limits,
        },
        "securityContext": _JAIL_SECURITY,
        "volumeMounts": [
            {"name": "jail-share", "mountPath": JAIL_SHARE, "readOnly": True},
            {"name": "jail-socket", "mountPath": JAIL_SOCKET_DIR},
            {"name": "jail-tmp", "mountPath": "/tmp"},
        ],
    }


def _limits(cpu: str, memory: str, ephemeral_storage: str, gpus: int = 0) -> dict[str, str]:
    """A container's limits; a GPU entry only for a container that gets GPUs."""
    limits = {"cpu": cpu, "memory": memory, "ephemeral-storage": ephemeral_storage}
    if gpus:
        limits[tasks.GPU_RESOURCE] = str(gpus)
    return limits


def _at_most(quantity: str, limit: str) -> str:
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


def _secret_env(name: str, secret_name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}


def agent_pod(a: Attempt) -> dict[str, Any]:
    """The agent pod: kubegym's agent runner (or the agent's own image), with egress and the keys.

    Only kubegym's own agent runner gets the store's credentials (it uploads the
    trajectory and the workspace); an external image gets none: nothing it could
    write to the store counts, and its scores come from the evaluator.
    """
    env: list[dict[str, Any]] = [
        {"name": "KUBEGYM_SANDBOX_URL", "value": a.sandbox_url},
        {"name": "KUBEGYM_EVALUATOR_URL", "value": a.evaluator_url},
        _secret_env("KUBEGYM_SANDBOX_TOKEN", a.base_name, SANDBOX_TOKEN),
        _secret_env("KUBEGYM_EVALUATOR_TOKEN", a.base_name, EVALUATOR_TOKEN),
        {"name": "KUBEGYM_TRIAL_CONFIG", "value": f"{SECRETS_DIR}/{CONFIG}"},
        {"name": "LITELLM_LOCAL_MODEL_COST_MAP", "value": "True"},
        # The root file system is read only: home and temporary files go to /tmp's volume.
        {"name": "HOME", "value": "/tmp"},
    ]
    if a.agent.api_key_secret is not None:
        variable = a.agent.api_key_env or "KUBEGYM_MODEL_API_KEY"
        ref = a.agent.api_key_secret
        env.append(_secret_env(variable, ref.name, ref.key))
    env.extend(_secret_env(v.name, v.secret, v.key) for v in store_access(a).env)
    own_runner = a.agent.image is None
    container: dict[str, Any] = {
        "name": "agent",
        "image": a.agent.image or a.settings.agent_image,
        "env": env,
        "resources": _agent_resources(a.settings.agent_resources),
        "securityContext": _RESTRICTED,
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
        "metadata": _kueue(a, _metadata(a, a.agent_pod, ROLE_AGENT)),
        "spec": {
            **_pod_common(a),
            "containers": [container],
            "volumes": [
                _secret_volume(a, "trial", {CONFIG: CONFIG}),
                {"name": "tmp", "emptyDir": {"sizeLimit": limits["ephemeral-storage"]}},
            ],
        },
    }
    if a.settings.runtime_class:
        pod["spec"]["runtimeClassName"] = a.settings.runtime_class
    return pod


def store_access(a: Attempt) -> store_backends.PodAccess:
    """What the agent pod needs to reach the run's store, as its backend says (Secret keys
    as variables, ports); nothing for an external image, nothing without a store."""
    store = a.run.store or a.settings.store
    if a.agent.image is not None or store is None:
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


def service(a: Attempt) -> dict[str, Any]:
    """The attempt's Service: the agent pod reaches the sandbox and the evaluator through it."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(a, a.service),
        "spec": {
            # Headless: no cluster IP to allocate per trial (a /12 runs out), no kube-proxy
            # rules; the name resolves straight to the sandbox pod.
            "clusterIP": "None",
            "selector": {
                labels.TRIAL: a.trial,
                labels.ATTEMPT: str(a.attempt),
                labels.ROLE: ROLE_SANDBOX,
            },
            "ports": [
                {"name": "sandbox", "port": a.settings.sandbox_port, "targetPort": "sandbox"},
                {"name": "evaluator", "port": a.settings.evaluator_port, "targetPort": "evaluator"},
            ],
        },
    }


def network_policy(a: Attempt) -> dict[str, Any]:
    """Only the attempt's agent pod reaches the sandbox pod; no egress unless the task asks."""
    policy: dict[str, Any] = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(a, a.base_name),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    labels.TRIAL: a.trial,
                    labels.ATTEMPT: str(a.attempt),
                    labels.ROLE: ROLE_SANDBOX,
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchLabels": {
                                    labels.TRIAL: a.trial,
                                    labels.ATTEMPT: str(a.attempt),
                                    labels.ROLE: ROLE_AGENT,
                                }
                            }
                        }
                    ],
                    "ports": [
                        {"protocol": "TCP", "port": a.settings.sandbox_port},
                        {"protocol": "TCP", "port": a.settings.evaluator_port},
                    ],
                }
            ],
            "egress": [{}] if a.task.spec.network == "egress" else [],
        },
    }
    return policy


def agent_policy_name(trial: str, attempt: int) -> str:
    """The name of the agent pod's egress NetworkPolicy."""
    return f"{trial}-a{attempt}-agent"


def agent_egress(a: Attempt) -> list[dict[str, Any]]:
    """Where the agent pod may connect besides DNS and its sandbox pod (NetworkPolicy rules).

    The agent's `egress` when it declares one; else, for a model agent or an external
    image, TCP 443 (and `apiBase`'s port) to public addresses; for a built-in agent,
    nothing. kubegym's own agent runner also reaches the store it uploads to.
    """
    rules: list[dict[str, Any]] = []
    public = {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(PRIVATE_CIDRS)}}
    if a.agent.egress is not None:
        for rule in a.agent.egress:
            block: dict[str, Any] = {"cidr": rule.cidr}
            if rule.except_cidrs:
                block["except"] = list(rule.except_cidrs)
            rules.append({"to": [{"ipBlock": block}], "ports": [_tcp(port) for port in rule.ports]})
    elif a.agent.builtin is None:
        ports = {443}
        if a.agent.api_base:
            ports.add(_url_port(a.agent.api_base))
        rules.append({"to": [public], "ports": [_tcp(p) for p in sorted(ports)]})
    store_ports = store_access(a).ports
    if store_ports:
        # The store may be in the cluster (MinIO): its ports, to any address.
        rules.append({"ports": [_tcp(port) for port in store_ports]})
    return rules


def agent_network_policy(a: Attempt) -> dict[str, Any]:
    """The agent pod's NetworkPolicy: no ingress; egress to DNS, its sandbox pod's two ports,
    and `agent_egress` only."""
    sandbox = {
        "podSelector": {
            "matchLabels": {
                labels.TRIAL: a.trial,
                labels.ATTEMPT: str(a.attempt),
                labels.ROLE: ROLE_SANDBOX,
            }
        }
    }
    dns = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(a, agent_policy_name(a.trial, a.attempt)),
        "spec": {
            "podSelector": {
                "matchLabels": {
                    labels.TRIAL: a.trial,
                    labels.ATTEMPT: str(a.attempt),
                    labels.ROLE: ROLE_AGENT,
                }
            },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": [
                dns,
                {
                    "to": [sandbox],
                    "ports": [_tcp(a.settings.sandbox_port), _tcp(a.settings.evaluator_port)],
                },
                *agent_egress(a),
            ],
        },
    }


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def _url_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


def attempt_objects(a: Attempt) -> list[dict[str, Any]]:
    """Every object of an attempt, in the order they are created (the agent pod last, its
    NetworkPolicy before it)."""
    return [
        secret(a),
        network_policy(a),
        service(a),
        sandbox_pod(a),
        agent_network_policy(a),
        agent_pod(a),
    ]
