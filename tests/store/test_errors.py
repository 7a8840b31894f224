"""What the store says when S3 cannot be used: each cause named, with the endpoint and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegym.devcluster import minio, processes
from kubegym.errors import ConfigError, InfraError
from kubegym.store import errors, s3
from tests.store.conftest import FAST_RETRY, make_store


def store_with(endpoint: str, bucket: str, values: dict[str, str] | None) -> s3.S3Store:
    return s3.S3Store(
        s3.S3Location(bucket=bucket, endpoint=endpoint),
        credentials=s3.Credentials(values=values, source="Secret s3-credentials"),
        retry_policy=FAST_RETRY,
    )


def test_wrong_credentials_are_access_denied(s3_server: minio.S3Server, bucket: str) -> None:
    wrong = {"AWS_ACCESS_KEY_ID": s3_server.access_key, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}

    with pytest.raises(errors.AccessDenied) as caught:
        store_with(s3_server.endpoint, bucket, wrong).check()

    assert isinstance(caught.value, ConfigError)
    assert s3_server.endpoint in str(caught.value) and bucket in str(caught.value)


def test_an_unknown_access_key_is_access_denied_on_upload(
    s3_server: minio.S3Server, bucket: str, tmp_path: Path
) -> None:
    unknown = {"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "nothing-at-all"}
    (tmp_path / "f").write_text("x")

    with pytest.raises(errors.AccessDenied, match="credentialsSecret"):
        store_with(s3_server.endpoint, bucket, unknown).put_file("run/f", tmp_path / "f")


def test_a_missing_bucket_is_named(s3_server: minio.S3Server) -> None:
    store = make_store(s3_server, "no-such-bucket")

    with pytest.raises(errors.BucketMissing, match="'no-such-bucket' does not exist") as caught:
        store.list_keys()

    assert caught.value.field == "spec.store.s3.bucket"


def test_an_unreachable_endpoint_is_named_with_its_url(tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{processes.free_port()}"  # nothing listens there
    store = store_with(endpoint, "bucket", {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    (tmp_path / "f").write_text("x")

    with pytest.raises(errors.StoreUnreachable) as caught:
        store.put_file("run/f", tmp_path / "f")

    assert isinstance(caught.value, InfraError) and caught.value.reason == "StoreUnreachable"
    assert endpoint in str(caught.value)


def test_missing_credentials_say_where_they_were_looked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    with pytest.raises(errors.CredentialsMissing, match="the environment"):
        s3.S3Store(s3.S3Location(bucket="bucket", endpoint="http://127.0.0.1:9"))
    with pytest.raises(errors.CredentialsMissing, match="Secret s3-credentials"):
        store_with("http://127.0.0.1:9", "bucket", {"AWS_ACCESS_KEY_ID": "only-the-id"})
