"""``kubegym view run/<name>``: where a cluster BenchmarkRun's artifacts are, as an ``s3://`` URI.

Called by `kubegym.viewer.catalog.open_catalog`. The run's store is its own
``spec.store`` or else the operator's default store, which the operator takes
from ``KUBEGYM_STORE_BUCKET``/``_ENDPOINT``/``_PREFIX`` (`kubegym.operator.settings`;
the chart sets them from ``store.s3``): set the same variables here to view runs
that use the default. The run's objects lie under ``<prefix>/<run name>/``
(`kubegym.store.keys`); a run's status records nothing else about its store.
Credentials come from this environment (``AWS_ACCESS_KEY_ID``…) as for any
``s3://`` SOURCE. The kubernetes client is imported only here, when such a
SOURCE is given.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubegym.api import common as api_common
from kubegym.api import runs
from kubegym.errors import ConfigError
from kubegym.operator import settings as operator_settings

PREFIX = "run/"


@dataclass(frozen=True)
class RunStore:
    """Where one cluster run's objects are.

    Attributes:
        uri: ``s3://bucket/prefix/<run>``.
        endpoint: the S3 endpoint (None: AWS, or the environment's).
        region: the bucket's region (None: the environment's).
        from_default: whether it is the operator's default store (the run names none).
    """

    uri: str
    endpoint: str | None
    region: str | None
    from_default: bool


def store_of(body: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> RunStore:
    """The store of the BenchmarkRun `body` (as the API server returns it).

    Args:
        body: the run object.
        environ: where the operator's default store is read (``KUBEGYM_STORE_*``);
            this process's environment when None.

    Raises:
        ConfigError: the body is not a BenchmarkRun, its store is a local folder (on
            the cluster's nodes, not here), or it names none and no default is set.
    """
    try:
        run = runs.BenchmarkRun.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(
            "the BenchmarkRun does not read as this kubegym's model (another version's "
            f"operator?): {exc.errors()[0]['msg']}"
        ) from exc
    spec = run.spec.store
    from_default = spec is None
    if spec is None:
        spec = operator_settings.Settings.from_env(os.environ if environ is None else environ).store
    if spec is None:
        raise ConfigError(
            f"BenchmarkRun {run.name!r} names no spec.store and no default store is set here",
            field="KUBEGYM_STORE_BUCKET",
            hint="set KUBEGYM_STORE_BUCKET (and _ENDPOINT, _PREFIX) as the operator's "
            "(the chart's store.s3), or view s3://BUCKET/PREFIX/RUN",
        )
    if spec.s3 is None:
        raise ConfigError(
            f"BenchmarkRun {run.name!r} stores its artifacts in a local folder of the "
            "cluster's nodes, which this machine cannot read",
            field="spec.store.local",
            hint="copy that folder here and view it",
        )
    prefix = spec.s3.prefix.strip("/")
    path = f"{prefix}/{run.name}" if prefix else run.name
    return RunStore(
        uri=f"s3://{spec.s3.bucket}/{path}",
        endpoint=spec.s3.endpoint,
        region=spec.s3.region,
        from_default=from_default,
    )


def read_run(name: str, namespace: str | None, kubeconfig: str | None) -> dict[str, Any]:
    """The BenchmarkRun `name` from the cluster the kubeconfig (or the pod) reaches.

    Raises:
        ConfigError: no kubeconfig, the run is not there, reading it is not allowed,
            or the API server cannot be reached; each says which.
    """
    from kubernetes import client
    from kubernetes import config as loader_module
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    loader: Any = loader_module  # untyped
    configuration = client.Configuration()
    default_namespace = "default"
    try:
        loader.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        _, active = loader.list_kube_config_contexts(config_file=kubeconfig)
        default_namespace = (active or {}).get("context", {}).get("namespace") or "default"
    except (loader.ConfigException, FileNotFoundError, OSError) as exc:
        try:
            loader.load_incluster_config(client_configuration=configuration)
        except loader.ConfigException:
            raise ConfigError(
                f"no kubeconfig to reach a cluster for run/{name}: {exc}",
                field="--kubeconfig",
                hint="set KUBECONFIG or pass --kubeconfig, or view the run's s3:// URI",
            ) from exc
    configuration.retries = 0
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    namespace = namespace or default_namespace
    api = client.CustomObjectsApi(client.ApiClient(configuration))
    try:
        body: Any = api.get_namespaced_custom_object(
            api_common.GROUP, api_common.VERSION, namespace, "benchmarkruns", name
        )
    except ApiException as exc:
        if exc.status == 404:
            raise ConfigError(
                f"BenchmarkRun {name!r} not found in namespace {namespace!r}",
                hint="name the run's namespace with -n",
            ) from exc
        if exc.status in (401, 403):
            raise ConfigError(
                f"not allowed to read BenchmarkRun {name!r} in namespace {namespace!r} "
                f"(HTTP {exc.status})",
                hint="kubegym view run/NAME needs get on benchmarkruns (kubegym.io)",
            ) from exc
        raise ConfigError(f"the API server refused: HTTP {exc.status} {exc.reason}") from exc
    except HTTPError as exc:
        raise ConfigError(f"cannot reach the API server: {exc}") from exc
    return dict(body)


def resolve(source: str, namespace: str | None, kubeconfig: str | None) -> RunStore:
    """The store of ``run/<name>`` on the cluster.

    Raises:
        ConfigError: see `read_run` and `store_of`, or a name that is not one.
    """
    name = source.removeprefix(PREFIX)
    if not name or "/" in name:
        raise ConfigError(f"{source!r} names no run", hint="write run/NAME")
    return store_of(read_run(name, namespace, kubeconfig))


__all__ = ["PREFIX", "RunStore", "read_run", "resolve", "store_of"]
