"""The operator on the real control plane: runs go from `kubectl apply` to `Succeeded`.

The operator runs as a subprocess with its ServiceAccount's token (operator/rbac.yaml
bound in the test's namespace); the tests play the kubelet where KWOK does not:
they end the agent containers with termination messages, OOM-kill and evict pods.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kubegym import scoring
from kubegym.api.summary import TrialSummary
from kubegym.devcluster import nodes
from kubegym.operator import labels, objects
from tests.support.kube import wait_for

from .harness import G, Kubelet, OperatorProcess, V
from .resources import (
    apply,
    benchmark_run,
    get_run,
    phase_is,
    play,
    sample,
    summary_for,
    task,
    trials_of,
)

pytestmark = pytest.mark.cluster


SCORES = {("alpha", "a1"): 0.9, ("alpha", "a2"): 0.7, ("beta", "a1"): 0.6, ("beta", "a2"): 0.8}


def test_a_grid_runs_to_succeeded_with_counters_and_aup(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str
) -> None:
    apply(
        custom,
        namespace,
        task("alpha"),
        task("beta", baseline=0.55),
        benchmark_run("grid", ["alpha", "beta"], ["a1", "a2"], seeds=2, parallelism=3),
    )
    most_at_once = 0

    def answer(pod: dict[str, Any]) -> None:
        nonlocal most_at_once
        most_at_once = max(most_at_once, len(kubelet.running_agents()))
        found = pod["metadata"]["labels"]
        seed = int(found["kubegym.io/seed"])
        score = SCORES[(found["kubegym.io/task"], found["kubegym.io/agent"])] - 0.01 * seed
        kubelet.finish_agent(pod, summary_for(score))

    play(kubelet, phase_is(custom, namespace, "grid", "Succeeded", "Failed"), answer)
    status = get_run(custom, namespace, "grid")["status"]
    assert status["phase"] == "Succeeded"
    counters = status["counters"]
    assert counters == {
        "total": 8,
        "pending": 0,
        "running": 0,
        "succeeded": 8,
        "failed": 0,
        "infraRetried": 0,
    }
    assert status["progress"] == "8/8"
    assert status["spentUsd"] == pytest.approx(8 * 0.25)
    assert most_at_once <= 3
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == "True"
    assert conditions["Progressing"]["status"] == "False"
    assert conditions["Failed"]["status"] == "False"

    # The leaderboard is MLGym's AUP over the best seed, computed here independently.
    rows = [
        {
            "task": t,
            "direction": "max",
            "method": "task-baseline",
            "seed": 0,
            "best_attempt": b,
            "best_submission": b,
        }
        for t, b in (("alpha", 0.5), ("beta", 0.55))
    ]
    for (t, a), score in SCORES.items():
        for seed in range(2):
            s = score - 0.01 * seed
            rows.append(
                {
                    "task": t,
                    "direction": "max",
                    "method": a,
                    "seed": seed,
                    "best_attempt": s,
                    "best_submission": s,
                }
            )
    table = scoring.best_over_seeds(pd.DataFrame(rows), baseline="task-baseline")
    expected = scoring.compute_aup(table, baseline="task-baseline").aup
    board = {row["agent"]: row for row in status["leaderboard"]}
    assert set(board) == {"a1", "a2"}
    for agent in ("a1", "a2"):
        assert board[agent]["bestAttemptAup"] == pytest.approx(
            expected.loc[agent, "best_attempt"], abs=1e-6
        )
        assert board[agent]["bestSubmissionAup"] == pytest.approx(
            expected.loc[agent, "best_submission"], abs=1e-6
        )
    # The operator's /metrics says the same, per run, task and agent.
    ns = {"namespace": namespace, "run": "grid"}
    text = operator.metrics()
    assert sample(text, "kubegym_trials", phase="Succeeded", **ns) == 8
    assert (
        sample(
            text, "kubegym_trials_finished_total", task="alpha", agent="a1", phase="Succeeded", **ns
        )
        == 2
    )
    assert sample(text, "kubegym_aup", agent="a2", profile="best_attempt", **ns) == pytest.approx(
        board["a2"]["bestAttemptAup"]
    )
    assert sample(text, "kubegym_best_score", task="beta", agent="a2", **ns) == pytest.approx(0.8)
    assert sample(text, "kubegym_agent_cost_usd_total", agent="a1", **ns) == pytest.approx(4 * 0.25)
    assert sample(text, "kubegym_trial_scheduling_latency_seconds_count", task="alpha", **ns) == 4
    assert sample(text, "kubegym_operator_reconcile_duration_seconds_count", kind="Trial") > 8
    trial = trials_of(custom, namespace, "grid")[0]
    assert trial["status"]["phase"] == "Succeeded"
    assert trial["status"]["steps"] == 5 and len(trial["status"]["scores"]) == 2
    # A finished trial keeps no pods and no Secret: the API server's object count is
    # bounded by the trials running, not by the trials run.
    wait_for(lambda: not kubelet.pods("kubegym.io/run=grid"))
    per_trial = "kubegym.io/run=grid,kubegym.io/trial"
    assert not kubelet.core.list_namespaced_secret(namespace, label_selector=per_trial).items


def test_infrastructure_failures_are_retried_and_a_step_limit_is_not(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str
) -> None:
    apply(
        custom,
        namespace,
        task("alpha"),
        benchmark_run(
            "flaky",
            ["alpha"],
            ["a1"],
            seeds=3,
            parallelism=3,
            retryPolicy={"infraRetries": 2, "backoffSeconds": 0},
        ),
    )
    done: set[str] = set()

    def answer(pod: dict[str, Any]) -> None:
        found = pod["metadata"]["labels"]
        seed, attempt = found["kubegym.io/seed"], found["kubegym.io/attempt"]
        trial = found["kubegym.io/trial"]
        if trial in done:
            return
        if seed == "0" and attempt == "0":
            sandbox = kubelet.pods(f"kubegym.io/trial={trial},kubegym.io/role=sandbox")[0]
            kubelet.oom_kill(sandbox)
        elif seed == "1" and attempt == "0":
            kubelet.evict(pod)
        elif seed == "2":
            limit = TrialSummary(exit="max_steps", final={"r2": 0.6}, steps=50, cost_usd=0.1)
            kubelet.finish_agent(pod, limit)
        else:
            kubelet.finish_agent(pod, summary_for(0.7))
        if attempt != "0" or seed in ("0", "2"):  # seed 0's OOM kill is final
            done.add(trial)

    play(kubelet, phase_is(custom, namespace, "flaky", "Succeeded", "Failed"), answer)
    status = get_run(custom, namespace, "flaky")["status"]
    assert status["phase"] == "Succeeded"
    # The eviction for node pressure is the platform's: retried. The OOM kill at the
    # trial's own memory limit is the agent's: final, never a free re-roll.
    assert status["counters"]["infraRetried"] == 1
    by_seed = {t["spec"]["seed"]: t["status"] for t in trials_of(custom, namespace, "flaky")}
    assert by_seed[0]["attempt"] == 0 and not by_seed[0].get("infraFailures")
    assert (by_seed[0]["phase"], by_seed[0]["exitReason"]) == ("Failed", "memory_limit")
    assert by_seed[0]["failureClass"] == "agent" and by_seed[0].get("score") is None
    assert [f["reason"] for f in by_seed[1]["infraFailures"]] == ["Evicted"]
    assert by_seed[1]["attempt"] == 1
    assert by_seed[2]["attempt"] == 0 and by_seed[2]["exitReason"] == "max_steps"
    assert by_seed[2]["phase"] == "Succeeded" and by_seed[2]["score"] == 0.6
    # Every attempt's pods are gone, the failed ones' and the finished ones'.
    wait_for(lambda: not kubelet.pods("kubegym.io/run=flaky"))
    events = kubelet.core.list_namespaced_event(namespace).items
    reasons = {e.reason for e in events if e.source and e.source.component == "kubegym-operator"}
    assert {"Evicted", "Retrying", "Finished", "AttemptStarted"} <= reasons
    text = operator.metrics()
    ns = {"namespace": namespace, "run": "flaky"}
    assert sample(text, "kubegym_infra_failures_total", reason="evicted", **ns) == 1
    assert sample(text, "kubegym_trial_retries_total", reason="evicted", **ns) == 1


def test_gpu_trials_land_on_gpu_nodes_and_an_impossible_gpu_is_unschedulable(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str
) -> None:
    apply(
        custom,
        namespace,
        task("cpu-task"),
        task("gpu-task", gpu={"count": 1, "product": nodes.GPU_PRODUCT}),
        task("h200-task", gpu={"count": 1, "product": "NVIDIA-H200"}),
        benchmark_run(
            "placement",
            ["cpu-task", "gpu-task", "h200-task"],
            ["a1"],
            seeds=1,
            parallelism=3,
            retryPolicy={"infraRetries": 0},
            deadlines={"schedulingSeconds": 4},
        ),
    )

    def placed() -> list[dict[str, Any]]:
        pods = [p for p in kubelet.pods("kubegym.io/role=sandbox") if p["spec"].get("nodeName")]
        return pods if len(pods) >= 2 else []

    for pod in wait_for(placed, timeout=60):
        task_name = pod["metadata"]["labels"]["kubegym.io/task"]
        node = pod["spec"]["nodeName"]
        if task_name == "gpu-task":
            assert node.startswith("kwok-gpu-"), node
            limits = pod["spec"]["containers"][0]["resources"]["limits"]
            assert limits[nodes.GPU_RESOURCE] == "1"
            assert pod["spec"]["nodeSelector"] == {nodes.GPU_PRODUCT_LABEL: nodes.GPU_PRODUCT}
        else:
            assert task_name == "cpu-task" and node.startswith("kwok-cpu-"), (task_name, node)

    def h200_failed() -> dict[str, Any] | None:
        for t in trials_of(custom, namespace, "placement"):
            if (
                t["spec"]["task"] == "h200-task"
                and (t.get("status") or {}).get("phase") == "Failed"
            ):
                return dict(t["status"])
        return None

    status = wait_for(h200_failed, timeout=60)
    assert status["failureClass"] == "infra"
    assert status["infraFailures"][0]["reason"] == "Unschedulable"
    assert "4s" in status["infraFailures"][0]["message"]


def test_deleting_a_run_removes_everything_it_owned(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str, api_client: Any
) -> None:
    from kubernetes import client

    apply(
        custom,
        namespace,
        task("alpha"),
        benchmark_run("doomed", ["alpha"], ["a1"], seeds=2, parallelism=2),
    )
    wait_for(lambda: len(kubelet.pods("kubegym.io/run=doomed")) == 4, timeout=60)
    core = client.CoreV1Api(api_client)
    # No Secret per trial: the run's key, from which its attempts' tokens are derived.
    found = core.list_namespaced_secret(namespace, label_selector="kubegym.io/run=doomed").items
    assert [s.metadata.name for s in found] == ["doomed.attempt-key"]
    custom.delete_namespaced_custom_object(
        G, V, namespace, "benchmarkruns", "doomed", propagation_policy="Background"
    )

    def all_gone() -> bool:
        return (
            not trials_of(custom, namespace, "doomed")
            and not kubelet.pods("kubegym.io/run=doomed")
            and not core.list_namespaced_secret(
                namespace, label_selector="kubegym.io/run=doomed"
            ).items
            and not core.list_namespaced_service(
                namespace, label_selector="kubegym.io/run=doomed"
            ).items
        )

    wait_for(all_gone, timeout=90)


def test_a_killed_operator_resumes_without_duplicates_or_lost_results(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str
) -> None:
    apply(
        custom,
        namespace,
        task("alpha"),
        benchmark_run("phoenix", ["alpha"], ["a1", "a2"], seeds=3, parallelism=2),
    )
    answered: list[str] = []

    def answer(pod: dict[str, Any]) -> None:
        kubelet.finish_agent(pod, summary_for(0.8))
        answered.append(pod["metadata"]["name"])

    play(kubelet, lambda: len(answered) >= 2, answer)
    operator.kill()
    # While it is down, the agents that were running finish; nothing reads them yet.
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for pod in kubelet.running_agents():
            answer(pod)
        time.sleep(0.3)
    operator.start()
    play(kubelet, phase_is(custom, namespace, "phoenix", "Succeeded", "Failed"), answer)
    status = get_run(custom, namespace, "phoenix")["status"]
    assert status["phase"] == "Succeeded"
    assert status["counters"]["succeeded"] == 6
    assert status["spentUsd"] == pytest.approx(6 * 0.25)
    # Every trial ran exactly one attempt: one agent pod each, answered once.
    assert sorted(answered) == sorted(set(answered)) and len(answered) == 6
    for t in trials_of(custom, namespace, "phoenix"):
        assert t["status"]["attempt"] == 0 and not t["status"].get("infraFailures")


def test_a_start_cut_short_is_finished_not_retried_as_a_deleted_pod(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str, api_client: Any
) -> None:
    # The API server refuses the agent pod after the sandbox pod is made (a quota of one
    # pod), as when the operator dies between the two creates. The Trial is still Pending;
    # once the agent pod can be made, the start is finished. Read as "the agent pod was
    # deleted from outside", it would spend an infrastructure retry nothing called for.
    # Nor may the agent pod made then name another Service than its sandbox pod's.
    from kubernetes import client

    core = client.CoreV1Api(api_client)
    quota = {"metadata": {"name": "one-pod"}, "spec": {"hard": {"pods": "1"}}}
    core.create_namespaced_resource_quota(namespace, quota)
    wait_for(
        lambda: core.read_namespaced_resource_quota("one-pod", namespace).status.hard or {},
        timeout=30,
    )
    apply(custom, namespace, task("alpha"), benchmark_run("cut", ["alpha"], ["a1"], seeds=1))
    wait_for(lambda: len(kubelet.pods("kubegym.io/run=cut")) == 1, timeout=60)
    time.sleep(3)  # the operator tries the agent pod again, and is refused again
    (only,) = kubelet.pods("kubegym.io/run=cut")
    assert only["metadata"]["name"].endswith("-a0-sandbox")  # never the agent alone
    # Meanwhile the run's parallelism grows past one Service: the trial's shard by the new
    # parallelism is another Service than the one its sandbox pod is named under.
    trial_name = only["metadata"]["labels"][labels.TRIAL]
    parallelism = next(
        p
        for p in range(129, 10_001, 128)
        if objects.service_shard(trial_name, objects.service_shards(p)) != 0
    )
    custom.patch_namespaced_custom_object(
        G, V, namespace, "benchmarkruns", "cut", {"spec": {"parallelism": parallelism}}
    )
    new_shard = objects.service_shard(trial_name, objects.service_shards(parallelism))
    wait_for(  # the run's reconcile has seen it: the new shards are there
        lambda: (
            core.list_namespaced_service(
                namespace,
                field_selector=f"metadata.name={objects.run_service_name('cut', new_shard)}",
            ).items
        ),
        timeout=30,
    )
    core.delete_namespaced_resource_quota("one-pod", namespace)
    agent = wait_for(
        lambda: next(iter(kubelet.pods("kubegym.io/run=cut,kubegym.io/role=agent")), None),
        timeout=60,
    )
    env = {e["name"]: e.get("value") for e in agent["spec"]["containers"][0]["env"]}
    # The agent names the sandbox where it is, not the Service the new parallelism picks.
    sandbox = f"{only['spec']['hostname']}.{only['spec']['subdomain']}.{namespace}.svc"
    assert only["spec"]["subdomain"] == objects.run_service_name("cut", 0)
    assert env["KUBEGYM_SANDBOX_URL"].startswith(f"http://{sandbox}:")
    play(
        kubelet,
        phase_is(custom, namespace, "cut", "Succeeded", "Failed"),
        lambda pod: kubelet.finish_agent(pod, summary_for(0.8)),
    )
    (trial,) = trials_of(custom, namespace, "cut")
    assert trial["status"]["phase"] == "Succeeded"
    assert trial["status"]["attempt"] == 0 and not trial["status"].get("infraFailures")


def test_the_operator_is_refused_what_its_role_does_not_grant(
    operator: OperatorProcess, namespace: str
) -> None:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    api = config.new_client_from_config(config_file=str(operator.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_secret(namespace)  # it creates Secrets, never reads them
        assert caught.value.status == 403
        with pytest.raises(ApiException) as caught:
            core.list_namespaced_pod("kube-system")  # bound in its namespace only
        assert caught.value.status == 403
    finally:
        api.close()


def test_prometheus_scrapes_the_operator_during_a_run(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str, tmp_path: Path
) -> None:
    from kubegym.devcluster import prometheus
    from kubegym.metrics import rules

    if prometheus.binary() is None:
        pytest.skip("prometheus is not installed (apt-get install prometheus, or make test)")
    target = f"127.0.0.1:{operator.metrics_port}"
    with prometheus.running(tmp_path / "prom", [target], job=rules.OPERATOR_JOB) as prom:
        apply(
            custom,
            namespace,
            task("alpha"),
            benchmark_run("watched", ["alpha"], ["a1", "a2"], seeds=2, parallelism=4),
        )
        run = f'namespace="{namespace}",run="watched"'
        # While it runs: the planned size and the phases are there before any trial ends.
        prom.wait_for(f"kubegym_run_trials_planned{{{run}}} == 4", timeout=60)
        play(
            kubelet,
            phase_is(custom, namespace, "watched", "Succeeded", "Failed"),
            lambda pod: kubelet.finish_agent(
                pod, summary_for(0.7 if "a1" in pod["metadata"]["name"] else 0.6)
            ),
        )
        # The recording rules evaluate over the operator's series.
        prom.wait_for(f"kubegym_run:progress:ratio{{{run}}} == 1", timeout=60)
        prom.wait_for(f'kubegym_run_agent:aup:max{{{run},agent="a1"}} > 0', timeout=60)
        status = get_run(custom, namespace, "watched")["status"]
        board = {row["agent"]: row for row in status["leaderboard"]}
        aup = prom.query(f'kubegym_aup{{{run},agent="a2",profile="best_submission"}}')
        assert prometheus.value(aup[0]) == pytest.approx(board["a2"]["bestSubmissionAup"])
        spent = prom.query(f"kubegym_run_spend_usd{{{run}}}")
        assert prometheus.value(spent[0]) == pytest.approx(4 * 0.25)
        assert prom.query(f'up{{job="{rules.OPERATOR_JOB}"}} == 1')
        # No alert about this run: it made progress and has no budget.
        firing = prom.query(f'ALERTS{{alertstate="firing",{run}}}')
        assert not firing, firing


def test_a_suspended_run_waits_and_a_finished_one_expires_after_its_ttl(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str
) -> None:
    apply(
        custom,
        namespace,
        task("alpha"),
        benchmark_run(
            "later",
            ["alpha"],
            ["a1"],
            seeds=2,
            parallelism=2,
            suspend=True,
            ttlSecondsAfterFinished=2,
        ),
    )
    wait_for(phase_is(custom, namespace, "later", "Suspended"), timeout=30)
    time.sleep(2)
    assert not kubelet.pods("kubegym.io/run=later")
    custom.patch_namespaced_custom_object(
        G, V, namespace, "benchmarkruns", "later", {"spec": {"suspend": False}}
    )
    play(
        kubelet,
        phase_is(custom, namespace, "later", "Succeeded"),
        lambda pod: kubelet.finish_agent(pod, summary_for(0.7)),
    )

    def expired() -> bool:
        runs = custom.list_namespaced_custom_object(G, V, namespace, "benchmarkruns")["items"]
        return not runs and not trials_of(custom, namespace, "later")

    wait_for(expired, timeout=60)


def test_attack_a_forged_summary_never_becomes_the_trials_score(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str
) -> None:
    """Attack 3 (issue 11), end to end: an agent container that never submitted ends with
    a termination message claiming a submission with r2 = 1.0, while the evaluator's record
    (its own termination message) holds no submission. Guarantee: the Trial's score is the
    evaluator's (none): Failed as the agent's, no score, nothing in the run's AUP."""
    from kubegym.api.summary import EvaluatorRecord

    apply(custom, namespace, task("alpha"), benchmark_run("forged", ["alpha"], ["liar"], seeds=1))
    forged = summary_for(1.0)

    def answer(pod: dict[str, Any]) -> None:
        kubelet.finish_agent(pod, forged, record=EvaluatorRecord(end="deadline"))

    play(kubelet, phase_is(custom, namespace, "forged", "Succeeded", "Failed"), answer)
    (trial,) = trials_of(custom, namespace, "forged")
    status = trial["status"]
    assert status["phase"] == "Failed" and status["failureClass"] == "agent"
    assert status.get("score") is None and status.get("final") is None
    assert status.get("scores", []) == []
    assert status["exitReason"] == "agent_error"
    assert status["steps"] == forged.steps, "the agent's summary still counts its steps"


def test_a_trial_records_the_images_its_containers_ran(
    operator: OperatorProcess, kubelet: Kubelet, custom: Any, namespace: str
) -> None:
    # KWOK's statuses and the tests' kubelet carry no imageID (nothing is pulled): every
    # container is recorded with the image its spec named and a null digest, no error.
    apply(custom, namespace, task("alpha"), benchmark_run("pics", ["alpha"], ["a1"], seeds=1))
    while_running: list[dict[str, Any]] = []

    def answer(pod: dict[str, Any]) -> None:
        name = pod["metadata"]["labels"]["kubegym.io/trial"]

        def shown() -> list[dict[str, Any]] | None:
            body = custom.get_namespaced_custom_object(G, V, namespace, "trials", name)
            found: list[dict[str, Any]] | None = (body.get("status") or {}).get("images")
            return found

        while_running[:] = wait_for(shown, timeout=30)  # a running trial shows them already
        kubelet.finish_agent(pod, summary_for(0.9))

    play(kubelet, phase_is(custom, namespace, "pics", "Succeeded", "Failed"), answer)
    (trial,) = trials_of(custom, namespace, "pics")
    assert trial["status"]["phase"] == "Succeeded"
    recorded = {(i["pod"], i["container"]): i for i in trial["status"]["images"]}
    assert {("agent", "agent"), ("sandbox", "sandbox"), ("sandbox", "evaluator")} <= set(recorded)
    assert recorded["sandbox", "sandbox"]["image"] == "registry.invalid/task-alpha:1"
    assert all(i.get("digest") is None and i.get("note") is None for i in recorded.values())
    assert {(i["pod"], i["container"]) for i in while_running} <= set(recorded)
