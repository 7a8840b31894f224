"""Which image each container of a trial ran: image references, digests and the record of both.

A kubelet reports, for every container it started, the image the pod named
(``image``) and what the runtime resolved it to (``imageID``:
``registry/repo@sha256:…``, ``docker-pullable://registry/repo@sha256:…`` on older
runtimes, a bare ``sha256:…`` for an image that only exists on the node). The
operator (`kubegym.operator.images`) turns those into `ImageRecord` s in the
Trial's status; its rollups write them to ``images.json`` (`trials.ImagesRollup`), which
`kubegym audit` (`kubegym.report.integrity`) reads. The helpers here take image
references apart the same way for both.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal

from pydantic import Field

from kubegym.api.common import Model

IMAGES_JSON: Final = "images.json"
"""The run's rollup of every trial's images, beside results.csv (`kubegym.api.trials.ImagesRollup`)."""

ROLLUP_VERSION: Final = 1

PodRole = Literal["agent", "sandbox"]
"""The attempt's pod a container belongs to."""

_DIGEST: Final = re.compile(r"sha256:[0-9a-f]{64}")
#: A runtime's prefix on imageID: ``docker-pullable://``, ``docker://``, ``containerd://``…
_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

DIGEST_REFERENCE_PATTERN: Final = r"^([^@\s]+@)?sha256:[0-9a-f]{64}$"
"""``repository@sha256:<64 hex>``, or a bare ``sha256:<64 hex>`` (a node-local image ID)."""


def split_digest(reference: str) -> tuple[str, str | None]:
    """``repo:tag@sha256:…`` → (``repo:tag``, ``sha256:…``); the digest is None when absent."""
    name, at, digest = reference.rpartition("@")
    if not at:
        return reference, None
    return name, digest


def named_digest(image: str) -> str | None:
    """The ``sha256:…`` a pod spec's image is pinned to, or None when it is named by tag only."""
    _, digest = split_digest(image.strip())
    return digest if digest is not None and _DIGEST.fullmatch(digest) else None


def repository(reference: str) -> str:
    """The reference without its tag and digest: ``127.0.0.1:5100/kubegym/task-x:0.1`` →
    ``127.0.0.1:5100/kubegym/task-x`` (a registry's port is not a tag)."""
    name, _ = split_digest(reference)
    head, slash, last = name.rpartition("/")
    last = last.partition(":")[0]
    return f"{head}{slash}{last}"


def normalise_image_id(image_id: str | None) -> str | None:
    """A kubelet's imageID as ``repository@sha256:…`` (or a bare ``sha256:…`` image ID).

    The runtime's scheme (``docker-pullable://``, ``docker://``) and any tag are dropped.

    Args:
        image_id: the container status's ``imageID``; empty or missing before the image
            was pulled (and always on kubegym's process kubelet, which runs no images).

    Returns:
        The digest reference, or None when there is none or it is not a sha256 digest.
    """
    text = _SCHEME.sub("", (image_id or "").strip())
    if not text:
        return None
    name, digest = split_digest(text)
    if digest is None:
        return text if _DIGEST.fullmatch(text) else None
    if not _DIGEST.fullmatch(digest):
        return None
    repo = repository(name)
    if not repo or any(c.isspace() for c in repo):
        return None
    return f"{repo}@{digest}"


class ImageRecord(Model):
    """One container of a trial's attempt and the image it ran, as the kubelet reported it."""

    pod: PodRole
    """The attempt's pod: `agent` or `sandbox`."""

    container: Annotated[str, Field(max_length=253)]
    """The container's name (init containers included: `workspace`, `task-data`…)."""

    image: Annotated[str, Field(max_length=1024)]
    """The image as the pod spec named it: by tag, by digest, or both."""

    digest: Annotated[str, Field(pattern=DIGEST_REFERENCE_PATTERN, max_length=1024)] | None = None
    """What the runtime ran: `repository@sha256:…` from the kubelet's `imageID` (a bare
    `sha256:…` for a node-local image); null when the container never started (its image
    could not be pulled) or the kubelet reported no digest."""

    reason: Annotated[str, Field(max_length=128)] | None = None
    """With no digest: why the container was waiting (`ErrImagePull`, `ImagePullBackOff`,
    `PodInitializing`…), as the kubelet said."""

    note: Annotated[str, Field(max_length=1024)] | None = None
    """An integrity problem: the image was named by a digest and the runtime reported
    another one (or one that cannot be compared), or an `imageID` that is no digest.
    Should never happen; a trial with a note ran something other than what it named."""

    @property
    def pinned(self) -> bool:
        """Whether the pod spec named the image by digest."""
        return named_digest(self.image) is not None


__all__ = [
    "DIGEST_REFERENCE_PATTERN",
    "IMAGES_JSON",
    "ImageRecord",
    "PodRole",
    "named_digest",
    "normalise_image_id",
    "repository",
    "split_digest",
]
