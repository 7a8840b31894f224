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

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kubegym import kubeclient
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
    api, default_namespace = kubeclient.custom_objects(
        kubeconfig, hint="set KUBECONFIG or pass --kubeconfig, or view the run's s3:// URI"
    )
    namespace = namespace or default_namespace
    with kubeclient.reading(
        f"BenchmarkRun {name!r}",
        namespace,
        needs="kubegym view run/NAME needs get on benchmarkruns (kubegym.io)",
        not_found="name the run's namespace with -n",
    ):
        body: Any = api.get_namespaced_custom_object(
            api_common.GROUP, api_common.VERSION, namespace, "benchmarkruns", name
        )
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
