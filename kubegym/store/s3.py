"""The S3 backend: any S3-compatible endpoint (AWS, MinIO, Ceph, GCS interop) through boto3.

Every upload records the file's sha256 in the object's metadata and asks the
server for its own SHA-256 checksum (``ChecksumAlgorithm``), then reads both
back with ``head_object`` and compares them with the file: a mismatch is a
`ChecksumMismatch`, never a silent success. Files at or above the multipart
threshold go up in parts (`TransferSettings`). Transient failures are retried by
`kubegym.store.retry`; the rest become the store's errors (`kubegym.store.errors`).
Registered as the ``s3`` scheme (`S3Backend`, `kubegym.store.backends`): built from a
run's ``spec.store.s3`` or an ``s3://`` URI, and it tells the operator which keys of
the run's credentials Secret the agent pod gets.

boto3, botocore and s3transfer are imported inside the functions that use them, not
at the top: the operator imports this module (through the package) only for
`S3Backend.pod_access`, where boto3 would add ~7 MiB of memory it never uses (~24 MiB
in a bare interpreter). They load when an `S3Store` is built; its methods then find
them already loaded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import structlog

from kubegym import errors as kubegym_errors
from kubegym import metrics
from kubegym.api import runs
from kubegym.store import backends, base, checksums, errors, keys, retry

if TYPE_CHECKING:  # annotations only: boto3 loads when a store is built (see above)
    from boto3.s3.transfer import TransferConfig

log = structlog.get_logger()
T = TypeVar("T")

MiB = 1 << 20
#: Object metadata (``x-amz-meta-…``) that kubegym writes on every object.
SHA256_META = "sha256"
MTIME_META = "source-mtime"

_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "403"}
)
_NO_BUCKET = frozenset({"NoSuchBucket"})
_NO_KEY = frozenset({"404", "NoSuchKey", "NotFound"})
#: The Secret keys the agent pod gets as variables (`runs.S3Store.credentials_secret`).
CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@dataclass(frozen=True)
class S3Location:
    """Which bucket, under which prefix, at which endpoint."""

    bucket: str
    prefix: str = ""
    """Every key goes under it; empty for the bucket's root."""
    endpoint: str | None = None
    """The endpoint URL (MinIO, Ceph, ``https://storage.googleapis.com``); AWS's when None."""
    region: str | None = None
    """The region; ``us-east-1`` when None (what MinIO and Ceph expect by default)."""


@dataclass(frozen=True)
class TransferSettings:
    """How files go up: when to switch to multipart, part size, parallel parts, timeouts."""

    multipart_threshold: int = 64 * MiB
    """Files this large or larger go up in parts."""
    multipart_chunksize: int = 16 * MiB
    """The size of each part (S3's minimum is 5 MiB; boto3 raises it past 10,000 parts)."""
    max_concurrency: int = 8
    """Parts in flight at once."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection before the try counts as failed."""
    read_timeout: float = 60.0
    """Seconds to wait for an answer."""


@dataclass(frozen=True)
class Credentials:
    """Where the access key comes from: explicit values (a Secret's data) or the environment."""

    values: Mapping[str, str] | None = None
    """``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``); None for boto3's chain."""
    source: str = field(default="the environment")
    """Named in errors: ``the environment``, ``Secret s3-credentials``."""


class S3Store(base.Store):
    """Artifacts in an S3 bucket, keys under the location's prefix.

    Args:
        location: bucket, prefix, endpoint and region.
        credentials: explicit values or the environment (boto3's usual chain).
        transfer: multipart and timeout settings.
        retry_policy: how transient failures are retried.

    Raises:
        CredentialsMissing: no access key where it was looked for.
    """

    def __init__(
        self,
        location: S3Location,
        *,
        credentials: Credentials | None = None,
        transfer: TransferSettings | None = None,
        retry_policy: retry.RetryPolicy | None = None,
    ):
        try:
            from boto3.s3.transfer import TransferConfig
        except ImportError as exc:  # a broken install (boto3 is a dependency): say so
            raise kubegym_errors.ConfigError(
                f"S3 stores need boto3, which cannot be imported ({exc})",
                hint="pip install boto3, or reinstall kubegym",
            ) from exc

        self.location = location
        self.transfer = transfer or TransferSettings()
        self.retry_policy = retry_policy or retry.RetryPolicy()
        self.endpoint = location.endpoint or "https://s3.amazonaws.com"
        self._root = location.prefix.strip("/")
        self._checked = False
        credentials = credentials or Credentials()
        self._credentials_source = credentials.source
        self._client = _client(location, credentials, self.transfer)
        self._transfer_config: TransferConfig = TransferConfig(
            multipart_threshold=self.transfer.multipart_threshold,
            multipart_chunksize=self.transfer.multipart_chunksize,
            max_concurrency=self.transfer.max_concurrency,
        )

    @property
    def uri(self) -> str:
        return f"s3://{keys.join(self.location.bucket, self._root)}"

    def _key(self, key: str) -> str:
        return keys.join(self._root, key)

    # --- calls, retried and translated ------------------------------------------------

    def _call(self, fn: Callable[[], T], what: str) -> T:
        from botocore import exceptions as boto_errors

        def note(attempt: int, exc: BaseException) -> None:
            log.info("store_retry", op=what, attempt=attempt, error=type(exc).__name__)

        try:
            return retry.call(fn, self.retry_policy, on_retry=note)
        except (boto_errors.BotoCoreError, boto_errors.ClientError) as exc:
            raise (self._translate(exc) or exc) from exc
        except (kubegym_errors.KubegymError, OSError):
            raise  # already the store's own error, or FileNotFoundError for a missing key
        except Exception as exc:  # s3transfer wraps the failure of a part in its own error
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, boto_errors.BotoCoreError | boto_errors.ClientError):
                translated = self._translate(cause)
                if translated is not None:
                    raise translated from exc
            raise

    def _translate(self, exc: Exception) -> Exception | None:
        """The store's error for a boto3 failure, or None when it has none."""
        from botocore import exceptions as boto_errors

        bucket = self.location.bucket
        if isinstance(exc, boto_errors.NoCredentialsError | boto_errors.PartialCredentialsError):
            return errors.CredentialsMissing(self._credentials_source)
        if retry.is_transient(exc):
            return errors.StoreUnreachable(self.endpoint, str(exc))
        code = _code(exc)
        if code in _NO_BUCKET:
            return errors.BucketMissing(self.endpoint, bucket)
        if code in _DENIED:
            return errors.AccessDenied(self.endpoint, bucket, code)
        return None

    def check(self) -> None:
        if self._checked:
            return

        from botocore import exceptions as boto_errors

        def head_bucket() -> None:
            try:
                self._client.head_bucket(Bucket=self.location.bucket)
            except boto_errors.ClientError as exc:
                # HEAD answers carry no error code: name the cause from the status.
                if _code(exc) in _NO_KEY:
                    raise errors.BucketMissing(self.endpoint, self.location.bucket) from exc
                raise

        self._call(head_bucket, "head_bucket")
        self._checked = True

    # --- writing ----------------------------------------------------------------------

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        policy: base.WritePolicy = "once",
        mtime: float | None = None,
    ) -> base.PutOutcome:
        from s3transfer.utils import ChunksizeAdjuster

        self.check()
        size = path.stat().st_size
        part_size = None
        if size >= self.transfer.multipart_threshold:
            part_size = ChunksizeAdjuster().adjust_chunksize(
                self.transfer.multipart_chunksize, size
            )
        digest = checksums.digest_file(path, part_size)
        when = path.stat().st_mtime if mtime is None else mtime
        new = base.ObjectInfo(key, digest.size, digest.sha256, when)
        if not base.decide(self.stat(key), new, policy, self.uri_of(key)):
            return "unchanged"
        extra = {
            "Metadata": {SHA256_META: digest.sha256, MTIME_META: repr(when)},
            "ChecksumAlgorithm": "SHA256",
        }
        started = time.perf_counter()
        try:
            self._call(
                lambda: self._client.upload_file(
                    str(path),
                    self.location.bucket,
                    self._key(key),
                    ExtraArgs=extra,
                    Config=self._transfer_config,
                ),
                "upload",
            )
            self._verify(key, digest)
        except Exception:
            metrics.upload("s3", nbytes=size, seconds=time.perf_counter() - started, ok=False)
            raise
        metrics.upload("s3", nbytes=size, seconds=time.perf_counter() - started)
        log.debug("store_uploaded", key=key, bytes=size, parts=digest.parts)
        return "uploaded"

    def _verify(self, key: str, digest: checksums.FileDigest) -> None:
        head = self._head(key, checksum=True)
        uri = self.uri_of(key)
        if head is None:
            raise errors.ChecksumMismatch(uri, digest.sha256, "no object at all")
        found = str(head.get("Metadata", {}).get(SHA256_META, ""))
        server = str(head.get("ChecksumSHA256") or "")
        problem = None
        if int(head.get("ContentLength", -1)) != digest.size:
            problem = f"{head.get('ContentLength')} bytes instead of {digest.size}"
        elif found != digest.sha256:
            problem = f"sha256 {found or 'missing'}"
        elif server and not _same_checksum(server, digest.s3_checksum):
            problem = f"server checksum {server} (expected {digest.s3_checksum})"
        if problem is not None:
            # A corrupt object must not stay behind looking like a good one.
            self._call(
                lambda: self._client.delete_object(Bucket=self.location.bucket, Key=self._key(key)),
                "delete",
            )
            raise errors.ChecksumMismatch(uri, digest.sha256, problem)

    # --- reading ----------------------------------------------------------------------

    def _head(self, key: str, *, checksum: bool = False) -> dict[str, Any] | None:
        from botocore import exceptions as boto_errors

        def head() -> dict[str, Any] | None:
            args: dict[str, Any] = {"Bucket": self.location.bucket, "Key": self._key(key)}
            if checksum:
                args["ChecksumMode"] = "ENABLED"
            try:
                return dict(self._client.head_object(**args))
            except boto_errors.ClientError as exc:
                if _code(exc) in _NO_KEY:
                    return None
                raise

        return self._call(head, "head")

    def stat(self, key: str) -> base.ObjectInfo | None:
        self.check()
        head = self._head(key)
        if head is None:
            return None
        meta = head.get("Metadata", {})
        mtime = meta.get(MTIME_META)
        return base.ObjectInfo(
            key=key,
            size=int(head["ContentLength"]),
            sha256=meta.get(SHA256_META),
            mtime=float(mtime) if mtime else None,
            etag=str(head.get("ETag", "")).strip('"') or None,
        )

    def list_keys(self, prefix: str = "") -> list[str]:
        self.check()
        # Under the root only: the root `kubegym/run` must not also match `kubegym/run2/…`.
        query = (
            keys.join(self._root, prefix) if prefix else (f"{self._root}/" if self._root else "")
        )

        def collect() -> list[str]:
            found = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=query
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = str(item["Key"])
                    found.append(name[len(self._root) + 1 :] if self._root else name)
            return found

        return sorted(self._call(collect, "list"))

    def list_objects(self, prefix: str = "") -> list[base.ObjectInfo]:
        self.check()
        query = (
            keys.join(self._root, prefix) if prefix else (f"{self._root}/" if self._root else "")
        )

        def collect() -> list[base.ObjectInfo]:
            found = []
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=query
            )
            for page in pages:
                for item in page.get("Contents", []):
                    name = str(item["Key"])
                    modified = item.get("LastModified")
                    found.append(
                        base.ObjectInfo(
                            name[len(self._root) + 1 :] if self._root else name,
                            int(item.get("Size", 0)),
                            None,
                            modified.timestamp() if modified is not None else None,
                            str(item.get("ETag", "")).strip('"') or None,
                        )
                    )
            return found

        return sorted(self._call(collect, "list"), key=lambda info: info.key)

    def read_bytes(self, key: str) -> bytes:
        from botocore import exceptions as boto_errors

        self.check()

        def get() -> tuple[bytes, dict[str, str]]:
            try:
                answer = self._client.get_object(Bucket=self.location.bucket, Key=self._key(key))
            except boto_errors.ClientError as exc:
                if _code(exc) in _NO_KEY:
                    raise FileNotFoundError(self.uri_of(key)) from exc
                raise
            return answer["Body"].read(), dict(answer.get("Metadata", {}))

        data, meta = self._call(get, "get")
        expected = meta.get(SHA256_META)
        if expected and checksums.sha256_bytes(data) != expected:
            raise errors.ChecksumMismatch(self.uri_of(key), expected, "other bytes on reading")
        return data

    def _download_one(self, key: str, target: Path) -> None:
        info = self.stat(key)
        if info is None:
            raise FileNotFoundError(self.uri_of(key))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        self._call(
            lambda: self._client.download_file(
                self.location.bucket, self._key(key), str(partial), Config=self._transfer_config
            ),
            "download",
        )
        found = checksums.digest_file(partial).sha256
        if info.sha256 and found != info.sha256:
            partial.unlink(missing_ok=True)
            raise errors.ChecksumMismatch(self.uri_of(key), info.sha256, found)
        os.replace(partial, target)


def _client(location: S3Location, credentials: Credentials, transfer: TransferSettings) -> Any:
    import boto3
    from botocore.config import Config

    if credentials.values is not None:
        access = credentials.values.get("AWS_ACCESS_KEY_ID")
        secret = credentials.values.get("AWS_SECRET_ACCESS_KEY")
        if not access or not secret:
            raise errors.CredentialsMissing(credentials.source)
        session = boto3.session.Session(
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            aws_session_token=credentials.values.get("AWS_SESSION_TOKEN"),
        )
    else:
        session = boto3.session.Session()
        if session.get_credentials() is None:
            raise errors.CredentialsMissing(credentials.source)
    config = Config(
        region_name=location.region or "us-east-1",
        # kubegym.store.retry is the one retry layer, so its backoff is what happens.
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=transfer.connect_timeout,
        read_timeout=transfer.read_timeout,
        max_pool_connections=max(10, transfer.max_concurrency + 2),
        # Path-style addressing: MinIO and Ceph endpoints have no per-bucket host names.
        s3={"addressing_style": "path"} if location.endpoint else {},
    )
    return session.client("s3", endpoint_url=location.endpoint, config=config)


def _code(exc: Exception) -> str:
    from botocore import exceptions as boto_errors

    if isinstance(exc, boto_errors.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _same_checksum(server: str, expected: str) -> bool:
    """Compare S3's ``ChecksumSHA256`` with ours; servers differ on showing the ``-N`` suffix."""
    if "-" in server and "-" in expected:
        return server == expected
    return server.split("-")[0] == expected.split("-")[0]


class S3Backend:
    """The ``s3`` scheme: ``spec.store.s3`` or ``s3://BUCKET/PREFIX``."""

    spec_field = "s3"

    def from_spec(self, spec: runs.Store, options: backends.OpenOptions) -> base.Store:
        """The run's bucket, with the credentials Secret's data (``options.secret``) or the
        environment's."""
        assert spec.s3 is not None  # `backends.for_spec` chose this backend by it
        source = "the environment"
        if options.secret is not None:
            source = f"Secret {spec.s3.credentials_secret or '(unnamed)'}"
        return S3Store(
            S3Location(
                bucket=spec.s3.bucket,
                prefix=spec.s3.prefix,
                endpoint=spec.s3.endpoint,
                region=spec.s3.region,
            ),
            credentials=Credentials(values=options.secret, source=source),
            transfer=options.transfer,
            retry_policy=options.retry_policy,
        )

    def from_uri(self, uri: str, options: backends.OpenOptions) -> base.Store:
        """The bucket and prefix of ``uri``; the endpoint and region from the options, else
        ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL`` and ``AWS_REGION``/``AWS_DEFAULT_REGION``.

        Raises:
            ConfigError: the URI names no bucket.
        """
        parts = urlsplit(uri)
        if not parts.netloc:
            raise kubegym_errors.ConfigError(
                f"{uri!r} names no bucket", hint="write s3://BUCKET/PREFIX"
            )
        environ = os.environ
        return S3Store(
            S3Location(
                bucket=parts.netloc,
                prefix=parts.path.strip("/"),
                endpoint=options.endpoint
                or environ.get("AWS_ENDPOINT_URL_S3")
                or environ.get("AWS_ENDPOINT_URL"),
                region=options.region
                or environ.get("AWS_REGION")
                or environ.get("AWS_DEFAULT_REGION"),
            ),
            credentials=Credentials(values=options.secret, source="the given credentials")
            if options.secret is not None
            else None,
            transfer=options.transfer,
            retry_policy=options.retry_policy,
        )

    def pod_access(self, spec: runs.Store) -> backends.PodAccess:
        """The credentials Secret's two keys (none without a Secret: boto3's own chain
        looks then), and the endpoint's port."""
        assert spec.s3 is not None
        secret = spec.s3.credentials_secret
        env = (
            tuple(backends.SecretEnv(key, secret, key) for key in CREDENTIAL_KEYS) if secret else ()
        )
        return backends.PodAccess(env=env, ports=(_endpoint_port(spec.s3.endpoint),))


def _endpoint_port(endpoint: str | None) -> int:
    """The TCP port of an S3 endpoint: AWS's (HTTPS) when there is none."""
    if endpoint is None:
        return 443
    parts = urlsplit(endpoint)
    return parts.port or (443 if parts.scheme == "https" else 80)


backends.SCHEMES.add("s3", S3Backend())
