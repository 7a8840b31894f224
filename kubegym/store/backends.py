"""Store backends by URI scheme: how each opens a store, and what an agent pod needs to reach it.

A backend registers itself in `SCHEMES` under its URI scheme when its module is imported
(`kubegym.store.folder` as ``file``, `kubegym.store.s3` as ``s3``; the package's
``__init__`` imports both, so the table is complete once anything in `kubegym.store` is).
`kubegym.store.factory` picks the backend for a run's ``spec.store`` (`for_spec`) or for a
URI (`for_uri`); the operator (`kubegym.operator.objects`) asks `for_spec(...).pod_access`
which Secret keys and ports kubegym's agent runner needs to upload there.

Adding a backend: a module with a `base.Store` and an object with this `Backend`'s
methods, registered with ``SCHEMES.add("scheme", ...)``, imported by the package's
``__init__``. A backend a run file can name also needs its field in
`kubegym.api.runs.Store` (its `spec_field`); one reached by URI only needs none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from kubegym import _registry
from kubegym.api import runs
from kubegym.errors import ConfigError
from kubegym.store import base, retry

if TYPE_CHECKING:  # the S3 backend's own settings; s3 registers itself here, so not at run time
    from kubegym.store import s3


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable of the agent pod, read from one key of a Kubernetes Secret."""

    name: str
    """The variable (``AWS_ACCESS_KEY_ID``)."""
    secret: str
    """The Secret's name, in the run's namespace."""
    key: str
    """The key in the Secret."""


@dataclass(frozen=True)
class PodAccess:
    """What kubegym's agent runner, in the agent pod, needs to reach a store."""

    env: tuple[SecretEnv, ...] = ()
    """Credentials, as variables from the run's Secret; none for a folder."""
    ports: tuple[int, ...] = ()
    """TCP ports the pod connects to, at any address (the store may run in the cluster)."""


@dataclass(frozen=True)
class OpenOptions:
    """What a caller may say about how to open a store; each backend reads what it uses."""

    secret: Mapping[str, str] | None = None
    """Explicit credentials (a Secret's data); the environment's when None."""
    base_dir: Path | None = None
    """Where a relative folder resolves (the run file's folder)."""
    endpoint: str | None = None
    """For a URI: the server's endpoint, when the URI cannot say it (S3)."""
    region: str | None = None
    """For a URI: the region (S3)."""
    transfer: s3.TransferSettings | None = None
    """S3's multipart and timeout settings."""
    retry_policy: retry.RetryPolicy | None = None
    """How transient failures are retried."""


class Backend(Protocol):
    """One kind of store, as `SCHEMES` holds it."""

    @property
    def spec_field(self) -> str | None:
        """The field of `kubegym.api.runs.Store` that selects it (``s3``, ``local``);
        None for a backend reached by URI only."""
        ...

    def from_spec(self, spec: runs.Store, options: OpenOptions) -> base.Store:
        """The store a run's ``spec.store`` describes (its `spec_field` is set)."""
        ...

    def from_uri(self, uri: str, options: OpenOptions) -> base.Store:
        """The store rooted at ``uri`` (its scheme is this backend's).

        Raises:
            ConfigError: the URI is malformed for this backend.
        """
        ...

    def pod_access(self, spec: runs.Store) -> PodAccess:
        """What the agent pod needs to write to the store ``spec`` describes."""
        ...


SCHEMES: _registry.Registry[Backend] = _registry.Registry("store scheme", field="spec.store")
"""Every store backend, by URI scheme."""

#: The scheme of a URI without one: a folder path.
FOLDER_SCHEME = "file"


def scheme_of(uri: str) -> str:
    """The URI's scheme, ``file`` for a plain path."""
    return urlsplit(uri).scheme or FOLDER_SCHEME


def for_uri(uri: str) -> Backend:
    """The backend of ``uri``'s scheme.

    Raises:
        ConfigError: no backend has that scheme; the message names the URI and the
            known schemes.
    """
    scheme = scheme_of(uri)
    if scheme not in SCHEMES:
        raise ConfigError(
            f"cannot open {uri!r}: {scheme}:// is not a store scheme",
            hint=f"{SCHEMES.known()} (or a folder path)",
        )
    return SCHEMES[scheme]


def for_spec(spec: runs.Store) -> Backend:
    """The backend whose field of ``spec.store`` is set.

    Raises:
        ConfigError: no registered backend claims any field that is set.
    """
    for scheme in SCHEMES:
        backend = SCHEMES[scheme]
        if backend.spec_field is not None and getattr(spec, backend.spec_field, None) is not None:
            return backend
    raise ConfigError("names no store backend", field="spec.store", hint=SCHEMES.known())
