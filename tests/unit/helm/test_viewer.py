"""The chart's viewer: off by default; on, a non-root read-only `kubegym view` of the store with
the operator's store credentials, its Service, its index (SQLite on an emptyDir or PostgreSQL
from a Secret), and the operator told its URL so each Trial links to its page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from kubegym.operator.settings import Settings

from .conftest import CHART, Render, by_kind, run_helm

STORE = {"store.s3.bucket": "runs", "store.s3.credentialsSecret": "s3-credentials"}
ON: dict[str, Any] = {"viewer.enabled": True, **STORE}


def component(objects: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    return [
        o
        for o in by_kind(objects, kind)
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == name
    ]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only  # type: ignore[no-any-return]


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def test_off_by_default(render: Render) -> None:
    objects = render(sets=STORE)
    assert not [
        o for o in objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == "viewer"
    ]
    (operator,) = component(objects, "Deployment", "operator")
    assert "KUBEGYM_VIEWER_URL" not in env_of(operator)


def test_the_viewer_serves_the_store_with_the_operators_credentials(render: Render) -> None:
    objects = render(sets=ON)
    (viewer,) = component(objects, "Deployment", "viewer")
    (operator,) = component(objects, "Deployment", "operator")
    main = container(viewer)
    assert main["image"] == container(operator)["image"]  # the kubegym image
    assert main["args"] == [
        "view",
        "--host",
        "0.0.0.0",
        "--port",
        "8765",
        "--index",
        "$(KUBEGYM_INDEX_URL)",
        "--no-open",
        "s3://runs/kubegym",
    ]
    env, operator_env = env_of(viewer), env_of(operator)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert (
            env[key]
            == operator_env[key]
            == {"secretKeyRef": {"name": "s3-credentials", "key": key}}
        )
    assert env["KUBEGYM_INDEX_URL"] == "sqlite:////var/lib/kubegym-index/index.sqlite"
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts["index"] == "/var/lib/kubegym-index"
    volumes = {v["name"]: v for v in viewer["spec"]["template"]["spec"]["volumes"]}
    assert "emptyDir" in volumes["index"]


def test_the_viewer_runs_non_root_on_a_read_only_root(render: Render) -> None:
    (viewer,) = component(render(sets=ON), "Deployment", "viewer")
    pod = viewer["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    security = container(viewer)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container(viewer)["resources"]["limits"]["memory"]


def test_the_service_reaches_the_pods_and_the_operator_links_to_it(render: Render) -> None:
    objects = render(sets=ON)
    (viewer,) = component(objects, "Deployment", "viewer")
    (service,) = component(objects, "Service", "viewer")
    (operator,) = component(objects, "Deployment", "operator")
    pod_labels = viewer["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    (container_port,) = container(viewer)["ports"]
    assert port["targetPort"] == container_port["name"] and port["port"] == 8765
    env = {k: v for k, v in env_of(operator).items() if isinstance(v, str)}
    settings = Settings.from_env(env)
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    assert settings.viewer_url == f"http://{name}.{namespace}.svc:8765"


def test_a_postgresql_index_comes_from_a_secret(render: Render) -> None:
    sets = {**ON, "viewer.index.urlSecret": "kubegym-index"}
    (viewer,) = component(render(sets=sets), "Deployment", "viewer")
    env = env_of(viewer)
    assert env["KUBEGYM_INDEX_URL"] == {"secretKeyRef": {"name": "kubegym-index", "key": "url"}}
    assert "index" not in {v["name"] for v in viewer["spec"]["template"]["spec"]["volumes"]}


def test_an_outside_viewer_url_is_linked_even_without_the_chart_s_viewer(render: Render) -> None:
    objects = render(sets={"viewer.url": "https://kubegym.example.com/viewer/"})
    (operator,) = component(objects, "Deployment", "operator")
    assert env_of(operator)["KUBEGYM_VIEWER_URL"] == "https://kubegym.example.com/viewer"
    assert not component(objects, "Deployment", "viewer")


def test_every_viewer_object_validates_strictly(render: Render) -> None:
    objects = [
        o
        for o in render(sets={**ON, "viewer.index.urlSecret": "pg"})
        if o["metadata"]["labels"].get("app.kubernetes.io/component") == "viewer"
    ]
    assert sorted(o["kind"] for o in objects) == ["Deployment", "Service"]
    for obj in objects:
        kubernetes_validate.validate(obj, "1.32", strict=True)


@pytest.mark.parametrize(
    ("sets", "field"),
    [
        (["viewer.enabled=true"], "/store/s3/bucket"),
        (["viewer.url=javascript:alert(1)"], "/viewer/url"),
        (["viewer.url=http://h/?next=evil"], "/viewer/url"),
        (["viewer.index.urlSecret=Bad_Name"], "/viewer/index/urlSecret"),
        (["viewer.port=0"], "/viewer/port"),
    ],
)
def test_wrong_viewer_values_are_refused_naming_the_field(
    helm: Path, sets: list[str], field: str
) -> None:
    args = ["template", "kubegym", str(CHART)]
    for item in sets:
        args += ["--set", item]
    result = run_helm(helm, *args, check=False)
    assert result.returncode != 0, f"{sets} was accepted"
    assert f"at '{field}'" in result.stderr, result.stderr


def test_the_dashboards_viewer_variable_defaults_to_viewer_url(render: Render) -> None:
    url = "https://kubegym.example.com/viewer"
    maps = {
        m["metadata"]["name"]: m
        for m in by_kind(render(sets={"viewer.url": url + "/"}), "ConfigMap")
    }
    runs = json.loads(maps["kubegym-dashboard-runs"]["data"]["runs.json"])
    (variable,) = [v for v in runs["templating"]["list"] if v["name"] == "viewer"]
    assert variable["query"] == url and variable["current"]["value"] == url
    assert len(runs["panels"]) > 5  # the rest of the dashboard is intact
    plain = {m["metadata"]["name"]: m for m in by_kind(render(), "ConfigMap")}
    assert plain["kubegym-dashboard-runs"]["data"]["runs.json"] == (
        CHART / "dashboards" / "runs.json"
    ).read_text().rstrip("\n")
