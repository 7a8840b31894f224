"""Building the images with buildah, here, without a daemon: `ensure`.

`ensure` builds the named images and everything they start FROM, in plan order,
exports each to the cache's OCI layout and writes the lock. An image whose inputs
(`kubegym.images._inputs`) hash as at its last build, and which is still in the
store and the layout, is skipped, so a warm run takes seconds. ``make images``,
``make node-images`` (`ensure_node_images`) and the image tests' session fixture
all come through here, and share ``<cache>/images`` (``$KUBEGYM_CACHE``):

- ``storage/``: buildah's store (layers, the ``--layers`` step cache);
- ``oci/``: the OCI layout with every image, ref ``<name>:<tag>``;
- ``state.json``: each image's last inputs, their components and digest;
- ``times.jsonl``: one line per image and run: built, unchanged or restored, seconds;
- ``logs/<name>.log``: the last build's output of each image.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from kubegym import cache, errors
from kubegym.images import (
    _buildah,
    _debian,
    _dockerfile,
    _inputs,
    _lock,
    _oci,
    _pause,
    _plan,
    _stage,
    _state,
    _tools,
)

CA_ENV: Final = "KUBEGYM_BUILD_CA"


def project_version(repo: Path = _plan.REPO) -> str:
    """The version in ``pyproject.toml`` (what ``make images`` tags with by default)."""
    try:
        project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
        return str(project["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return metadata.version("kubegym")


def default_ca_bundle() -> Path | None:
    """The CA bundle RUN steps should trust: ``$KUBEGYM_BUILD_CA``, else pip's ``$PIP_CERT``.

    None (the images' own CA store) unless this host needs a CA of its own, such as
    a TLS-inspecting proxy's.
    """
    for name in (CA_ENV, "PIP_CERT"):
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return Path(value)
    return None


def images_cache() -> Path:
    """``<cache>/images``: the store, the OCI layout, the logs and the build times."""
    return cache.root() / "images"


@dataclass(frozen=True)
class BuildSettings:
    """How `ensure` builds: names, places, sources."""

    version: str = field(default_factory=project_version)
    """The tag of every image (the sandbox bases add ``-cpu``/``-cuda``)."""
    registry: str = _plan.DEFAULT_REGISTRY
    """The repository prefix the images are tagged with."""
    lock_path: Path = _lock.DEFAULT_LOCK
    """Where the lock is written (merged into when it exists)."""
    cache: Path = field(default_factory=images_cache)
    """The store, the OCI layout, logs and times."""
    ca_bundle: Path | None = field(default_factory=default_ca_bundle)
    """A CA bundle for ``pip install`` in RUN steps; see `_buildah.bud_command`."""
    debian: _debian.Source = field(default_factory=_debian.Source)
    """Where the Debian packages of the bases come from."""
    keep_going: bool = False
    """After an image fails, build the others that do not need it, then raise."""
    force: bool = False
    """Rebuild even the images whose inputs are unchanged (the step cache still helps)."""
    verbose: bool = False
    """Copy the tools' output to stderr, not only to the logs."""
    repo: Path = _plan.REPO
    """The repository's root."""
    revision: str | None = None
    """The commit for the OCI labels (``git rev-parse`` when None)."""


def cannot_build() -> str | None:
    """Why images cannot be built with buildah on this machine; None when they can."""
    if os.geteuid() != 0:
        return "buildah builds here run as root (a rootless store needs /etc/subuid ranges)"
    absent = _tools.missing("buildah", "mmdebstrap", "gcc", "skopeo", "tar", "mount")
    if absent:
        return f"missing {', '.join(absent)} (Debian: apt-get install {' '.join(absent)})"
    return None


def git_revision(repo: Path) -> str:
    """The short commit of ``repo``, or ``unknown``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def planned(names: Sequence[str], settings: BuildSettings) -> list[_plan.Build]:
    """The buildah builds `ensure` runs for ``names`` (all when empty), in order."""
    builds = _plan.plan(
        settings.version,
        registry=settings.registry,
        repo=settings.repo,
        revision=settings.revision or git_revision(settings.repo),
        builder="buildah",
    )
    return _plan.select(builds, names)


def ensure(names: Sequence[str] = (), settings: BuildSettings | None = None) -> _lock.Lock:
    """Build ``names`` (and what they start FROM) unless unchanged; write and return the lock.

    Args:
        names: image names of the plan (``kubegym``, ``task-polyfit-data``…) or groups
            (``node``); every image when empty.
        settings: where and how (the defaults: this repository's version, the cache
            under ``$KUBEGYM_CACHE``, ``build/images.lock.yaml``).

    Returns:
        The lock as written: the entries built or kept now, and earlier entries of
        images not asked for this time.

    Raises:
        ImageError: this machine cannot build (see `cannot_build`), or a build failed
            (the message quotes its log; with ``keep_going``, after the others, naming
            every image not built).
        ConfigError: an unknown image name.
    """
    settings = settings or BuildSettings()
    builds = planned(names, settings)
    problem = cannot_build()
    if problem is not None:
        raise _tools.ImageError(f"cannot build images here: {problem}")
    failed: dict[str, str] = {}
    with exclusive(settings.cache):
        run = _Run(settings, builds)
        images: dict[str, _lock.LockedImage] = {}
        try:
            for position, build in enumerate(builds, 1):
                missing = [name for name in build.needs if name in failed]
                if missing:
                    failed[build.name] = f"needs {', '.join(missing)}, which failed"
                    _progress(
                        f"[{position}/{run.total}] {build.name}: not built: {failed[build.name]}"
                    )
                    continue
                try:
                    images[build.name] = run.one(build, position)
                except errors.KubegymError as exc:
                    if not settings.keep_going:
                        raise
                    failed[build.name] = str(exc).splitlines()[0]
                    _progress(f"[{position}/{run.total}] {build.name}: FAILED: {exc}")
        finally:
            # After a failure too: what was built stays usable (and locked) meanwhile.
            lock = _merged(settings, images)
            _lock.write_lock(lock, settings.lock_path)
        freed = _oci.collect_garbage(run.layout)
        if run.built:
            pruned = _buildah.prune(run.store)
            if pruned:
                _progress(f"{pruned} superseded image(s) pruned from the store")
    _progress(
        f"{len(images)} of {len(builds)} image(s) in {time.monotonic() - run.started:.1f} s; "
        f"lock: {settings.lock_path}" + (f"; {freed >> 20} MiB of old blobs freed" if freed else "")
    )
    if failed:
        raise _tools.ImageError(
            f"{len(failed)} image(s) not built: "
            + "; ".join(f"{name} ({why})" for name, why in failed.items())
        )
    return lock


def describe(builds: Sequence[_plan.Build], settings: BuildSettings) -> list[str]:
    """What `ensure` would run for ``builds``, as shell lines (``--dry-run``)."""
    store = _buildah.storage(settings.cache, probe=False)
    layout = settings.cache / "oci"
    work = settings.cache / "work"
    lines: list[str] = []
    for build in builds:
        lines.append(f"# image {build.name}: {build.reference}")
        if build.kind is _plan.Kind.DEBIAN:
            recipe = _debian.RECIPES[build.name]
            tarball = work / f"{recipe.name}.tar"
            lines.append(shlex.join(_debian.mmdebstrap_command(recipe, settings.debian, tarball)))
            lines.append(f"# import {tarball} as one layer FROM scratch: buildah from/mount/commit")
        elif build.kind is _plan.Kind.PAUSE:
            lines.append(shlex.join(_pause.compile_command(work / "pause")))
            lines.append("# copy it to /pause FROM scratch: buildah from/mount/commit")
        else:
            assert build.dockerfile is not None and build.context is not None
            if build.data_of is not None:
                lines.append(f"# stage {build.data_of}'s data into {build.context}")
            command = _buildah.bud_command(
                store,
                dockerfile=build.dockerfile,
                context=build.context,
                reference=build.reference,
                build_args=build.build_args,
                ca_folder=settings.cache / "build-ca" if settings.ca_bundle else None,
            )
            lines.append(shlex.join(command))
        ref = _oci.transport(layout, f"{build.name}:{build.tag}")
        lines.append(shlex.join(store.buildah("push", "--quiet", build.reference, ref)))
    return lines


def ensure_node_images(settings: BuildSettings | None = None) -> _lock.Lock:
    """`ensure` the images a real node's tests need (`kubegym.images.NODE_IMAGES`)."""
    return ensure(_plan.NODE_IMAGES, settings)


def _progress(message: str) -> None:
    print(f"images: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def exclusive(cache: Path) -> Iterator[None]:
    """One build at a time per cache (make and a test session may overlap); held also
    around anything else that builds in the store, since `ensure` prunes it."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".build.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _merged(settings: BuildSettings, images: dict[str, _lock.LockedImage]) -> _lock.Lock:
    kept: dict[str, _lock.LockedImage] = {}
    if settings.lock_path.is_file():
        try:
            kept = dict(_lock.load_lock(settings.lock_path).images)
        except errors.ConfigError as exc:
            _progress(f"replacing an unreadable lock ({exc})")
    return _lock.Lock(
        version=settings.version,
        registry=settings.registry,
        images={**kept, **images},
    )


class _Run:
    """One `ensure`: the store, the layout, the last state, and each image's turn."""

    def __init__(self, settings: BuildSettings, builds: Sequence[_plan.Build]) -> None:
        self.settings = settings
        self.total = len(builds)
        self.started = time.monotonic()
        cache = settings.cache
        self.layout = cache / "oci"
        self.work = cache / "work"
        self.state = _state.State(cache)
        self.store = _buildah.storage(cache)
        _buildah.remove_containers(self.store)  # left by an earlier build
        self.present = _buildah.images(self.store)
        self.builder = _buildah.version()
        self.digests: dict[str, str] = {}
        self.built = 0
        self.ca_folder = _ca_folder(cache, settings.ca_bundle)
        self.bundles = _plan.task_bundles(settings.repo) if any(b.data_of for b in builds) else {}

    def one(self, build: _plan.Build, position: int) -> _lock.LockedImage:
        """Build ``build`` unless unchanged; its lock entry."""
        started = time.monotonic()
        prefix = f"[{position}/{self.total}] {build.name}"
        if build.data_of is not None:
            assert build.context is not None
            _stage.stage_data(self.bundles[build.data_of], build.context)
        components = self._components(build)
        inputs = _inputs.digest(components)
        ref = f"{build.name}:{build.tag}"
        before = self.state.last(build)
        why = _state.why_build(
            before,
            inputs=inputs,
            components=components,
            reference=build.reference,
            in_layout=_oci.digest(self.layout, ref),
            in_store=build.reference in self.present,
            force=self.settings.force,
        )
        if why is None:
            outcome, digest = "unchanged", str(before["digest"])
            debian = before.get("debian")
            seconds = before.get("seconds")
        elif why == "restore":
            outcome, digest = "restored", str(before["digest"])
            debian = before.get("debian")
            _buildah.pull_oci(self.store, self.layout, ref, build.reference, self._log(build))
            seconds = before.get("seconds")
        else:
            log = self._log(build)
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("")
            _progress(f"{prefix}: building ({why}); log: {log}")
            debian = self._make(build, log)
            digest = _buildah.push_oci(self.store, build.reference, self.layout, ref, log)
            outcome, seconds = "built", round(time.monotonic() - started, 1)
            self.built += 1
        took = time.monotonic() - started
        _progress(f"{prefix}: {outcome} in {took:.1f} s ({_lock.short(digest)})")
        self.digests[build.name] = digest
        self.state.record(
            build,
            outcome=outcome,
            took=took,
            inputs=inputs,
            components=components,
            digest=digest,
            seconds=seconds,
            debian=debian,
            ref=ref,
        )
        return _lock.LockedImage(
            repository=build.repository,
            tag=build.tag,
            digest=digest,
            oci=_oci.transport(self.layout, ref),
            inputs=inputs,
            seconds=seconds,
            debian=_lock.DebianInfo.model_validate(debian) if debian else None,
        )

    def _components(self, build: _plan.Build) -> _inputs.Components:
        if build.kind is _plan.Kind.DEBIAN:
            recipe = _debian.RECIPES[build.name]
            return {
                "kind": str(build.kind),
                "reference": build.reference,
                **recipe.describe(self.settings.debian),
            }
        if build.kind is _plan.Kind.PAUSE:
            return {
                "kind": str(build.kind),
                "reference": build.reference,
                "source": _inputs.file_digest(_pause.SOURCE),
                "flags": list(_pause.FLAGS),
                "compiler": _pause.compiler(),
                "config": dataclasses.asdict(_pause.CONFIG),
            }
        return _inputs.of_dockerfile(build, self.digests, self.builder)

    def _make(self, build: _plan.Build, log: Path) -> dict[str, Any] | None:
        """Build one image into the store; the Debian report for the lock, if any."""
        store = self.store
        if build.kind is _plan.Kind.PAUSE:
            binary = _pause.compile_binary(self.work, log)
            _buildah.commit_rootfs(
                store, build.reference, _pause.CONFIG, _pause.fill(binary), log=log
            )
            return None
        if build.kind is _plan.Kind.DEBIAN:
            return self._make_debian(build, log)
        assert build.dockerfile is not None and build.context is not None
        command = _buildah.bud_command(
            store,
            dockerfile=build.dockerfile,
            context=build.context,
            reference=build.reference,
            build_args=build.build_args,
            ca_folder=self.ca_folder,
        )
        _tools.run(command, log=log, verbose=self.settings.verbose, capture=False)
        # Tag each earlier named stage (all steps cached: a second or so), so that
        # `_buildah.prune` keeps its step cache: the kubegym image's pip install.
        *earlier, _final = _dockerfile.parse(build.dockerfile).stages
        for stage in earlier:
            if stage.name is None:
                continue
            tag = _buildah.stage_reference(build.name, stage.name, build.tag)
            command = _buildah.bud_command(
                store,
                dockerfile=build.dockerfile,
                context=build.context,
                reference=tag,
                build_args=build.build_args,
                ca_folder=self.ca_folder,
                target=stage.name,
            )
            _tools.run(command, log=log, verbose=self.settings.verbose, capture=False)
        _buildah.remove_containers(store)
        return None

    def _make_debian(self, build: _plan.Build, log: Path) -> dict[str, Any]:
        recipe = _debian.RECIPES[build.name]
        source = self.settings.debian
        tarball, report = _debian.build_tree(recipe, source, self.work, log)

        def fill(root: Path) -> None:
            _debian.unpack(tarball, root, log)
            if recipe is _debian.DATA:
                report.packages = _debian.finish_busybox(root)
            else:
                report.packages = _debian.installed(root)

        try:
            _buildah.commit_rootfs(self.store, build.reference, recipe.config, fill, log=log)
        finally:
            tarball.unlink(missing_ok=True)
        return {
            "suite": _debian.SUITE,
            "sources": source.lines(),
            "snapshot": source.snapshot,
            "releases": report.releases,
            "packages": report.packages,
        }

    def _log(self, build: _plan.Build) -> Path:
        return self.settings.cache / "logs" / f"{build.name}.log"


def _ca_folder(cache: Path, bundle: Path | None) -> Path | None:
    """A folder with ``bundle`` and a pip.conf naming it, mounted at `_buildah.CA_MOUNT`."""
    if bundle is None:
        return None
    folder = cache / "build-ca"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle, folder / "ca.crt")
    (folder / "pip.conf").write_text(f"[global]\ncert = {_buildah.CA_MOUNT}/ca.crt\n")
    return folder
