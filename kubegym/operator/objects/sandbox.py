"""The sandbox pod: the copy init containers, the sandbox, evaluator and jail containers
and their volumes. The evaluator alone mounts the evaluation script and the hidden data;
the jail runs the agent code an evaluation starts, as another uid. Its ``hostname`` and
``subdomain`` name it under its shard of the run's headless Services; its network mode
label picks the run's egress policy.
"""

from __future__ import annotations

from typing import Any

from kubegym.operator import labels
from kubegym.operator.objects.attempt import (
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
    RESTRICTED,
    ROLE_SANDBOX,
    SANDBOX_TOKEN,
    SECRETS_DIR,
    TERMINATION_LOG,
    WORKSPACE,
    Attempt,
    at_most,
    kueue,
    metadata,
    placement,
    pod_common,
    resource_limits,
)
from kubegym.operator.objects.credentials import (
    init_container,
    key_volume,
    own_secret,
    token_volume,
)
from kubegym.operator.objects.egress import network_mode, proxy_env


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
    meta = kueue(a, metadata(a, a.sandbox_pod, ROLE_SANDBOX))
    # The run's NetworkPolicy for this mode (if any) opens the sandbox's egress.
    meta["labels"][labels.NETWORK] = network_mode(a.task, a.run)
    # Its shard of the run's headless Services selects it by this (`run.service`).
    meta["labels"][labels.SHARD] = str(a.service_shard)
    pod: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            **pod_common(a),
            # Reached at <hostname>.<its shard of the run's headless Services>.<namespace>.svc.
            "hostname": a.hostname,
            "subdomain": a.service,
            "initContainers": [*_credentials(a, image), *copy_containers(image, data_image)],
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
            "securityContext": RESTRICTED,
            "resources": INIT_RESOURCES,
        },
        {
            "name": "task-data",
            "image": data_image,
            "command": ["sh", "-c", f"{data} && {evaluation}"],
            "volumeMounts": [
                {"name": "data", "mountPath": "/mnt/data"},
                {"name": "eval", "mountPath": "/mnt/eval"},
            ],
            "securityContext": RESTRICTED,
            "resources": INIT_RESOURCES,
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
    limits = resource_limits(
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
        # With an egress allowlist, the proxy's URL and the attempt's credentials.
        "env": [{"name": "HOME", "value": WORKSPACE}, *proxy_env(a)],
        "resources": {"requests": dict(limits), "limits": limits},
        "readinessProbe": {
            "tcpSocket": {"port": a.settings.sandbox_port},
            "periodSeconds": 2,
        },
        "securityContext": RESTRICTED,
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
    limits = resource_limits(EVALUATOR_CPU, memory, EVALUATOR_EPHEMERAL, spec.evaluation.gpu)
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
            "requests": {"cpu": "250m", "memory": at_most("512Mi", memory)},
            "limits": limits,
        },
        "readinessProbe": {
            "tcpSocket": {"port": a.settings.evaluator_port},
            "periodSeconds": 2,
        },
        "securityContext": RESTRICTED,
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
    """The sandbox pod's volumes: emptyDirs sized by the task, and each container's own files
    (tokens, config: `kubegym.operator.objects.credentials`)."""
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
        *(token_volume(a, volume, files) for volume, files in _token_files().items()),
        *([] if own_secret(a) else [key_volume(a)]),
    ]


def _token_files() -> dict[str, dict[str, str]]:
    """Each container's own files: the sandbox its token; the evaluator its token and the
    trial's config (Secret key → file name)."""
    return {
        "sandbox-token": {SANDBOX_TOKEN: "token"},
        "evaluator-files": {EVALUATOR_TOKEN: "token", CONFIG: CONFIG},
    }


def _credentials(a: Attempt, image: str) -> list[dict[str, Any]]:
    """The init container deriving the pod's tokens from the run's key (none when the
    attempt has a Secret of its own). It runs on the task image, as the evaluator does."""
    return [] if own_secret(a) else [init_container(a, image, _token_files())]


def jail_container(a: Attempt, image: str) -> dict[str, Any]:
    """The sandbox pod's jail container: where the agent code an evaluation runs is started.

    Its own uid (`JAIL_UID`), a read-only root, no capabilities, the task's CPU, memory and
    ephemeral storage as its limits; it mounts the shared folder read-only, its socket's
    folder and its /tmp, and nothing else: no eval volume, no Secret, no termination log
    (the pod has no service-account token).
    """
    resources = a.task.spec.resources
    limits = resource_limits(resources.cpu, resources.memory, resources.ephemeral_storage)
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
            "requests": {"cpu": "100m", "memory": at_most("256Mi", resources.memory)},
            "limits": limits,
        },
        "securityContext": JAIL_SECURITY,
        "volumeMounts": [
            {"name": "jail-share", "mountPath": JAIL_SHARE, "readOnly": True},
            {"name": "jail-socket", "mountPath": JAIL_SOCKET_DIR},
            {"name": "jail-tmp", "mountPath": "/tmp"},
        ],
    }
