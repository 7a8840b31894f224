"""The images lock: which digest each built image has, and where its OCI copy is.

`kubegym.images._build` writes it after every build (``build/images.lock.yaml`` by
default) and merges into it, so a partial build keeps the other entries; `load_lock`
reads it back for `kubegym.images._push` and for whoever starts a node from these
images (the pause image's reference, the task images' digests).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, Literal

import pydantic
import yaml

from kubegym.api import common
from kubegym.errors import ConfigError
from kubegym.images import _plan

DEFAULT_LOCK: Final = _plan.REPO / "build" / "images.lock.yaml"
LOCK_VERSION: Final = 1
_HEADER: Final = (
    "# The images built by `python -m kubegym.images build` (make images / make node-images):\n"
    "# each one's digest as stored in the OCI layout `oci` names, which `skopeo copy` keeps\n"
    "# when it pushes to a registry (`kubegym.images.push`). Written by the build; do not edit.\n"
)
_DIGEST = r"^sha256:[0-9a-f]{64}$"


class DebianInfo(common.Model):
    """The Debian packages an image was made from."""

    suite: str
    """The Debian release: ``bookworm``."""
    sources: list[str]
    """The apt source lines mmdebstrap used (a snapshot's when one was asked for)."""
    snapshot: str | None = None
    """The snapshot.debian.org timestamp, when the packages came from a snapshot."""
    releases: dict[str, str] = pydantic.Field(default_factory=dict)
    """Each source's InRelease file → its ``Date:``: how fresh the mirror was."""
    packages: dict[str, str] = pydantic.Field(default_factory=dict)
    """Each installed package → its version."""


class LockedImage(common.Model):
    """One built image."""

    repository: str
    """The repository it is tagged with: ``ghcr.io/kubegym/task-polyfit``."""
    tag: str
    """Its tag: the version, plus ``-cpu``/``-cuda`` for the sandbox bases."""
    digest: str = pydantic.Field(pattern=_DIGEST)
    """The sha256 of its manifest as stored in the OCI layout (and in a registry after
    `kubegym.images.push`)."""
    oci: str
    """Where the image is: ``oci:<layout folder>:<ref>``, a name skopeo and buildah take."""
    inputs: str = pydantic.Field(pattern=_DIGEST)
    """The hash of what decided the image (`kubegym.images._inputs`); a build with the
    same inputs is skipped."""
    seconds: float | None = None
    """How long its last build took (None: skipped since)."""
    debian: DebianInfo | None = None
    """For the images made from Debian packages: which ones."""

    @property
    def reference(self) -> str:
        """``repository:tag``."""
        return f"{self.repository}:{self.tag}"

    @property
    def path(self) -> str:
        """The repository without its registry host: ``kubegym/task-polyfit``."""
        first, _, rest = self.repository.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return rest
        return self.repository


class Lock(common.Model):
    """The images lock file."""

    lock_version: Literal[1] = LOCK_VERSION
    """The format of this file."""
    version: str
    """The kubegym version the last build tagged its images with."""
    builder: str = "buildah"
    """What built them."""
    registry: str = _plan.DEFAULT_REGISTRY
    """The repository prefix the images are tagged with."""
    images: dict[str, LockedImage] = pydantic.Field(default_factory=dict)
    """Every built image, by its name in the build plan (``kubegym``, ``pause``…)."""

    def image(self, name: str) -> LockedImage:
        """The entry of ``name``.

        Raises:
            ConfigError: no image of that name was built into this lock.
        """
        if name not in self.images:
            raise ConfigError(
                f"the images lock has no {name!r}",
                hint=f"it has {', '.join(self.images) or 'nothing'}; build it: "
                f"python -m kubegym.images build --only {name}",
            )
        return self.images[name]


def load_lock(path: Path = DEFAULT_LOCK) -> Lock:
    """Read the lock at ``path``.

    Raises:
        ConfigError: it is missing or malformed (the message says which field).
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no images lock at {path}", hint="build the images: make node-images"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not YAML: {exc}") from None
    try:
        return Lock.model_validate(data)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"{path}: {error['msg']}", field=where or None) from None


def write_lock(lock: Lock, path: Path = DEFAULT_LOCK) -> Path:
    """Write ``lock`` to ``path`` (atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = lock.model_dump(mode="json", by_alias=True, exclude_none=True)
    text = _HEADER + yaml.safe_dump(data, sort_keys=False, width=100)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def short(digest: str) -> str:
    """``sha256:0123456789ab`` for progress lines."""
    return re.sub(r"^(sha256:[0-9a-f]{12})[0-9a-f]*$", r"\1", digest)
