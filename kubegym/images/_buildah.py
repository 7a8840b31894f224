"""buildah without a daemon: kubegym's own image store in the cache, builds, exports.

The store lives in ``<cache>/images/storage`` (`Storage`), never in the system's
``/var/lib/containers``; its driver is probed once (overlay when this kernel mounts
it over the cache's file system, else vfs) and remembered, since a store cannot change
driver. `kubegym.images._build` calls `bud` for Dockerfiles, `commit_rootfs` for the
images assembled here, then `push_oci` to export to the cache's OCI layout.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from kubegym.images import _oci, _tools

DRIVERS: Final = ("overlay", "vfs")
#: Where RUN steps find the build's CA bundle and a pip.conf naming it (see `bud`).
CA_MOUNT: Final = "/etc/xdg/pip"


@dataclass(frozen=True)
class Storage:
    """One buildah store: its folders and driver, passed to every buildah command."""

    root: Path
    runroot: Path
    driver: str

    def args(self) -> list[str]:
        return [
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            "--storage-driver",
            self.driver,
        ]

    def buildah(self, *args: str) -> list[str]:
        return ["buildah", *self.args(), *args]


@dataclass(frozen=True)
class ImageConfig:
    """What ``buildah config`` sets on an image assembled here."""

    env: dict[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def args(self) -> list[str]:
        args: list[str] = []
        for key, value in self.env.items():
            args += ["--env", f"{key}={value}"]
        for key, value in self.labels.items():
            args += ["--label", f"{key}={value}"]
        if self.entrypoint:
            args += ["--entrypoint", json.dumps(list(self.entrypoint))]
        if self.cmd:
            args += ["--cmd", json.dumps(list(self.cmd))]
        if self.user is not None:
            args += ["--user", self.user]
        return args


def storage(images_cache: Path, *, probe: bool = True) -> Storage:
    """The store under ``images_cache``, probing its driver the first time.

    The run root (mount state, locks) goes under ``/run`` when it is writable, so a
    reboot clears it with the mounts it describes. ``probe=False`` (a dry run)
    creates nothing and names overlay when no probe has run yet.
    """
    root = images_cache / "storage"
    remembered = images_cache / "storage-driver"
    driver = remembered.read_text().strip() if remembered.is_file() else ""
    if driver not in DRIVERS:
        driver = DRIVERS[0]
        if probe:
            driver = probe_driver(images_cache)
            remembered.write_text(driver + "\n")
    if probe:
        root.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    run = Path("/run")
    runroot = (
        run / "kubegym" / f"images-{key}" if os.access(run, os.W_OK) else images_cache / "runroot"
    )
    return Storage(root, runroot, driver)


def probe_driver(where: Path) -> str:
    """``overlay`` when an overlay mount works on ``where``'s file system, else ``vfs``."""
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where, prefix="probe-") as folder:
        parts = {name: Path(folder) / name for name in ("lower", "upper", "work", "merged")}
        for path in parts.values():
            path.mkdir()
        options = f"lowerdir={parts['lower']},upperdir={parts['upper']},workdir={parts['work']}"
        mounted = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", options, str(parts["merged"])],
            capture_output=True,
        )
        if mounted.returncode != 0:
            return "vfs"
        subprocess.run(["umount", str(parts["merged"])], check=False)
    return "overlay"


def version() -> str:
    """``buildah --version``'s answer, part of every Dockerfile image's inputs."""
    return _tools.run(["buildah", "--version"]).strip()


def images(store: Storage) -> set[str]:
    """The names (``repository:tag``) of the images in the store."""
    out = _tools.run(store.buildah("images", "--json"))
    found: set[str] = set()
    for image in json.loads(out or "[]"):
        found.update(image.get("names") or [])
    return found


def bud_command(
    store: Storage,
    *,
    dockerfile: Path,
    context: Path,
    reference: str,
    build_args: dict[str, str],
    ca_folder: Path | None,
    target: str | None = None,
) -> list[str]:
    """The ``buildah build`` command line of one Dockerfile (up to the stage ``target``).

    ``--isolation chroot`` needs no daemon and no user namespaces; ``--layers`` keeps
    each step's result so a warm rebuild reuses it; ``--pull=never`` builds only FROM
    images already in the store (built before, in plan order). No ``--timestamp``: it
    would set every new file's mtime to the epoch, which voids the mtime-checked .pyc
    files pip writes, so each import in the image would compile again. ``ca_folder`` (a pip.conf and the CA
    bundle it names) is mounted for the RUN steps only, so ``pip install`` trusts
    what the host trusts behind a TLS-inspecting proxy; the image keeps only the empty
    mount point ``/etc/xdg/pip``.
    """
    args = store.buildah(
        "build",
        "--isolation",
        "chroot",
        "--layers",
        "--pull=never",
        "--file",
        str(dockerfile),
        "--tag",
        reference,
    )
    if target is not None:
        args += ["--target", target]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    if ca_folder is not None:
        args += ["--volume", f"{ca_folder}:{CA_MOUNT}:ro"]
    return [*args, str(context)]


#: Where the named stages of a multi-stage build are tagged (see `prune`).
STAGES: Final = "localhost/kubegym-stages"


def stage_reference(name: str, stage: str, tag: str) -> str:
    """The tag that keeps ``stage`` of image ``name``'s last build (and its step cache)."""
    return f"{STAGES}/{name}-{stage}:{tag}"


def prune(store: Storage) -> int:
    """Delete the untagged images no tagged image is built on: superseded builds.

    ``--layers`` keeps an untagged image per step; those of the current images are
    their step cache (their top layers lie in a tagged image's chain: the stages of a
    multi-stage build are tagged too, `stage_reference`) and stay; those of earlier
    builds would only fill the disk. Reads the store's own records of images and
    layers (containers/storage's ``<driver>-images/images.json`` and
    ``<driver>-layers/layers.json``); prunes nothing when they cannot be read.

    Returns:
        How many images were deleted.
    """
    try:
        images_ = json.loads((store.root / f"{store.driver}-images" / "images.json").read_text())
        layers = json.loads((store.root / f"{store.driver}-layers" / "layers.json").read_text())
    except (OSError, ValueError):
        return 0
    parents = {layer["id"]: layer.get("parent") for layer in layers}
    kept: set[str] = set()
    for image in images_:
        layer = image.get("layer") if image.get("names") else None
        while layer and layer not in kept:
            kept.add(layer)
            layer = parents.get(layer)
    garbage = [i["id"] for i in images_ if not i.get("names") and i.get("layer") not in kept]
    if garbage:
        subprocess.run(store.buildah("rmi", *garbage), capture_output=True)
    return len(garbage)


def remove_containers(store: Storage) -> None:
    """Remove every working container of the store, unmounting it.

    buildah 1.28 leaves the container of a stage that has no step (``FROM
    ${PYTHON_IMAGE} AS base-cpu``) behind after ``build``, mounted: it would pin its
    image against `prune` and keep a mount per build. The store is kubegym's own and
    builds run one at a time (`kubegym.images._build.exclusive`), so none is in use.
    """
    subprocess.run(store.buildah("rm", "--all"), capture_output=True)


def commit_rootfs(
    store: Storage,
    reference: str,
    config: ImageConfig,
    fill: Callable[[Path], None],
    *,
    log: Path | None = None,
) -> None:
    """Make ``reference`` FROM scratch: ``fill`` writes its one layer into the mounted root.

    Raises:
        ImageError: a buildah step failed.
    """
    container = _tools.run(store.buildah("from", "--quiet", "scratch"), log=log).strip()
    try:
        root = Path(_tools.run(store.buildah("mount", container), log=log).strip())
        try:
            fill(root)
        finally:
            _tools.run(store.buildah("umount", container), log=log)
        _tools.run(store.buildah("config", *config.args(), container), log=log)
        _tools.run(
            store.buildah("commit", "--quiet", "--timestamp", "0", container, reference), log=log
        )
    finally:
        subprocess.run(store.buildah("rm", container), capture_output=True)


def push_oci(store: Storage, reference: str, layout: Path, ref: str, log: Path) -> str:
    """Export ``reference`` to ``layout`` as ``ref``; its manifest digest there.

    Raises:
        ImageError: the export failed.
    """
    layout.mkdir(parents=True, exist_ok=True)
    _tools.run(store.buildah("push", "--quiet", reference, _oci.transport(layout, ref)), log=log)
    digest = _oci.digest(layout, ref)
    if digest is None:
        raise _tools.ImageError(f"buildah push wrote no {ref!r} into {layout}")
    return digest


def pull_oci(store: Storage, layout: Path, ref: str, reference: str, log: Path) -> None:
    """Put ``ref`` of ``layout`` back into the store as ``reference`` (a wiped store).

    skopeo writes into the store directly (``containers-storage:[driver@root+runroot]``):
    ``buildah pull oci:…`` would name the image after the layout's folder.
    """
    where = f"[{store.driver}@{store.root}+{store.runroot}]"
    source = _oci.transport(layout, ref)
    _tools.run(
        ["skopeo", "copy", "--quiet", source, f"containers-storage:{where}{reference}"], log=log
    )
