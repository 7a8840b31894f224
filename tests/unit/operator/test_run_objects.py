"""The network objects of one BenchmarkRun: valid Kubernetes, owned by the run, named by the run,
and selecting exactly the run's pods.

Every manifest is checked against Kubernetes' OpenAPI schemas (strict), then for what the
per-run objects promise: headless Services (one per 128 of the parallelism) of which exactly
one, its subdomain, names each attempt's sandbox pod,
a sandbox policy that admits only the run's agent pods, egress per network mode, an agent
policy per agent. Who can actually connect to whom is `tests/unit/devcluster/test_netpol.py`'s
(the same policies compiled by the dev cluster's NetworkPolicy controller).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from kubegym.api import runs, tasks
from kubegym.operator import labels, objects
from kubegym.operator.settings import Settings
from tests.unit.operator.builders import NAMESPACE, attempt, run_spec, task
from tests.unit.operator.test_egress_objects import SETTINGS as PROXY_SETTINGS

KUBERNETES = "1.32"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
#: Each dot-separated part of a DNS-1123 subdomain (a NetworkPolicy's name), 63 at most.
DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
TWO_AGENTS = run_spec(
    agents=[
        {"name": "gpt", "model": "openai/gpt-4o"},
        {"name": "ext", "image": "registry.example/their-agent:2"},
    ],
    store={"s3": {"bucket": "results", "credentialsSecret": "s3-creds"}},
)
OFFLINE, ONLINE, LISTED = (
    task("offline"),
    task("online", network="egress"),
    task("listed", egress={"hosts": ["pypi.org"]}),
)


def built(
    run: str = "demo",
    spec: runs.BenchmarkRunSpec = TWO_AGENTS,
    tasks_: Sequence[tasks.Task] = (OFFLINE,),
    settings: Settings = PROXY_SETTINGS,
) -> dict[str, dict[str, Any]]:
    r = objects.RunObjects(
        namespace=NAMESPACE, run=run, run_uid="run-uid", spec=spec, tasks=tasks_, settings=settings
    )
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in objects.run_objects(r)}


def selects(selector: dict[str, str], pod: dict[str, Any]) -> bool:
    return selector.items() <= pod["metadata"]["labels"].items()


def test_every_object_validates_strictly_and_is_owned_by_the_run() -> None:
    manifests = built(tasks_=(OFFLINE, ONLINE, LISTED))
    assert list(manifests) == [
        "Secret/demo.attempt-key",
        "Service/kubegym-run-demo",
        "NetworkPolicy/demo.sandbox",
        "NetworkPolicy/demo.sandbox.allowlist",
        "NetworkPolicy/demo.sandbox.open",
        "NetworkPolicy/demo.agent.gpt",
        "NetworkPolicy/demo.agent.ext",
    ]
    for manifest in manifests.values():
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        meta = manifest["metadata"]
        assert meta["namespace"] == NAMESPACE
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "kubegym.io/v1alpha1",
                "kind": "BenchmarkRun",
                "name": "demo",
                "uid": "run-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert {labels.RUN: "demo", labels.MANAGED_BY: "kubegym"}.items() <= meta["labels"].items()


def without_key(manifests: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: m for name, m in manifests.items() if m["kind"] != "Secret"}


def test_names_are_fixed_by_the_run_so_creating_twice_is_harmless() -> None:
    # Everything but the key is the same each time; the key is fresh, and a second create
    # of its fixed name is refused, so the first key stays (`objects.credentials`).
    assert without_key(built()) == without_key(built())
    assert set(built()) == set(built())
    assert not set(built("demo")) & set(built("other"))
    names = set(built(tasks_=(ONLINE, LISTED)))
    assert f"NetworkPolicy/{objects.sandbox_policy_name('demo')}" in names
    assert f"NetworkPolicy/{objects.sandbox_policy_name('demo', 'open')}" in names
    assert f"NetworkPolicy/{objects.run_agent_policy_name('demo', 'ext')}" in names


def test_the_runs_key_is_fresh_and_long() -> None:
    first, second = (
        built()["Secret/demo.attempt-key"]["stringData"][objects.credentials.RUN_KEY]
        for _ in range(2)
    )
    assert first != second and len(first) >= 43  # 32 random bytes


def test_only_the_modes_the_runs_tasks_use_get_an_egress_policy() -> None:
    assert [n for n in built(tasks_=(OFFLINE,)) if ".sandbox." in n] == []
    assert [n for n in built(tasks_=(OFFLINE, ONLINE)) if ".sandbox." in n] == [
        "NetworkPolicy/demo.sandbox.open"
    ]
    # a run's own egress hosts make every offline task an allowlist one
    listed_run = run_spec(sandboxEgress={"hosts": ["pypi.org"]})
    assert [n for n in built(spec=listed_run) if ".sandbox." in n] == [
        "NetworkPolicy/demo.sandbox.allowlist"
    ]
    # without a proxy such a run never starts; its sandboxes would stay closed
    no_proxy = built(tasks_=(LISTED,), settings=Settings())
    assert [n for n in no_proxy if ".sandbox." in n] == []


def test_the_service_is_headless_and_names_every_sandbox_pod_of_the_run() -> None:
    service = built()["Service/kubegym-run-demo"]["spec"]
    assert service["clusterIP"] == "None"
    # the agent runner waits for the servers itself; the name must outlive the evaluator
    assert service["publishNotReadyAddresses"] is True
    assert {(p["port"], p["targetPort"]) for p in service["ports"]} == {
        (8080, "sandbox"),
        (8081, "evaluator"),
    }
    for number in (0, 3):
        a = attempt(run=TWO_AGENTS, number=number)
        sandbox = objects.sandbox_pod(a)
        assert selects(service["selector"], sandbox)
        assert sandbox["spec"]["subdomain"] == "kubegym-run-demo"
        assert sandbox["metadata"]["labels"][labels.SHARD] == "0"
        assert not selects(service["selector"], objects.agent_pod(a))
    other_run = attempt(run=TWO_AGENTS)
    other_pod = objects.sandbox_pod(other_run)
    other_pod["metadata"]["labels"][labels.RUN] = "other"
    assert not selects(service["selector"], other_pod)


@pytest.mark.parametrize("run", ["demo", "0-starts-with-a-digit", "r" * 63])
def test_the_service_name_is_a_dns_1035_label_for_any_run_name(run: str) -> None:
    for shard in range(objects.MAX_SERVICE_SHARDS):
        name = objects.run_service_name(run, shard)
        assert len(name) <= 63 and DNS_1035.match(name), name
    assert objects.run_service_name("r" * 62 + "a") != objects.run_service_name("r" * 62 + "b")


def test_no_two_runs_or_shards_share_a_service_name() -> None:
    # Names built to collide: shard 1 of "demo" against shard 0 of "1-demo", shard 12 of
    # "x" against shard 1 of "2-x", and long names cut to 63 characters.
    runs_ = ["demo", "1-demo", "x", "2-x", "12-x", "r" * 63, "r" * 62 + "a", "run1-demo"]
    names = [
        (run, shard, objects.run_service_name(run, shard))
        for run in runs_
        for shard in range(objects.MAX_SERVICE_SHARDS)
    ]
    assert len({name for _, _, name in names}) == len(names)
    # shard 0 keeps the name a run's one Service had before there were shards
    assert objects.run_service_name("demo", 0) == objects.run_service_name("demo")
    assert objects.run_service_name("demo") == "kubegym-run-demo"


@pytest.mark.parametrize(
    ("parallelism", "shards"),
    [(1, 1), (128, 1), (129, 2), (1000, 8), (2000, 16), (4096, 32), (10000, 32)],
)
def test_a_run_has_one_service_per_128_of_its_parallelism_up_to_32(
    parallelism: int, shards: int
) -> None:
    assert objects.service_shards(parallelism) == shards
    spec = TWO_AGENTS.model_copy(update={"parallelism": parallelism})
    services = [name for name in built(spec=spec) if name.startswith("Service/")]
    assert services == [f"Service/{objects.run_service_name('demo', k)}" for k in range(shards)]


def test_each_sandbox_pod_is_named_by_exactly_the_service_of_its_subdomain() -> None:
    spec = TWO_AGENTS.model_copy(update={"parallelism": 2000})
    services = {
        m["metadata"]["name"]: m["spec"]["selector"]
        for m in built(spec=spec).values()
        if m["kind"] == "Service"
    }
    per_service = dict.fromkeys(services, 0)
    for seed in range(1600):
        a = attempt(run=spec, trial=f"demo-toy-gpt-s{seed}-{seed:08x}", number=seed % 3)
        sandbox = objects.sandbox_pod(a)
        selecting = [name for name, selector in services.items() if selects(selector, sandbox)]
        # exactly one Service selects it, the one its hostname is published under
        assert selecting == [sandbox["spec"]["subdomain"]] == [a.service]
        assert a.sandbox_host == f"{a.hostname}.{a.service}.{NAMESPACE}.svc"
        # the same trial names the same Service on every attempt
        assert attempt(run=spec, trial=a.trial, number=a.attempt + 1).service == a.service
        for service_selector in services.values():
            assert not selects(service_selector, objects.agent_pod(a))
        per_service[a.service] += 1
    # a hash spreads them: 100 a Service on average, none far off
    assert len(per_service) == 16 and min(per_service.values()) > 60, per_service


def test_a_sandbox_made_before_the_parallelism_changed_keeps_its_service() -> None:
    # A start cut short (the sandbox pod made, the agent pod not), then the run's
    # parallelism raised: the agent pod made now must name the sandbox where it is.
    trial = "demo-toy-gpt-s0-1a2b3c4d"
    before = attempt(run=TWO_AGENTS, trial=trial)
    wider = TWO_AGENTS.model_copy(update={"parallelism": 4096})
    after = attempt(run=wider, trial=trial)
    assert before.service_shard == 0 and after.service_shard != 0
    sandbox = objects.sandbox_pod(before)
    shard = int(sandbox["metadata"]["labels"][labels.SHARD])
    kept = dataclasses.replace(after, shard=shard)
    env = {
        e["name"]: e.get("value") for e in objects.agent_pod(kept)["spec"]["containers"][0]["env"]
    }
    assert env["KUBEGYM_SANDBOX_URL"].split("//")[1].split(":")[0] == before.sandbox_host
    assert sandbox["spec"]["subdomain"] == kept.service


def test_the_sandbox_policy_admits_only_the_runs_agents_on_the_two_ports_and_no_egress() -> None:
    policy = built()["NetworkPolicy/demo.sandbox"]["spec"]
    assert policy["podSelector"]["matchLabels"] == {labels.RUN: "demo", labels.ROLE: "sandbox"}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == []
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer == {"podSelector": {"matchLabels": {labels.RUN: "demo", labels.ROLE: "agent"}}}
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 8081}]
    # every agent pod of the run, whichever trial; no sandbox, no pod of another run
    for agent in ("gpt", "ext"):
        assert selects(
            peer["podSelector"]["matchLabels"],
            objects.agent_pod(attempt(run=TWO_AGENTS, agent=agent)),
        )
    assert not selects(peer["podSelector"]["matchLabels"], objects.sandbox_pod(attempt()))


def test_an_open_task_reaches_anywhere_and_an_allowlist_one_only_the_proxy() -> None:
    manifests = built(tasks_=(ONLINE, LISTED))
    open_ = manifests["NetworkPolicy/demo.sandbox.open"]["spec"]
    assert open_["podSelector"]["matchLabels"] == {
        labels.RUN: "demo",
        labels.ROLE: "sandbox",
        labels.NETWORK: "open",
    }
    assert open_["policyTypes"] == ["Egress"] and open_["egress"] == [{}]
    listed = manifests["NetworkPolicy/demo.sandbox.allowlist"]["spec"]
    assert listed["podSelector"]["matchLabels"][labels.NETWORK] == "allowlist"
    assert listed["egress"] == objects.egress.proxy_rules(PROXY_SETTINGS.egress)
    (rule,) = listed["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 3128}]
    # each selects the sandboxes of its mode only
    for t, mode in ((OFFLINE, None), (ONLINE, "open"), (LISTED, "allowlist")):
        pod = objects.sandbox_pod(attempt(task_obj=t, settings=PROXY_SETTINGS))
        assert selects(open_["podSelector"]["matchLabels"], pod) == (mode == "open")
        assert selects(listed["podSelector"]["matchLabels"], pod) == (mode == "allowlist")


def test_a_mode_that_opens_nothing_has_no_policy() -> None:
    r = objects.RunObjects(NAMESPACE, "demo", "uid", TWO_AGENTS, (OFFLINE,), PROXY_SETTINGS)
    with pytest.raises(ValueError, match="opens nothing"):
        objects.run.sandbox_egress_policy(r, "none")


def test_each_agent_policy_selects_that_agents_pods_and_opens_dns_the_runs_sandboxes_and_its_egress() -> (
    None
):
    manifests = built()
    gpt, ext = (manifests[f"NetworkPolicy/demo.agent.{n}"]["spec"] for n in ("gpt", "ext"))
    gpt_pod = objects.agent_pod(attempt(run=TWO_AGENTS, agent="gpt"))
    ext_pod = objects.agent_pod(attempt(run=TWO_AGENTS, agent="ext"))
    assert selects(gpt["podSelector"]["matchLabels"], gpt_pod)
    assert not selects(gpt["podSelector"]["matchLabels"], ext_pod)
    assert selects(ext["podSelector"]["matchLabels"], ext_pod)
    assert gpt["policyTypes"] == ["Ingress", "Egress"] and gpt["ingress"] == []
    dns, sandboxes, model, store = gpt["egress"]
    assert "to" not in dns and {p["port"] for p in dns["ports"]} == {53}
    assert sandboxes["to"] == [
        {"podSelector": {"matchLabels": {labels.RUN: "demo", labels.ROLE: "sandbox"}}}
    ]
    assert {p["port"] for p in sandboxes["ports"]} == {8080, 8081}
    assert model["to"] == [
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": list(objects.PRIVATE_CIDRS)}}
    ]
    assert [p["port"] for p in model["ports"]] == [443]
    assert store == {"ports": [{"protocol": "TCP", "port": 443}]}, "kubegym's runner uploads"
    # the external image: HTTPS to public addresses, no store port
    assert ext["egress"][2:] == [model]


def test_every_name_and_label_value_stays_valid_for_the_longest_names() -> None:
    run = "r" * 63
    agent = "a" * 63
    spec = run_spec(agents=[{"name": agent, "model": "openai/x"}])
    label_value = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
    for manifest in built(run, spec, (OFFLINE, ONLINE, LISTED)).values():
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        name = manifest["metadata"]["name"]
        assert len(name) <= 253 and all(DNS_1123.match(part) for part in name.split(".")), name
        for value in manifest["metadata"]["labels"].values():
            assert len(value) <= 63 and label_value.match(value), value
