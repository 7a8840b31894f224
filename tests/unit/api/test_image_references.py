"""Image references taken apart one way for the operator and the audit; the record refuses non-digests."""

from __future__ import annotations

import pydantic
import pytest

from kubegym.api import images

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("reference", "repository", "digest"),
    [
        ("python:3.11", "python", None),
        ("localhost:5000/kubegym/task-x", "localhost:5000/kubegym/task-x", None),
        ("localhost:5000/kubegym/task-x:0.1", "localhost:5000/kubegym/task-x", None),
        (f"127.0.0.1:5100/kubegym/task-x@{DIGEST}", "127.0.0.1:5100/kubegym/task-x", DIGEST),
        (f"ghcr.io/kubegym/task-x:0.1@{DIGEST}", "ghcr.io/kubegym/task-x", DIGEST),
    ],
)
def test_references_split_into_repository_and_pinned_digest(
    reference: str, repository: str, digest: str | None
) -> None:
    assert images.repository(reference) == repository
    assert images.named_digest(reference) == digest


def test_a_digest_that_is_not_sha256_hex_does_not_pin() -> None:
    assert images.named_digest("repo@sha256:abc") is None
    assert images.named_digest("repo@sha512:" + "0" * 128) is None
    assert images.normalise_image_id("repo@sha256:" + "A" * 64) is None


@pytest.mark.parametrize(
    "digest", ["repo:tag", "sha256:short", f"a b@{DIGEST}", f"x@{DIGEST}\n", "docker://" + DIGEST]
)
def test_the_record_refuses_what_is_not_a_digest_reference(digest: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        images.ImageRecord(pod="agent", container="agent", image="x:1", digest=digest)


def test_the_record_takes_a_repository_digest_or_a_node_local_id() -> None:
    for digest in (f"127.0.0.1:5100/kubegym/x@{DIGEST}", DIGEST, None):
        record = images.ImageRecord(pod="sandbox", container="jail", image="x:1", digest=digest)
        assert record.digest == digest and not record.pinned
    assert images.ImageRecord(pod="agent", container="a", image=f"x@{DIGEST}").pinned
