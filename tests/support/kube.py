"""What the cluster tests and the real-node tests both need of a running cluster: an admin
client, a fresh namespace per test, and a wait that fails the test when it runs out.

Used by ``tests/cluster/conftest.py`` and ``tests/node/conftest.py`` (their fixtures) and
by the test modules of both folders (`wait_for`).
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def wait_for(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.2) -> Any:
    """Call ``check`` until it returns something truthy; return that, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout}s waiting for {getattr(check, '__name__', check)}")
        time.sleep(interval)


@contextlib.contextmanager
def admin_client(kubeconfig: str | Path) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` from ``kubeconfig`` (the cluster's admin), closed after."""
    from kubernetes import config  # the operator extra's client: only tests that use a cluster

    client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def fresh_namespace(
    api_client: Any, prefix: str, *, grace_period_seconds: int | None = None
) -> Iterator[str]:
    """A new namespace ``<prefix>-<random>``, once its default service account exists;
    deleted afterwards (with ``grace_period_seconds`` when given)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api_client)
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})

    def has_default_account() -> bool:
        try:
            core.read_namespaced_service_account("default", name)
        except ApiException:  # 404 until the controller manager makes it
            return False
        return True

    wait_for(has_default_account)
    try:
        yield name
    finally:
        if grace_period_seconds is None:
            core.delete_namespace(name)
        else:
            core.delete_namespace(name, grace_period_seconds=grace_period_seconds)
