"""Attacks on failure attribution (issue 11, points 5 and 6): a crash is never a free re-roll.

The local attacks are replay agents in one real ``kubegym run`` (bubblewrap
jails, the real evaluator), next to an honest agent that runs after them: each
attacker's trial must end as the agent's failure, named, on its first attempt,
with no infrastructure failure recorded; the honest trial must still score; and
running the same command again must exit cleanly without running any trial
again. The cluster attacks are pod manifests as the kubelet writes them, read
by the operator's classification (`kubegym.operator.outcomes`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.api import reasons, summary
from kubegym.operator import outcomes

REPO = Path(__file__).resolve().parents[2]

# Each attacker's replay: what a hostile agent types, step by step.
ATTACKERS: dict[str, list[str]] = {
    # kill the sandbox server (PID 2 in the jail's PID namespace, under bwrap's init)
    "kill-server": ["python baseline.py", "kill -KILL 2", "submit"],
    "term-server": ["python baseline.py", "kill -TERM 2; sleep 1", "submit"],
    "kill-everything": ["python baseline.py", "kill -9 -1; sleep 1", "submit"],
    # blow the task's memory limit (1Gi), then submit nothing
    "exhaust-memory": [
        'python -c "b = [bytearray(64 * 2**20) for _ in range(64)]"',
        "submit",
    ],
}
HONEST = ["python baseline.py", "submit"]
# A submission that is not a regular file: reading it would block the grader.
FIFO = {"fifo-submission": ["rm -f submission.csv && mkfifo submission.csv", "validate", "submit"]}


@dataclass
class Run:
    """One `kubegym run` of every attacker and the honest agent, and its resume."""

    out: Path
    first: subprocess.CompletedProcess[str]
    before: dict[str, dict[str, Any]]
    stamps: dict[str, float]
    second: subprocess.CompletedProcess[str]
    after: dict[str, dict[str, Any]]

    attackers: int

    def trial(self, agent: str) -> dict[str, Any]:
        (found,) = [r for r in self.before.values() if r["agent"] == agent]
        return found

    def folder(self, agent: str) -> Path:
        return self.out / "trials" / self.trial(agent)["trial"]


def _finished(out: Path) -> dict[str, dict[str, Any]]:
    return {
        p.parent.name: json.loads(p.read_text(encoding="utf-8"))
        for p in (out / "trials").glob("*/results.json")
    }


def _kubegym_run(run_file: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubegym", "run", str(run_file), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_agents(tmp_path_factory.mktemp("attribution"), ATTACKERS)


@pytest.fixture(scope="module")
def fifo_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_agents(tmp_path_factory.mktemp("fifo"), FIFO)


def _run_agents(folder: Path, attackers: dict[str, list[str]]) -> Run:
    """Run the attackers, then the honest agent, in one `kubegym run`; then run it again."""
    (folder / "tasks").symlink_to(REPO / "examples" / "tasks")
    agents = []
    for name, actions in [*attackers.items(), ("honest", HONEST)]:
        replay = folder / f"{name}.jsonl"
        replay.write_text("".join(json.dumps({"action": a}) + "\n" for a in actions))
        agents.append({"name": name, "builtin": "replay", "replayPath": replay.name})
    spec = {
        "tasks": {"names": ["polyfit"]},
        "agents": agents,
        "seeds": 1,
        "parallelism": 1,
        "retryPolicy": {"infraRetries": 2, "backoffSeconds": 0},
    }
    run_file = folder / "run.yaml"
    run_file.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubegym.io/v1alpha1",
                "kind": "BenchmarkRun",
                "metadata": {"name": "attribution"},
                "spec": spec,
            }
        )
    )
    out = folder / "out"
    first = _kubegym_run(run_file, out)
    before = _finished(out)
    stamps = {
        trial: (out / "trials" / trial / "trajectory.jsonl").stat().st_mtime_ns for trial in before
    }
    second = _kubegym_run(run_file, out)
    return Run(out, first, before, stamps, second, _finished(out), len(attackers))


def _assert_agents_failure(run: Run, agent: str, reason: reasons.Reason) -> dict[str, Any]:
    results = run.trial(agent)
    assert (results["exit_reason"], results["failure_class"]) == (reason.value, "agent"), results
    assert results["attempt"] == 0, "retried: a free re-roll"
    assert results["final"] is None and results["score"] is None
    assert "infra_reason" not in results["details"]
    return results


def _assert_run_went_on(run: Run) -> None:
    assert run.first.returncode == 0, run.first.stderr[-3000:]
    honest = run.trial("honest")
    assert honest["exit_reason"] == "submitted" and honest["score"] > 0.4
    assert len(run.before) == run.attackers + 1
    status = json.loads((run.out / "status.json").read_text())
    assert status["counters"]["infraRetried"] == 0


def _assert_resume_runs_nothing_again(run: Run) -> None:
    assert run.second.returncode == 0, run.second.stderr[-3000:]
    assert run.after == run.before
    for trial, stamp in run.stamps.items():
        assert (run.out / "trials" / trial / "trajectory.jsonl").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("agent", ["kill-server", "term-server", "kill-everything"])
def test_killing_the_own_sandbox_server_is_the_agents_failure(run: Run, agent: str) -> None:
    """Attack 5/6: `kill -KILL 2`, `kill -TERM 2`, `kill -9 -1` inside the jail.

    Guarantee: the trial fails as the agent's (`sandbox_killed`, no score, attempt
    0: no re-roll), the run goes on (the honest trial scores), and a resume
    exits 0 without running any trial again.
    """
    results = _assert_agents_failure(run, agent, reasons.Reason.SANDBOX_KILLED)
    assert "no limit was hit" in results["message"]
    steps = (run.folder(agent) / "trajectory.jsonl").read_text().splitlines()
    assert len(steps) == 2, "the trial ended at the kill: no automatic submission"
    _assert_run_went_on(run)
    _assert_resume_runs_nothing_again(run)


def test_a_fifo_submission_is_the_agents_eval_error(fifo_run: Run) -> None:
    """Attack 5/6: `submission.csv` made a FIFO, then validate and submit.

    Guarantee: the grader neither hangs nor crashes the run: the trial ends as
    the agent's `eval_error` on its first attempt, the honest trial scores, and
    a resume exits 0 without running any trial again.
    """
    _assert_agents_failure(fifo_run, "fifo-submission", reasons.Reason.EVAL_ERROR)
    _assert_run_went_on(fifo_run)
    _assert_resume_runs_nothing_again(fifo_run)


def test_exhausting_memory_is_never_an_infrastructure_failure(run: Run) -> None:
    """Attack 6: allocate past the task's 1Gi memory limit.

    Guarantee: the kill is reported to the agent as a limit event, the sandbox
    restarts on the same attempt (attempt 0, no infra failure, no re-roll), and
    the trial ends as the agent's failure (`eval_error`: nothing submitted).
    """
    _assert_agents_failure(run, "exhaust-memory", reasons.Reason.EVAL_ERROR)
    steps = [
        json.loads(line)
        for line in (run.folder("exhaust-memory") / "trajectory.jsonl").read_text().splitlines()
    ]
    assert "ran out of memory" in steps[0]["observation"]
    _assert_run_went_on(run)
    _assert_resume_runs_nothing_again(run)


# --- on a cluster: the operator reads the kubelet's pod status ---------------------------

NOW = dt.datetime(2025, 3, 1, 12, 1, tzinfo=dt.UTC)
CREATED = NOW - dt.timedelta(seconds=60)


def _running(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "ready": True,
        "state": {"running": {"startedAt": "2025-03-01T12:00:05Z"}},
    }


def _terminated(name: str, code: int, reason: str) -> dict[str, Any]:
    return {
        "name": name,
        "ready": False,
        "state": {"terminated": {"exitCode": code, "reason": reason}},
    }


def _pod(
    phase: str,
    containers: list[dict[str, Any]],
    *,
    reason: str | None = None,
    message: str | None = None,
    disruption: tuple[str, str] | None = None,
) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": phase, "containerStatuses": containers}
    if reason is not None:
        status["reason"], status["message"] = reason, message or ""
    if disruption is not None:
        status["conditions"] = [
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": disruption[0],
                "message": disruption[1],
            }
        ]
    return {"metadata": {"name": "p", "namespace": "bench"}, "status": status}


SANDBOX_OK = _pod("Running", [_running("sandbox"), _running("evaluator")])
AGENT_RUNNING = _pod("Running", [_running("agent")])


def _classify(sandbox: dict[str, Any], agent: dict[str, Any]) -> outcomes.Outcome:
    return outcomes.classify(sandbox, agent, created=CREATED, now=NOW, scheduling_seconds=300)


@pytest.mark.parametrize(
    ("code", "why"),
    [(137, "Error"), (143, "Error"), (0, "Completed")],
    ids=["KILL", "TERM", "exit"],
)
def test_killing_pid_1_of_the_sandbox_container_is_the_agents_failure(code: int, why: str) -> None:
    """Attack 6 (cluster): the agent kills PID 1 (the sandbox server) of its sandbox container.

    Guarantee: on a healthy node with the pod not deleted, the attempt ends as the
    agent's `sandbox_killed` (final), not `SandboxFailed` infrastructure (retried).
    """
    sandbox = _pod("Running", [_terminated("sandbox", code, why), _running("evaluator")])
    outcome = _classify(sandbox, AGENT_RUNNING)
    assert (outcome.state, outcome.reason) == ("agent", "sandbox_killed")


def test_an_agent_that_calls_its_own_kill_an_outage_still_fails() -> None:
    """Attack 6 (cluster): kill the sandbox, then report `infra_error` (ModelUnavailable).

    Guarantee: the pods' evidence decides, not the agent's summary: `sandbox_killed`.
    """
    sandbox = _pod("Running", [_terminated("sandbox", 137, "Error"), _running("evaluator")])
    claim = summary.TrialSummary(
        exit="infra_error", message="outage", infra_reason="ModelUnavailable"
    )
    agent = _pod("Failed", [{**_terminated("agent", 0, "Completed")}])
    agent["status"]["containerStatuses"][0]["state"]["terminated"]["message"] = claim.to_message()
    outcome = _classify(sandbox, agent)
    assert (outcome.state, outcome.reason) == ("agent", "sandbox_killed")


@pytest.mark.parametrize(
    "message",
    [
        "Pod ephemeral local storage usage exceeds the total limit of containers 2Gi. ",
        'Container sandbox exceeded its local ephemeral storage limit "2Gi". ',
        'Usage of EmptyDir volume "workspace" exceeds the limit "2Gi". ',
    ],
    ids=["pod-limit", "container-limit", "emptydir-limit"],
)
def test_filling_the_workspace_past_its_limit_is_the_agents_failure(message: str) -> None:
    """Attack 6 (cluster): write past the sandbox's ephemeral-storage limit.

    The kubelet evicts such a pod with one of these messages and no DisruptionTarget
    condition (pkg/kubelet/eviction/eviction_manager.go, localStorageEviction).
    Guarantee: `storage_limit`, the agent's, never the `Evicted` infrastructure retry.
    """
    sandbox = _pod(
        "Failed", [_terminated("sandbox", 137, "Error")], reason="Evicted", message=message
    )
    outcome = _classify(sandbox, AGENT_RUNNING)
    assert (outcome.state, outcome.reason) == ("agent", "storage_limit")


def test_oom_at_the_tasks_own_memory_limit_is_the_agents_failure() -> None:
    """Attack 6 (cluster): allocate past the sandbox container's memory limit.

    Guarantee: `memory_limit`, the agent's; an OOM kill is no longer a retried `OOMKilled`.
    """
    sandbox = _pod("Running", [_terminated("sandbox", 137, "OOMKilled"), _running("evaluator")])
    outcome = _classify(sandbox, AGENT_RUNNING)
    assert (outcome.state, outcome.reason) == ("agent", "memory_limit")


@pytest.mark.parametrize(
    ("sandbox", "reason"),
    [
        (
            _pod(
                "Failed",
                [_terminated("sandbox", 137, "Error")],
                reason="Evicted",
                message="The node was low on resource: ephemeral-storage. ",
                disruption=(
                    "TerminationByKubelet",
                    "The node was low on resource: ephemeral-storage.",
                ),
            ),
            "Evicted",
        ),
        (
            _pod(
                "Running",
                [_terminated("sandbox", 143, "Error")],
                disruption=("PreemptionByScheduler", "preempted by a higher-priority pod"),
            ),
            "Preempted",
        ),
        (
            _pod(
                "Pending",
                [
                    {
                        "name": "sandbox",
                        "state": {
                            "waiting": {"reason": "ImagePullBackOff", "message": "not found"}
                        },
                    }
                ],
            ),
            "ImagePullFailed",
        ),
        (_pod("Unknown", [_running("sandbox")], reason="NodeLost"), "NodeLost"),
    ],
    ids=["node-pressure-eviction", "preemption", "image-pull", "node-lost"],
)
def test_the_platforms_failures_stay_infrastructure(sandbox: dict[str, Any], reason: str) -> None:
    """Control for attack 6: what the platform does is still retried as infrastructure.

    Guarantee: a node-pressure eviction (DisruptionTarget TerminationByKubelet),
    preemption, an image that cannot be pulled and a lost node are `infra`, even
    when the sandbox container was killed along the way.
    """
    outcome = _classify(sandbox, AGENT_RUNNING)
    assert (outcome.state, outcome.reason) == ("infra", reason)
    assert reasons.Reason(reason).failure_class is reasons.FailureClass.INFRA
