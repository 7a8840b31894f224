"""Building a store: from a run's ``spec.store``, or from a URI a reader was given.

`from_spec` is what the local runner, the agent pod and the operator's rollups call;
`open_uri` is for readers such as ``kubegym report s3://bucket/prefix/run`` or
``kubegym report ./out``: the store it returns is rooted at the URI, so keys are
relative to it. Both hand the work to the backend registered for the store's scheme
(`kubegym.store.backends`); this module knows no backend by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from kubegym.api import runs
from kubegym.store import backends, base, retry

if TYPE_CHECKING:  # a type only: the package's __init__ imports (and so registers) s3
    from kubegym.store import s3


def from_spec(
    spec: runs.Store,
    *,
    secret: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    transfer: s3.TransferSettings | None = None,
    retry_policy: retry.RetryPolicy | None = None,
) -> base.Store:
    """The store a run's ``spec.store`` names.

    Args:
        spec: the run's store.
        secret: the data of the store's credentials Secret (on a cluster, read by the
            caller from the Kubernetes Secret); the environment's credentials when None.
        base_dir: where a relative ``local.path`` resolves (the run file's folder).
        transfer: multipart and timeout settings for S3.
        retry_policy: how S3's transient failures are retried.

    Raises:
        ConfigError: no registered backend claims the spec.
        CredentialsMissing: an S3 store without credentials.
    """
    options = backends.OpenOptions(
        secret=secret, base_dir=base_dir, transfer=transfer, retry_policy=retry_policy
    )
    return backends.for_spec(spec).from_spec(spec, options)


def open_uri(
    uri: str,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    secret: Mapping[str, str] | None = None,
) -> base.Store:
    """A store rooted at ``uri``: ``s3://bucket/prefix/run``, a folder path, or any
    other registered scheme.

    Args:
        uri: where to read (or write).
        endpoint: the S3 endpoint; else ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``
            from the environment, else AWS.
        region: the S3 region; else ``AWS_REGION``/``AWS_DEFAULT_REGION``, else us-east-1.
        secret: explicit ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``; else the environment.

    Raises:
        ConfigError: a scheme no backend has (the known ones listed), or a URI its
            backend cannot read (an s3 URI without a bucket).
    """
    options = backends.OpenOptions(secret=secret, endpoint=endpoint, region=region)
    return backends.for_uri(uri).from_uri(uri, options)
