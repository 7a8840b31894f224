"""kubegym's container images: the plan, daemonless builds, the lock, the push.

Every image is tagged with one version (``make images VERSION=0.1.0``, or ``python -m
kubegym.images build --version 0.1.0``; ``--dry-run`` prints the commands):

- ``python-base``, ``data-base`` (`_debian`) and ``pause`` (`_pause`): made here from
  Debian packages and a C source, standing in for the public ``python``, ``busybox``
  and Kubernetes ``pause`` images where nothing can be pulled (buildah only);
- ``kubegym`` (the root ``Dockerfile``): the operator and the agent runner;
- ``sandbox-base-cpu`` and ``-cuda`` (``task_images/base/Dockerfile``);
- per task (``task_images/*`` and ``examples/tasks/*`` with a Dockerfile),
  ``task-<name>`` FROM the sandbox base of its variant and ``task-<name>-data``
  (``task_images/base/Dockerfile.data``), whose context `stage_data` fills.

`ensure` builds with buildah (no daemon, a store in ``$KUBEGYM_CACHE/images``),
skips images whose inputs are unchanged, exports each to an OCI layout and writes the
lock (`load_lock`); `push` copies locked images into a registry, digests kept. With
Docker installed, ``--builder docker`` runs ``docker build`` from the public bases.
`write_locks` writes the Python pins the Dockerfiles install.
"""

from __future__ import annotations

from kubegym.images._build import (
    BuildSettings,
    cannot_build,
    describe,
    ensure,
    ensure_node_images,
    git_revision,
    images_cache,
    planned,
    project_version,
)
from kubegym.images._debian import Source as DebianSource
from kubegym.images._lock import DEFAULT_LOCK, DebianInfo, Lock, LockedImage, load_lock
from kubegym.images._pins import (
    IMAGE_EXTRAS,
    IMAGE_LOCK,
    SANDBOX_LOCK,
    SANDBOX_REQUIREMENTS,
    closure,
    lock_text,
    write_locks,
)
from kubegym.images._plan import (
    BUILDERS,
    DATA_BASE,
    DEFAULT_REGISTRY,
    GROUPS,
    KUBEGYM,
    NODE_IMAGES,
    NODE_TASKS,
    PAUSE,
    PYTHON_BASE,
    REPO,
    VARIANTS,
    Build,
    Builder,
    Kind,
    plan,
    select,
    task_bundles,
    task_variant,
)
from kubegym.images._push import push, pushed_pause_image
from kubegym.images._stage import DATA_DIR, EVAL_DIR, stage_data
from kubegym.images._tools import ImageError

__all__ = [
    "BUILDERS",
    "DATA_BASE",
    "DATA_DIR",
    "DEFAULT_LOCK",
    "DEFAULT_REGISTRY",
    "EVAL_DIR",
    "GROUPS",
    "IMAGE_EXTRAS",
    "IMAGE_LOCK",
    "KUBEGYM",
    "NODE_IMAGES",
    "NODE_TASKS",
    "PAUSE",
    "PYTHON_BASE",
    "REPO",
    "SANDBOX_LOCK",
    "SANDBOX_REQUIREMENTS",
    "VARIANTS",
    "Build",
    "BuildSettings",
    "Builder",
    "DebianInfo",
    "DebianSource",
    "ImageError",
    "Kind",
    "Lock",
    "LockedImage",
    "cannot_build",
    "closure",
    "describe",
    "ensure",
    "ensure_node_images",
    "git_revision",
    "images_cache",
    "load_lock",
    "lock_text",
    "plan",
    "planned",
    "project_version",
    "push",
    "pushed_pause_image",
    "select",
    "stage_data",
    "task_bundles",
    "task_variant",
    "write_locks",
]
