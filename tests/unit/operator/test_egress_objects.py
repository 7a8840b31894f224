"""What an egress allowlist adds to a trial attempt's objects: the proxy URL with signed
credentials in the attempt's Secret, the variables that read it in the sandbox container
only, and the sandbox pod's ``allowlist`` label, which the run's NetworkPolicy for that
mode selects to reach the proxy pods' port and nothing else."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from kubegym.egress import credentials
from kubegym.errors import ConfigError
from kubegym.operator import labels, objects, runs
from kubegym.operator.settings import EgressProxy, Settings

from . import builders

KEY = b"operator-and-proxy-only-key-0123456789"
PROXY = EgressProxy(
    host="10.96.0.50",
    port=3128,
    namespace="kubegym-system",
    pod_labels={"app.kubernetes.io/component": "egress-proxy"},
    records_url="http://kubegym-egress.kubegym-system.svc:3129",
    key=KEY,
)
SETTINGS = Settings(agent_image="registry.example/kubegym:1.0", egress=PROXY)
NOW = 1_700_000_000.0


def with_hosts(
    task_hosts: list[str], run_hosts: list[str], settings: Settings = SETTINGS, **task: Any
) -> objects.Attempt:
    return builders.attempt(
        task_obj=builders.task(egress={"hosts": task_hosts}, **task),
        run=builders.run_spec(sandboxEgress={"hosts": run_hosts}),
        settings=settings,
    )


def built(a: objects.Attempt) -> dict[str, dict[str, Any]]:
    return {
        f"{m['kind']}/{m['metadata']['name']}": m
        for m in objects.attempt_objects(a, clock=lambda: NOW)
    }


def sandbox_env(manifests: dict[str, dict[str, Any]], a: objects.Attempt) -> list[dict[str, Any]]:
    pod = manifests[f"Pod/{a.sandbox_pod}"]
    (container,) = [c for c in pod["spec"]["containers"] if c["name"] == "sandbox"]
    env: list[dict[str, Any]] = container["env"]
    return env


def test_without_hosts_nothing_changes() -> None:
    a = with_hosts([], [])
    manifests = built(a)
    # no allowlist: no proxy credentials, so no Secret of its own (tokens from the run's key)
    assert f"Secret/{a.base_name}" not in manifests
    assert sandbox_env(manifests, a) == [{"name": "HOME", "value": "/workspace"}]
    assert manifests[f"Pod/{a.sandbox_pod}"]["metadata"]["labels"][labels.NETWORK] == "none"


def test_the_secret_holds_signed_credentials_for_both_lists() -> None:
    a = with_hosts(["pypi.org", "files.pythonhosted.org"], ["*.huggingface.co", "pypi.org"])
    url = built(a)[f"Secret/{a.base_name}"]["stringData"][objects.egress.PROXY_URL]
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port) == ("http", "10.96.0.50", 3128)
    grant = credentials.verify(
        KEY, unquote(parts.username or ""), unquote(parts.password or ""), now=NOW
    )
    assert grant == credentials.Grant(
        namespace=builders.NAMESPACE,
        trial=a.trial,
        attempt=0,
        hosts=("*.huggingface.co", "files.pythonhosted.org", "pypi.org"),
        expires=int(NOW) + a.deadline_seconds() + objects.egress.EXPIRY_MARGIN_SECONDS,
    )


def test_the_sandbox_reads_the_proxy_from_the_secret_and_the_pod_spec_holds_no_credentials() -> (
    None
):
    a = with_hosts(["pypi.org"], [])
    manifests = built(a)
    env = {e["name"]: e for e in sandbox_env(manifests, a)}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": a.base_name,
            "key": objects.egress.PROXY_URL,
        }
    assert env["NO_PROXY"]["value"] == "localhost,127.0.0.1,::1"
    url = manifests[f"Secret/{a.base_name}"]["stringData"][objects.egress.PROXY_URL]
    password = unquote(urlsplit(url).password or "")
    for kind in ("Pod", "NetworkPolicy", "Service"):
        for name, manifest in manifests.items():
            if name.startswith(kind):
                assert password not in json.dumps(manifest), name


def test_neither_the_agent_pod_nor_the_other_containers_get_the_proxy() -> None:
    """The evaluator and the jail (the agent's code the evaluation runs) must not reach out:
    only the sandbox container has the variables, and no container mounts the Secret's key."""
    a = with_hosts(["pypi.org"], [])
    manifests = built(a)
    sandbox = manifests[f"Pod/{a.sandbox_pod}"]
    for container in [*sandbox["spec"]["containers"], *sandbox["spec"]["initContainers"]]:
        if container["name"] != "sandbox":
            assert "PROXY" not in json.dumps(container.get("env", [])).upper(), container["name"]
    for volume in sandbox["spec"]["volumes"]:
        keys = [i["key"] for i in volume.get("secret", {}).get("items", [])]
        assert objects.egress.PROXY_URL not in keys
    assert objects.egress.PROXY_URL not in json.dumps(manifests[f"Pod/{a.agent_pod}"])


def run_policy(a: objects.Attempt) -> dict[str, Any]:
    """The run's egress policy that selects the attempt's sandbox pod (by its mode label)."""
    r = objects.RunObjects(builders.NAMESPACE, "demo", "uid", a.run, [a.task], a.settings)
    sandbox = built(a)[f"Pod/{a.sandbox_pod}"]["metadata"]["labels"]
    (policy,) = [
        m
        for m in objects.run_objects(r)
        if m["kind"] == "NetworkPolicy"
        and m["spec"]["podSelector"]["matchLabels"].get(labels.NETWORK) is not None
        and m["spec"]["podSelector"]["matchLabels"].items() <= sandbox.items()
    ]
    return policy


def test_the_sandbox_policy_reaches_the_proxy_pods_port_only() -> None:
    """No DNS, no other port, no other pod: the proxy's pods in its namespace, on its port."""
    a = with_hosts(["pypi.org"], [])
    policy = run_policy(a)["spec"]
    assert policy["policyTypes"] == ["Egress"]
    assert (
        policy["egress"]
        == objects.egress.proxy_egress(a)
        == [
            {
                "to": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "kubegym-system"}
                        },
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/component": "egress-proxy"}
                        },
                    }
                ],
                "ports": [{"protocol": "TCP", "port": 3128}],
            }
        ]
    )


def test_an_open_network_task_gets_no_proxy() -> None:
    a = with_hosts(["pypi.org"], ["*.huggingface.co"], network="egress")
    manifests = built(a)
    assert f"Secret/{a.base_name}" not in manifests, "no proxy URL to hold"
    assert run_policy(a)["spec"]["egress"] == [{}]


def test_each_attempt_gets_its_own_credentials() -> None:
    first = with_hosts(["pypi.org"], [])
    second = builders.attempt(
        task_obj=first.task, run=first.run, settings=SETTINGS, number=1, trial=first.trial
    )
    urls = [
        built(a)[f"Secret/{a.base_name}"]["stringData"][objects.egress.PROXY_URL]
        for a in (first, second)
    ]
    grants = [
        credentials.verify(KEY, first.trial, unquote(urlsplit(u).password or ""), now=NOW)
        for u in urls
    ]
    assert [g.client for g in grants] == [f"bench/{first.trial}/0", f"bench/{first.trial}/1"]


def test_a_run_promising_hosts_waits_without_a_proxy() -> None:
    """Without an egress proxy the run is refused, naming the field, before any trial starts."""
    task = builders.task(egress={"hosts": ["pypi.org"]})
    run = builders.run_spec(sandboxEgress={"hosts": ["*.huggingface.co"]})
    problems = runs.check_tasks([task], run, egress_proxy=False)
    assert any("spec.sandboxEgress.hosts" in p and "egressProxy" in p for p in problems)
    assert any(p.startswith("Task/toy: spec.egress.hosts") for p in problems)
    assert runs.check_tasks([task], run, egress_proxy=True) == []
    online = builders.task(network="egress")
    assert runs.check_tasks([online], run, egress_proxy=False) == []  # it needs no proxy
    with pytest.raises(ValueError, match="no egress proxy"):
        objects.attempt_objects(
            with_hosts(["pypi.org"], [], settings=Settings(agent_image="x")), clock=lambda: NOW
        )


def _env(tmp_path: Path, key: bytes = KEY, **changes: str) -> dict[str, str]:
    key_file = tmp_path / "key"
    key_file.write_bytes(key + b"\n")
    env = {
        "KUBEGYM_EGRESS_PROXY": "kubegym-egress.kubegym-system.svc:3128",
        "KUBEGYM_EGRESS_NAMESPACE": "kubegym-system",
        "KUBEGYM_EGRESS_POD_LABELS": '{"app.kubernetes.io/component": "egress-proxy"}',
        "KUBEGYM_EGRESS_RECORDS_URL": "http://kubegym-egress.kubegym-system.svc:3129/",
        "KUBEGYM_EGRESS_KEY_FILE": str(key_file),
    }
    return {**env, **changes}


def test_settings_from_the_charts_env(tmp_path: Path) -> None:
    proxy = Settings.from_env(_env(tmp_path)).egress
    # As PROXY, but with the Service's name: the operator resolves it when it starts.
    assert proxy == dataclasses.replace(PROXY, host="kubegym-egress.kubegym-system.svc")
    assert "operator-and-proxy" not in repr(proxy)  # the key never reaches a log line
    assert Settings.from_env({}).egress is None


@pytest.mark.parametrize(
    ("changes", "key", "field"),
    [
        ({"KUBEGYM_EGRESS_PROXY": "no-port"}, KEY, "KUBEGYM_EGRESS_PROXY"),
        ({"KUBEGYM_EGRESS_NAMESPACE": ""}, KEY, "KUBEGYM_EGRESS_NAMESPACE"),
        ({"KUBEGYM_EGRESS_POD_LABELS": "[]"}, KEY, "KUBEGYM_EGRESS_POD_LABELS"),
        ({"KUBEGYM_EGRESS_KEY_FILE": "/nonexistent/key"}, KEY, "KUBEGYM_EGRESS_KEY_FILE"),
        ({}, b"short", "KUBEGYM_EGRESS_KEY_FILE"),
    ],
)
def test_incomplete_settings_name_the_variable(
    tmp_path: Path, changes: dict[str, str], key: bytes, field: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(_env(tmp_path, key, **changes))
    assert caught.value.field == field
