"""The objects of one trial attempt: valid Kubernetes, isolated, and owned by the Trial.

Every manifest is checked against Kubernetes' own OpenAPI schemas (strict: an
unknown field fails), then for the properties a user relies on: the sandbox
cannot escalate, only the evaluator sees the hidden data and its token, the
sandbox pod is named under its run's Service, the agent gets its keys. The run's
Service and NetworkPolicies are `test_run_objects`'.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from kubegym.api import common, runs, tasks
from kubegym.api.trials import trial_name
from kubegym.operator import labels, objects
from kubegym.operator.settings import Settings
from tests.unit.operator.builders import IMAGE, attempt, run_spec, task

KUBERNETES = "1.32"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

GPU_TASK = task(
    resources={"gpu": {"count": 2, "product": "NVIDIA-H100-80GB-HBM3"}, "shm": "16Gi"},
)
RICH_RUN = run_spec(
    agents=[
        {
            "name": "gpt",
            "model": "openai/gpt-4o",
            "apiKeySecret": {"name": "openai", "key": "key"},
            "apiKeyEnv": "OPENAI_API_KEY",
        },
        {"name": "ext", "image": "registry.example/their-agent:2"},
    ],
    queueName="gpu-queue",
    workloadPriorityClass="research-high",
    store={"s3": {"bucket": "results", "credentialsSecret": "s3-creds"}},
    deadlines={"trialSeconds": 3600},
)
SCENARIOS = {
    "plain": attempt(),
    "gpu-kueue-gvisor": attempt(
        task_obj=GPU_TASK,
        run=RICH_RUN,
        settings=Settings(runtime_class="gvisor", image_pull_secrets=("regcred",)),
    ),
    "image-agent-egress": attempt(
        task_obj=task(
            network="egress",
            evaluation={"gpu": 1},
            datasets=[{"name": "train", "url": "https://example.com/t.csv"}],
        ),
        run=RICH_RUN,
        agent="ext",
        number=3,
    ),
}


def containers(pod: dict[str, Any], *, init: bool = False) -> dict[str, dict[str, Any]]:
    key = "initContainers" if init else "containers"
    return {c["name"]: c for c in pod["spec"].get(key, [])}


def volumes(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod["spec"]["volumes"]}


def secret_keys(pod: dict[str, Any], container: dict[str, Any]) -> set[str]:
    """The keys of the attempt's Secret a container can read (mounted files or env)."""
    found = set()
    by_name = volumes(pod)
    for mount in container.get("volumeMounts", []):
        source = by_name[mount["name"]].get("secret")
        if source is not None:
            found |= {item["key"] for item in source["items"]}
    for env in container.get("env", []):
        ref = (env.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None:
            found.add(ref["key"])
    return found


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_every_object_validates_strictly_against_kubernetes(scenario: str) -> None:
    kinds = []
    for manifest in objects.attempt_objects(SCENARIOS[scenario]):
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        kinds.append(manifest["kind"])
    # The Service and policies are the run's; a Secret of its own only where the run's key
    # cannot serve (an external agent image's variables, an egress proxy URL).
    own = objects.credentials.own_secret(SCENARIOS[scenario])
    assert kinds == (["Secret"] if own else []) + ["Pod", "Pod"]


def test_the_validator_would_catch_an_unknown_field() -> None:
    pod = objects.sandbox_pod(attempt())
    pod["spec"]["containers"][0]["securityContext"]["priviledged"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, KUBERNETES, strict=True)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=str)
def test_every_object_is_owned_by_the_trial_and_carries_the_attempt_labels(scenario: str) -> None:
    a = SCENARIOS[scenario]
    for manifest in objects.attempt_objects(a):
        meta = manifest["metadata"]
        assert meta["namespace"] == "bench"
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "kubegym.io/v1alpha1",
                "kind": "Trial",
                "name": a.trial,
                "uid": "trial-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        expected = {
            labels.RUN: "demo",
            labels.TRIAL: a.trial,
            labels.TASK: "toy",
            labels.AGENT: a.agent.name,
            labels.SEED: "0",
            labels.ATTEMPT: str(a.attempt),
            labels.MANAGED_BY: "kubegym",
        }
        assert expected.items() <= meta["labels"].items(), manifest["kind"]


def test_pods_say_their_role() -> None:
    a = attempt()
    assert objects.sandbox_pod(a)["metadata"]["labels"][labels.ROLE] == "sandbox"
    assert objects.agent_pod(a)["metadata"]["labels"][labels.ROLE] == "agent"


@pytest.mark.parametrize("make", [objects.sandbox_pod, objects.agent_pod], ids=["sandbox", "agent"])
def test_pods_are_unprivileged_and_cannot_escalate(make: Any) -> None:
    pod = make(SCENARIOS["gpu-kueue-gvisor"])
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for c in [*spec["containers"], *spec.get("initContainers", [])]:
        context = c["securityContext"]
        assert context["allowPrivilegeEscalation"] is False, c["name"]
        assert context["capabilities"] == {"drop": ["ALL"]}, c["name"]
        assert context["runAsNonRoot"] is True, c["name"]
        assert context.get("privileged") is not True, c["name"]
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, c["name"]


def test_the_deadline_is_the_wall_time_plus_the_grace() -> None:
    plain = attempt(task_obj=task(limits={"wallTimeSeconds": 7200}))
    for pod in (objects.sandbox_pod(plain), objects.agent_pod(plain)):
        assert pod["spec"]["activeDeadlineSeconds"] == 7200 + 600


def test_the_runs_trial_deadline_caps_a_longer_task_wall_time() -> None:
    capped = attempt(
        task_obj=task(limits={"wallTimeSeconds": 7200}),
        run=run_spec(deadlines={"trialSeconds": 1800}),
        settings=Settings(grace_seconds=120),
    )
    assert objects.sandbox_pod(capped)["spec"]["activeDeadlineSeconds"] == 1800 + 120
    assert objects.agent_pod(capped)["spec"]["activeDeadlineSeconds"] == 1800 + 120
    # a cap above the task's own limit changes nothing
    loose = attempt(
        task_obj=task(limits={"wallTimeSeconds": 600}),
        run=run_spec(deadlines={"trialSeconds": 1800}),
    )
    assert objects.sandbox_pod(loose)["spec"]["activeDeadlineSeconds"] == 600 + 600


def test_gpus_are_limits_with_the_product_node_selector_and_the_default_toleration() -> None:
    pod = objects.sandbox_pod(SCENARIOS["gpu-kueue-gvisor"])
    sandbox = containers(pod)["sandbox"]
    assert sandbox["resources"]["limits"][tasks.GPU_RESOURCE] == "2"
    assert pod["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert tasks.GPU_RESOURCE not in containers(pod)["evaluator"]["resources"]["limits"]


def test_a_cpu_task_asks_for_no_gpu_node() -> None:
    pod = objects.sandbox_pod(attempt())
    assert "nodeSelector" not in pod["spec"] and "tolerations" not in pod["spec"]
    for c in pod["spec"]["containers"]:
        assert tasks.GPU_RESOURCE not in c["resources"]["limits"]


def test_own_gpu_tolerations_replace_the_default() -> None:
    own = [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}]
    gpu = {"count": 1, "tolerations": own, "nodeSelector": {"pool": "a100"}}
    pod = objects.sandbox_pod(attempt(task_obj=task(resources={"gpu": gpu})))
    assert pod["spec"]["tolerations"] == own
    assert pod["spec"]["nodeSelector"] == {"pool": "a100"}


def test_an_evaluator_gpu_goes_to_the_evaluator() -> None:
    pod = objects.sandbox_pod(attempt(task_obj=task(evaluation={"gpu": 1})))
    evaluator = containers(pod)["evaluator"]
    assert evaluator["resources"]["limits"][tasks.GPU_RESOURCE] == "1"
    assert tasks.GPU_RESOURCE not in containers(pod)["sandbox"]["resources"]["limits"]


def test_an_evaluator_gpu_tolerates_the_gpu_taint() -> None:
    pod = objects.sandbox_pod(attempt(task_obj=task(evaluation={"gpu": 1})))
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "spec"
    ].get("tolerations", [])


def test_shm_is_a_memory_volume_of_the_tasks_size() -> None:
    pod = objects.sandbox_pod(SCENARIOS["gpu-kueue-gvisor"])
    assert volumes(pod)["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "16Gi"}
    mounts = {m["mountPath"]: m["name"] for m in containers(pod)["sandbox"]["volumeMounts"]}
    assert mounts["/dev/shm"] == "dshm"


def test_the_runtime_class_and_pull_secrets_come_from_the_settings() -> None:
    pod = objects.sandbox_pod(SCENARIOS["gpu-kueue-gvisor"])
    assert pod["spec"]["runtimeClassName"] == "gvisor"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert "runtimeClassName" not in objects.sandbox_pod(attempt())["spec"]
    assert "imagePullSecrets" not in objects.sandbox_pod(attempt())["spec"]


def test_requests_never_exceed_limits_even_for_a_small_task() -> None:
    small = attempt(task_obj=task(resources={"cpu": "500m", "memory": "256Mi"}))
    for pod in (objects.sandbox_pod(small), objects.agent_pod(small)):
        for c in [*pod["spec"]["containers"], *pod["spec"].get("initContainers", [])]:
            resources = c.get("resources", {})
            for name, request in resources.get("requests", {}).items():
                limit = resources.get("limits", {}).get(name)
                if limit is not None:
                    assert common.parse_quantity(request) <= common.parse_quantity(limit), (
                        c["name"],
                        name,
                    )


def test_only_the_evaluator_mounts_the_hidden_evaluation_data() -> None:
    for a in SCENARIOS.values():
        pod = objects.sandbox_pod(a)
        mounting = {
            c["name"]
            for c in pod["spec"]["containers"]
            if any(m["name"] == "eval" for m in c["volumeMounts"])
        }
        assert mounting == {"evaluator"}
        evaluator = containers(pod)["evaluator"]
        eval_mount = next(m for m in evaluator["volumeMounts"] if m["name"] == "eval")
        assert eval_mount["mountPath"] == objects.EVAL_DIR and eval_mount["readOnly"] is True
        # the init container that runs the task's own image never touches it either
        workspace_init = containers(pod, init=True)["workspace"]
        assert all(m["name"] != "eval" for m in workspace_init["volumeMounts"])


def test_the_evaluator_reads_the_workspace_read_only() -> None:
    evaluator = containers(objects.sandbox_pod(attempt()))["evaluator"]
    workspace = next(m for m in evaluator["volumeMounts"] if m["name"] == "workspace")
    assert workspace["readOnly"] is True
    sandbox = containers(objects.sandbox_pod(attempt()))["sandbox"]
    assert (
        next(m for m in sandbox["volumeMounts"] if m["name"] == "workspace").get("readOnly")
        is not True
    )


def readable(pod: dict[str, Any], container: dict[str, Any]) -> set[str]:
    """What of the attempt's secrets a container can read: the keys of its own Secret
    (mounted or in env), or the files the credentials init container writes into the
    volumes the container mounts (`objects.credentials`), named as the Secret's keys."""
    found = secret_keys(pod, container)
    inits = containers(pod, init=True)
    if "credentials" not in inits:
        return found
    args = inits["credentials"]["command"]
    written = {}  # volume -> keys
    for flag, value in itertools.pairwise(args):
        if flag == "--out":
            role, _, path = value.partition("=")
            key = {"sandbox": objects.SANDBOX_TOKEN, "evaluator": objects.EVALUATOR_TOKEN}[role]
            written.setdefault(path.split("/")[3], set()).add(key)
        elif flag == "--config-out":
            written.setdefault(value.split("/")[3], set()).add(objects.CONFIG)
    for mount in container.get("volumeMounts", []):
        if container["name"] != "credentials":
            found |= written.get(mount["name"], set())
    return found


@pytest.mark.parametrize("scenario", ["gpu-kueue-gvisor", "image-agent-egress"])
def test_each_container_sees_only_its_own_secret_keys(scenario: str) -> None:
    a = SCENARIOS[scenario]
    pod = objects.sandbox_pod(a)
    by_name = containers(pod)
    assert readable(pod, by_name["sandbox"]) == {objects.SANDBOX_TOKEN}
    assert readable(pod, by_name["evaluator"]) == {objects.EVALUATOR_TOKEN, objects.CONFIG}
    assert readable(pod, by_name["jail"]) == set()
    for init in containers(pod, init=True).values():
        if init["name"] != "credentials":
            assert readable(pod, init) == set(), init["name"]
    # the sandbox container's env carries no secret either
    assert all("valueFrom" not in e for e in by_name["sandbox"].get("env", []))


def test_a_derived_attempt_has_no_secret_and_its_pods_derive_their_tokens() -> None:
    a = SCENARIOS["gpu-kueue-gvisor"]  # kubegym's runner, no egress hosts
    assert not objects.credentials.own_secret(a)
    for pod in (objects.sandbox_pod(a), objects.agent_pod(a)):
        for volume in pod["spec"]["volumes"]:
            assert (volume.get("secret") or {}).get("secretName") != a.base_name
        for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
            for entry in c.get("env", []):
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef") or {}
                assert ref.get("name") != a.base_name, "no reference to a per-attempt Secret"
        (init,) = [c for c in pod["spec"]["initContainers"] if c["name"] == "credentials"]
        assert init["command"][:3] == ["python", "-m", "kubegym.sandbox.tokens"]
        assert init["securityContext"]["readOnlyRootFilesystem"] is True
        for volume in pod["spec"]["volumes"]:
            if volume["name"] in ("sandbox-token", "evaluator-files", "trial"):
                assert volume["emptyDir"]["medium"] == "Memory"
    agent = objects.agent_pod(a)
    assert containers(agent, init=True)["credentials"]["image"] == a.settings.agent_image
    sandbox = objects.sandbox_pod(a)
    assert containers(sandbox, init=True)["credentials"]["image"] == a.task.spec.image
    # the credentials init container runs first: the others need nothing it makes, but a
    # failing key is seen before any copying starts
    assert sandbox["spec"]["initContainers"][0]["name"] == "credentials"


def test_the_secret_holds_two_distinct_fresh_tokens_and_the_config() -> None:
    first, second = objects.secret(attempt()), objects.secret(attempt())
    data = first["stringData"]
    assert set(data) == {objects.SANDBOX_TOKEN, objects.EVALUATOR_TOKEN, objects.CONFIG}
    assert data[objects.SANDBOX_TOKEN] != data[objects.EVALUATOR_TOKEN]
    assert len(data[objects.SANDBOX_TOKEN]) >= 32
    assert second["stringData"][objects.SANDBOX_TOKEN] != data[objects.SANDBOX_TOKEN]


def test_the_data_image_is_derived_from_the_task_image_by_default() -> None:
    pod = objects.sandbox_pod(attempt())
    inits = containers(pod, init=True)
    assert inits["task-data"]["image"] == "registry.example/task-toy-data:0.1"
    assert inits["workspace"]["image"] == IMAGE
    assert {c["image"] for c in pod["spec"]["containers"]} == {IMAGE}
    assert {m["name"] for m in inits["task-data"]["volumeMounts"]} == {"data", "eval"}


def test_an_explicit_data_image_is_used_and_never_the_sandboxs_image_for_eval_data() -> None:
    pod = objects.sandbox_pod(attempt(task_obj=task(dataImage="registry.example/secret-data:7")))
    inits = containers(pod, init=True)
    assert inits["task-data"]["image"] == "registry.example/secret-data:7"
    # whatever fills the eval volume runs the data image, not the task's
    for c in pod["spec"]["initContainers"]:
        if any(m["name"] == "eval" for m in c["volumeMounts"]):
            assert c["image"] == "registry.example/secret-data:7"
    assert all(c["image"] != "registry.example/secret-data:7" for c in pod["spec"]["containers"])


def test_a_task_without_image_cannot_become_a_pod() -> None:
    with pytest.raises(ValueError, match="toy"):
        objects.sandbox_pod(attempt(task_obj=task(image=None)))


def test_datasets_are_mounted_read_only_in_the_workspace() -> None:
    pod = objects.sandbox_pod(SCENARIOS["image-agent-egress"])
    mounts = {m["mountPath"]: m for m in containers(pod)["sandbox"]["volumeMounts"]}
    train = mounts["/workspace/data/train"]
    assert train == {
        "name": "data",
        "mountPath": "/workspace/data/train",
        "subPath": "train",
        "readOnly": True,
    }


TOKENS = {"KUBEGYM_SANDBOX_TOKEN", "KUBEGYM_EVALUATOR_TOKEN"}


def env_of(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = pod["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def secret_ref(entry: dict[str, Any]) -> tuple[str, str]:
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_the_agent_pod_gets_the_model_key_under_its_env_name() -> None:
    env = env_of(objects.agent_pod(SCENARIOS["gpu-kueue-gvisor"]))
    assert secret_ref(env["OPENAI_API_KEY"]) == ("openai", "key")
    assert "KUBEGYM_MODEL_API_KEY" not in env


def test_the_model_key_defaults_to_kubegym_model_api_key() -> None:
    run = run_spec(agents=[{"name": "gpt", "model": "m", "apiKeySecret": {"name": "keys"}}])
    env = env_of(objects.agent_pod(attempt(run=run)))
    assert secret_ref(env["KUBEGYM_MODEL_API_KEY"]) == ("keys", "api-key")


def test_no_key_secret_means_no_key_variable() -> None:
    env = env_of(objects.agent_pod(attempt()))
    assert not any(e.get("valueFrom") and e["name"] not in TOKENS for e in env.values())


def test_kubegyms_agent_runner_gets_both_tokens_and_the_store_credentials() -> None:
    a = SCENARIOS["gpu-kueue-gvisor"]
    pod = objects.agent_pod(a)
    env = env_of(pod)
    # its tokens are files its credentials init container derives (`objects.credentials`)
    assert "KUBEGYM_SANDBOX_TOKEN" not in env and "KUBEGYM_EVALUATOR_TOKEN" not in env
    assert env["KUBEGYM_SANDBOX_TOKEN_FILE"]["value"] == f"{objects.SECRETS_DIR}/sandbox-token"
    assert env["KUBEGYM_EVALUATOR_TOKEN_FILE"]["value"] == (
        f"{objects.SECRETS_DIR}/evaluator-token"
    )
    assert {objects.SANDBOX_TOKEN, objects.EVALUATOR_TOKEN, objects.CONFIG} <= readable(
        pod, containers(pod)["agent"]
    )
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert secret_ref(env[key]) == ("s3-creds", key)
    host = f"{a.hostname}.kubegym-run-demo.bench.svc"
    assert env["KUBEGYM_SANDBOX_URL"]["value"] == f"http://{host}:8080"
    assert env["KUBEGYM_EVALUATOR_URL"]["value"] == f"http://{host}:8081"


def test_the_operators_default_store_credentials_reach_the_agent() -> None:
    store = runs.Store(s3=runs.S3Store(bucket="shared", credentials_secret="default-creds"))
    env = env_of(objects.agent_pod(attempt(settings=Settings(store=store))))
    assert secret_ref(env["AWS_ACCESS_KEY_ID"]) == ("default-creds", "AWS_ACCESS_KEY_ID")


def test_kubegyms_agents_run_the_agent_runner_image() -> None:
    (container,) = objects.agent_pod(attempt())["spec"]["containers"]
    assert container["image"] == "registry.example/kubegym:1.0"
    assert container["command"] == ["python", "-m", "kubegym.agent_runner"]


def test_an_image_agent_runs_its_own_image_and_entrypoint() -> None:
    (container,) = objects.agent_pod(SCENARIOS["image-agent-egress"])["spec"]["containers"]
    assert container["image"] == "registry.example/their-agent:2"
    assert "command" not in container and "args" not in container


def test_kueue_labels_only_with_a_queue() -> None:
    a = SCENARIOS["gpu-kueue-gvisor"]
    for pod in (objects.sandbox_pod(a), objects.agent_pod(a)):
        meta = pod["metadata"]
        assert meta["labels"][objects.KUEUE_QUEUE] == "gpu-queue"
        assert meta["labels"][objects.KUEUE_GROUP] == a.base_name
        assert meta["annotations"][objects.KUEUE_GROUP_COUNT] == "2"
        # Once neither pod runs, Kueue finishes the Workload and frees the quota.
        assert meta["annotations"]["kueue.x-k8s.io/retriable-in-group"] == "false"
        # Kueue reads the workload's priority off the group's pods.
        assert meta["labels"][objects.KUEUE_PRIORITY] == "research-high"
    # A priority class without a queue is not a Kueue label on unqueued pods.
    unqueued = attempt(run=run_spec(workloadPriorityClass="research-high"))
    for manifest in [*objects.attempt_objects(attempt()), *objects.attempt_objects(unqueued)]:
        meta = manifest["metadata"]
        assert not any(k.startswith("kueue.x-k8s.io/") for k in meta["labels"])
        assert not any(k.startswith("kueue.x-k8s.io/") for k in meta.get("annotations", {}))


LONG_TRIAL = trial_name(
    "mlgym-bench-full-sweep-2025", "image-classification-cifar10", "claude-sonnet", 7
)


def test_every_label_value_is_valid_for_a_long_trial_name_in_a_queue() -> None:
    assert len(LONG_TRIAL) == 63
    a = attempt(run=RICH_RUN, trial=LONG_TRIAL, number=12)
    for manifest in objects.attempt_objects(a):
        for key, value in manifest["metadata"]["labels"].items():
            assert len(value) <= 63 and LABEL_VALUE.match(value), (manifest["kind"], key, value)


def test_label_values_are_valid_for_a_long_trial_name_without_a_queue() -> None:
    a = attempt(trial=LONG_TRIAL, number=12)
    for manifest in objects.attempt_objects(a):
        for key, value in manifest["metadata"]["labels"].items():
            assert len(value) <= 63 and LABEL_VALUE.match(value), (manifest["kind"], key, value)


DNS_1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_the_sandbox_hostname_is_a_dns_label_even_for_long_trials() -> None:
    for trial in ("demo-toy-gpt-s0-1a2b3c4d", LONG_TRIAL, "0abc-" + LONG_TRIAL[5:]):
        for number in (0, 9, 123):
            name = objects.sandbox_hostname(trial, number)
            assert len(name) <= 63 and DNS_1123.match(name), name
    # a cut that would start with a hyphen does not
    assert not objects.sandbox_hostname("ab-" + "c" * 58, 12).startswith("-")


def test_sandbox_hostnames_differ_for_long_trials_that_differ_only_in_their_hash() -> None:
    readable = LONG_TRIAL[: -len("-1a2b3c4d")]
    first, second = readable + "-1a2b3c4d", readable + "-1a2b3c4e"
    assert len(first) == 63
    assert objects.sandbox_hostname(first, 0) != objects.sandbox_hostname(second, 0)
    # and real trial names of two seeds, cut to the same readable part
    seeds = [trial_name("r" * 30, "t" * 30, "a" * 20, s) for s in (1, 2)]
    assert seeds[0][:-9] == seeds[1][:-9]
    assert objects.sandbox_hostname(seeds[0], 0) != objects.sandbox_hostname(seeds[1], 0)


def test_sandbox_hostnames_differ_between_attempts() -> None:
    names = {objects.sandbox_hostname(LONG_TRIAL, n) for n in range(12)}
    assert len(names) == 12


def test_the_sandbox_pod_is_named_under_its_runs_service() -> None:
    a = attempt(number=1)
    spec = objects.sandbox_pod(a)["spec"]
    assert spec["hostname"] == a.hostname == "demo-toy-gpt-s0-1a2b3c4d-a1"
    assert spec["subdomain"] == a.service == objects.run_service_name("demo")
    assert a.sandbox_url == "http://demo-toy-gpt-s0-1a2b3c4d-a1.kubegym-run-demo.bench.svc:8080"
    assert "hostname" not in objects.agent_pod(a)["spec"], "only the sandbox is looked up"


def test_the_trial_config_names_the_servers_by_the_sandbox_pods_dns_name() -> None:
    a = attempt(number=2)
    config = objects.trial_config(a)
    assert config["sandbox"] == f"http://{a.hostname}.{a.service}.bench.svc:8080"
    assert config["evaluator"] == f"http://{a.hostname}.{a.service}.bench.svc:8081"


@pytest.mark.parametrize(
    ("hosts", "network", "mode"),
    [([], "none", "none"), (["pypi.org"], "none", "allowlist"), (["pypi.org"], "egress", "open")],
)
def test_the_sandbox_pod_carries_its_network_mode(
    hosts: list[str], network: str, mode: str
) -> None:
    a = attempt(task_obj=task(network=network, egress={"hosts": hosts}))
    assert objects.sandbox_pod(a)["metadata"]["labels"][labels.NETWORK] == mode
    assert labels.NETWORK not in objects.agent_pod(a)["metadata"]["labels"]


def test_names_are_fixed_by_trial_and_attempt() -> None:
    # a restarted operator must find, not duplicate, what it created
    first = [m["metadata"]["name"] for m in objects.attempt_objects(attempt(number=4))]
    again = [m["metadata"]["name"] for m in objects.attempt_objects(attempt(number=4))]
    other = [m["metadata"]["name"] for m in objects.attempt_objects(attempt(number=5))]
    assert first == again
    assert not set(first) & set(other)


# -- trust: records, limits, read-only roots, egress -------------------------------------------


def test_the_evaluator_writes_its_record_to_its_termination_message() -> None:
    a = attempt(task_obj=task(limits={"wallTimeSeconds": 3600}))
    evaluator = containers(objects.sandbox_pod(a))["evaluator"]
    command = evaluator["command"]
    assert command[command.index("--record") + 1] == "/dev/termination-log"
    assert evaluator["terminationMessagePath"] == "/dev/termination-log"
    assert evaluator["terminationMessagePolicy"] == "File"
    # it ends itself after the wall time and before the pods' deadline
    deadline = int(command[command.index("--deadline-seconds") + 1])
    assert 3600 < deadline < objects.sandbox_pod(a)["spec"]["activeDeadlineSeconds"]


@pytest.mark.parametrize(
    ("task_cap", "run_cap", "expected"), [(None, None, None), (5, None, 5), (5, 3, 3), (2, 9, 2)]
)
def test_the_trial_config_caps_validations_with_the_smaller_of_task_and_run(
    task_cap: int | None, run_cap: int | None, expected: int | None
) -> None:
    limits = {} if task_cap is None else {"maxValidations": task_cap}
    run = run_spec(**({} if run_cap is None else {"maxValidations": run_cap}))
    config = objects.trial_config(attempt(task_obj=task(limits=limits), run=run))
    assert config["limits"]["maxValidations"] == expected


def test_the_agent_pod_runs_under_the_runtime_class_too() -> None:
    for name in ("gpu-kueue-gvisor",):
        a = SCENARIOS[name]
        assert objects.agent_pod(a)["spec"]["runtimeClassName"] == "gvisor"
    assert "runtimeClassName" not in objects.agent_pod(attempt())["spec"]


def test_writable_paths_are_volumes_under_read_only_roots() -> None:
    for scenario in SCENARIOS.values():
        for pod in (objects.sandbox_pod(scenario), objects.agent_pod(scenario)):
            for c in pod["spec"]["containers"]:
                mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
                assert "/tmp" in mounts, c["name"]
                assert "emptyDir" in volumes(pod)[mounts["/tmp"]], c["name"]


def test_an_api_base_port_and_a_declared_egress_are_what_opens() -> None:
    run = run_spec(
        agents=[
            {"name": "gpt", "model": "openai/x", "apiBase": "http://vllm.example:8000/v1"},
            {
                "name": "own",
                "image": "registry.example/agent:1",
                "egress": [{"cidr": "203.0.113.7/32", "ports": [8443]}],
            },
            {"name": "base", "builtin": "baseline"},
        ]
    )

    def egress_of(name: str) -> list[dict[str, Any]]:
        (agent,) = [a for a in run.agents if a.name == name]
        return objects.agent_egress(agent, run, Settings())

    model = egress_of("gpt")
    assert [p["port"] for p in model[0]["ports"]] == [443, 8000]
    declared = egress_of("own")
    assert declared == [
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.7/32"}}],
            "ports": [{"protocol": "TCP", "port": 8443}],
        }
    ]
    assert egress_of("base") == []
