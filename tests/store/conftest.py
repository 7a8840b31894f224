"""Fixtures for the store tests: a real MinIO per session, a fresh bucket per test.

MinIO is built from its Go module by `kubegym.devcluster.minio` (``make s3-bin``
does it before the tests; a cold build here takes a few minutes, a warm start
well under a second). The tests skip, with the reason, only when MinIO is not
cached and Go is missing to build it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from kubegym.devcluster import minio
from kubegym.store import s3
from kubegym.store.retry import RetryPolicy

#: Retries short enough that an unreachable server costs a test well under a second.
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2)
#: A multipart threshold a test file of a few MiB crosses (S3's smallest part is 5 MiB).
SMALL_PARTS = s3.TransferSettings(multipart_threshold=5 * s3.MiB, multipart_chunksize=5 * s3.MiB)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if minio.can_build():
        return
    skip = pytest.mark.skip(reason="MinIO is not cached and Go is missing to build it")
    for item in items:
        if "tests/store/" in str(item.path).replace("\\", "/"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[minio.S3Server]:
    """A MinIO on a loopback port, shared by the session; stopped at its end."""
    state = tmp_path_factory.mktemp("minio")
    server = minio.start(state)
    try:
        yield server
    finally:
        minio.stop(state)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[minio.S3Server]:
    """A MinIO of this test's own, which the test may stop and start again."""
    server = minio.start(tmp_path / "minio")
    try:
        yield server
    finally:
        minio.stop(server.state_dir)


def admin(server: minio.S3Server) -> Any:
    """A plain boto3 client with the server's root credentials (to look behind the store's back)."""
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name=server.region,
    )


def new_bucket(server: minio.S3Server) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    admin(server).create_bucket(Bucket=name)
    return name


@pytest.fixture
def bucket(s3_server: minio.S3Server) -> str:
    """A fresh, empty bucket on the session's server."""
    return new_bucket(s3_server)


def make_store(
    server: minio.S3Server,
    bucket: str,
    prefix: str = "kubegym",
    transfer: s3.TransferSettings | None = None,
) -> s3.S3Store:
    """An S3Store on ``server`` with explicit credentials and fast retries."""
    return s3.S3Store(
        s3.S3Location(bucket=bucket, prefix=prefix, endpoint=server.endpoint),
        credentials=s3.Credentials(
            values={
                "AWS_ACCESS_KEY_ID": server.access_key,
                "AWS_SECRET_ACCESS_KEY": server.secret_key,
            },
            source="the test server",
        ),
        transfer=transfer,
        retry_policy=FAST_RETRY,
    )
