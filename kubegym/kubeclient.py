"""A person's way into a cluster: the kubeconfig (or the pod's account), and API errors as one line.

Used by the commands that read a cluster on someone's behalf, `kubegym status` and
`kubegym view run/NAME` (`kubegym.viewer.cluster_runs`); the operator has its own client
(`kubegym.operator.kube`). The kubernetes package is imported only when a function here
runs, so the commands that never reach a cluster do not pay for it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubegym.errors import ConfigError


def custom_objects(kubeconfig: str | None, *, hint: str) -> tuple[Any, str]:
    """A CustomObjectsApi and the namespace the kubeconfig's current context names.

    Without a kubeconfig it tries the pod's own account (in-cluster). Each read is tried
    once: a person waits for the answer, and urllib3's retry warnings would stand between
    them and the one-line error.

    Raises:
        ConfigError: neither a kubeconfig nor an in-cluster account (`hint` says what to do).
    """
    from kubernetes import client
    from kubernetes import config as loader_module

    loader: Any = loader_module  # untyped
    configuration = client.Configuration()
    namespace = "default"
    try:
        loader.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        _, active = loader.list_kube_config_contexts(config_file=kubeconfig)
        namespace = (active or {}).get("context", {}).get("namespace") or namespace
    except (loader.ConfigException, FileNotFoundError, OSError) as exc:
        try:
            loader.load_incluster_config(client_configuration=configuration)
        except loader.ConfigException:
            raise ConfigError(
                f"no kubeconfig to reach a cluster: {exc}", field="--kubeconfig", hint=hint
            ) from exc
    configuration.retries = 0
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    return client.CustomObjectsApi(client.ApiClient(configuration)), namespace


@contextmanager
def reading(
    what: str, namespace: str, *, needs: str, not_found: str | None = None
) -> Iterator[None]:
    """Reads inside the block fail as one ConfigError naming `what` and the cause.

    Args:
        what: the object read, as the message names it (``BenchmarkRun 'x'``).
        needs: the rights the command needs, said when the reads are refused.
        not_found: a hint when the object is not there.
    """
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as exc:
        if exc.status == 404:
            raise ConfigError(
                f"{what} not found in namespace {namespace!r}", hint=not_found
            ) from exc
        if exc.status in (401, 403):
            raise ConfigError(
                f"not allowed to read {what} in namespace {namespace!r} (HTTP {exc.status})",
                hint=needs,
            ) from exc
        raise ConfigError(f"the API server refused: HTTP {exc.status} {exc.reason}") from exc
    except HTTPError as exc:
        raise ConfigError(f"cannot reach the API server: {exc}") from exc
