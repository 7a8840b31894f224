"""The store's errors, each naming its cause and what to do about it.

Raised by every backend (`kubegym.store.s3`, `kubegym.store.folder`) and by the
uploader. An unreachable store is an `InfraError` (the run goes on and the spool
keeps the artifacts); wrong credentials, a missing bucket or a denied request are
`ConfigError`s (retrying would not help); a refused overwrite is neither.
"""

from __future__ import annotations

from kubegym.errors import ConfigError, InfraError, KubegymError

_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a Secret holding them "
    "in spec.store.s3.credentialsSecret on a cluster"
)


class StoreUnreachable(InfraError):
    """The store did not answer (connection refused, timeout, 5xx, SlowDown) after every retry.

    Args:
        endpoint: the URL that was tried.
        detail: the last error seen.
    """

    def __init__(self, endpoint: str, detail: str):
        self.endpoint = endpoint
        super().__init__("StoreUnreachable", f"cannot reach the S3 endpoint {endpoint}: {detail}")


class ChecksumMismatch(InfraError):
    """An object's sha256 in the store differs from the file's after upload (or on read)."""

    def __init__(self, uri: str, expected: str, found: str):
        self.uri = uri
        super().__init__("ChecksumMismatch", f"{uri}: expected {expected}, the store holds {found}")


class CredentialsMissing(ConfigError):
    """No S3 credentials were found where they were looked for."""

    def __init__(self, source: str):
        super().__init__(
            f"no S3 credentials in {source}", field="spec.store.s3", hint=_CREDENTIALS_HINT
        )


class AccessDenied(ConfigError):
    """The store refused the credentials or the request (unknown key, bad secret, no permission)."""

    def __init__(self, endpoint: str, bucket: str, code: str):
        super().__init__(
            f"the S3 endpoint {endpoint} denied access to bucket {bucket!r} ({code})",
            field="spec.store.s3.credentialsSecret",
            hint=_CREDENTIALS_HINT + ", with read and write rights on the bucket",
        )


class BucketMissing(ConfigError):
    """The bucket does not exist at the endpoint."""

    def __init__(self, endpoint: str, bucket: str):
        super().__init__(
            f"the bucket {bucket!r} does not exist at {endpoint}",
            field="spec.store.s3.bucket",
            hint="create it first (for example `aws s3 mb s3://BUCKET --endpoint-url URL`)",
        )


class OverwriteRefused(KubegymError):
    """A key already holds different content that the write rule protects (see `kubegym.store.base`)."""

    def __init__(self, uri: str, why: str):
        self.uri = uri
        super().__init__(f"refusing to overwrite {uri}: {why}")
