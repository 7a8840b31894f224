"""Building a store: from a run's ``spec.store``, or from a URI a reader was given.

`from_spec` is what the local runner (and the operator's collector) call;
`open_uri` is for readers such as ``kubegym report s3://bucket/prefix/run`` or
``kubegym report ./out``: the store it returns is rooted at the URI, so keys are
relative to it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from kubegym.api import runs
from kubegym.errors import ConfigError
from kubegym.store import base, folder, retry, s3


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
        secret: the data of ``spec.store.s3.credentialsSecret`` (on a cluster, read by
            the caller from the Kubernetes Secret); the environment's credentials when None.
        base_dir: where a relative ``local.path`` resolves (the run file's folder).
        transfer: multipart and timeout settings for S3.
        retry_policy: how S3's transient failures are retried.

    Raises:
        CredentialsMissing: an S3 store without credentials.
    """
    if spec.local is not None:
        path = Path(spec.local.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return folder.FolderStore(path)
    assert spec.s3 is not None  # the model's rule: exactly one of s3 and local
    source = "the environment"
    if secret is not None:
        source = f"Secret {spec.s3.credentials_secret or '(unnamed)'}"
    return s3.S3Store(
        s3.S3Location(
            bucket=spec.s3.bucket,
            prefix=spec.s3.prefix,
            endpoint=spec.s3.endpoint,
            region=spec.s3.region,
        ),
        credentials=s3.Credentials(values=secret, source=source),
        transfer=transfer,
        retry_policy=retry_policy,
    )


def open_uri(
    uri: str,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    secret: Mapping[str, str] | None = None,
) -> base.Store:
    """A store rooted at ``uri``: ``s3://bucket/prefix/run`` or a folder path.

    Args:
        uri: where to read (or write).
        endpoint: the S3 endpoint; else ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``
            from the environment, else AWS.
        region: the S3 region; else ``AWS_REGION``/``AWS_DEFAULT_REGION``, else us-east-1.
        secret: explicit ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``; else the environment.

    Raises:
        ConfigError: a URI with a scheme other than s3 or file, or an s3 URI without a bucket.
    """
    parts = urlsplit(uri)
    if parts.scheme in ("", "file"):
        return folder.FolderStore(Path(parts.path if parts.scheme else uri))
    if parts.scheme != "s3":
        raise ConfigError(
            f"cannot read {uri!r}: only s3:// URIs and folders are stores",
            hint="write s3://BUCKET/PREFIX or a path",
        )
    if not parts.netloc:
        raise ConfigError(f"{uri!r} names no bucket", hint="write s3://BUCKET/PREFIX")
    environ = os.environ
    return s3.S3Store(
        s3.S3Location(
            bucket=parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint=endpoint
            or environ.get("AWS_ENDPOINT_URL_S3")
            or environ.get("AWS_ENDPOINT_URL"),
            region=region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
        ),
        credentials=s3.Credentials(values=secret, source="the given credentials")
        if secret is not None
        else None,
    )
