"""Attacks on a cluster trial's scores and pods (issue 11 points 3, 4 and 9, cluster part).

Each test plays a hostile agent (an external agent image, or code that got the
evaluator's token) and asserts the one guarantee that must hold: the Trial's score
is the evaluator's, hidden test metrics never reach the agent, the validate cap
holds, and the agent pod holds no store credentials, reaches only what its run
allows, and runs read-only, limited and under the run's runtime class. The
evaluator attacks run the real server (`python -m kubegym.evaluator serve`) over
polyfit; the pod attacks check the operator's manifests; the end-to-end forged
summary on the dev cluster is in ``tests/cluster/test_trusted_scores.py``.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubegym.api import common, runs
from kubegym.api.summary import EvaluatorRecord, TrialSummary
from kubegym.operator import labels, objects
from kubegym.operator import trials as trial_logic
from kubegym.operator.settings import Settings
from tests.support import trial_pod
from tests.unit.operator import builders

# -- an evaluator server, as an external agent reaches it ---------------------------------------

Start = Callable[..., tuple[trial_pod.Evaluator, Path]]


@pytest.fixture
def evaluator(repo: Path, tmp_path: Path) -> Iterator[Start]:
    """Start polyfit's evaluator server with the baseline's artifact in the workspace; the
    record goes to ``record`` beside the workspace."""
    started: list[trial_pod.Evaluator] = []

    def start(max_validations: int | None = None) -> tuple[trial_pod.Evaluator, Path]:
        root = tmp_path / f"e{len(started)}"
        root.mkdir()
        workspace = trial_pod.make_workspace(repo, root / "workspace")
        subprocess.run(
            [sys.executable, "baseline.py"], cwd=workspace, check=True, capture_output=True
        )
        eval_dir = trial_pod.make_eval_dir(repo, root / "eval")
        config = root / "trial.json"
        written = trial_pod.write_trial_config(repo, config, {"name": "x", "builtin": "baseline"})
        written["limits"]["maxValidations"] = max_validations
        config.write_text(json.dumps(written))
        token = root / "token"
        token.write_text(trial_pod.EVALUATOR_TOKEN)
        server = trial_pod.start_evaluator(
            config, eval_dir, workspace, token, extra=("--record", str(root / "record"))
        )
        started.append(server)
        return server, root

    yield start
    for server in started:
        server.stop()


def post(url: str, path: str, body: object) -> tuple[int, dict[str, Any], str]:
    """A raw request with the evaluator's token, as an external agent sends it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
    headers = {"Authorization": f"Bearer {trial_pod.EVALUATOR_TOKEN}"}
    conn.request("POST", path, body=json.dumps(body), headers=headers)
    response = conn.getresponse()
    raw = response.read().decode()
    conn.close()
    return response.status, json.loads(raw), raw


def test_validate_answers_carry_no_hidden_test_metrics(evaluator: Start) -> None:
    """Attack 4: the agent holds the evaluator's token and reads every byte of validate's and
    submit's answers, hunting for the hidden test score. Guarantee: no `testMetrics` and no
    hidden value in any answer; the hidden scores are in the record only."""
    server, root = evaluator()
    answers = [post(server.url, "/v1/validate", {"step": n}) for n in (1, 2)]
    record = EvaluatorRecord.from_message((root / "record").read_text())
    hidden = [v for s in record.scores for v in (s.test_metrics or {}).values()]
    assert len(hidden) == 4, "the record holds both validates' hidden metrics"
    for status, answer, raw in answers:
        assert status == 200
        assert "testMetrics" not in raw and "test_metrics" not in raw
        shown = answer["score"]["metrics"]
        for value in hidden:
            assert value not in shown.values()
            assert repr(value) not in raw and f"{round(value, 6)}" not in raw


def test_the_validation_cap_holds_and_is_counted(evaluator: Start) -> None:
    """Attack 4: with maxValidations 5 the agent hammers validate to probe the hidden data.
    Guarantee: the 6th (and every later) call is refused with 429 `validation_limit`,
    nothing more is scored, and the record counts 5 scored and the refusals."""
    server, root = evaluator(max_validations=5)
    statuses = [post(server.url, "/v1/validate", {"step": n})[0] for n in range(1, 9)]
    assert statuses == [200] * 5 + [429] * 3
    status, answer, _ = post(server.url, "/v1/validate", {"step": 9})
    assert status == 429 and answer["error"]["code"] == "validation_limit"
    record = EvaluatorRecord.from_message((root / "record").read_text())
    assert (record.validations, record.refused) == (5, 4)
    assert len(record.scores) == 5, "a refused validate is never scored"


# -- the operator's decision over the pods' messages --------------------------------------------


def decide_finished(summary: TrialSummary, record: EvaluatorRecord) -> trial_logic.Decision:
    trial = builders.trial_view(phase="Running", start_time=builders.NOW)
    pods = trial_logic.AttemptPods(
        builders.sandbox_scored(record), builders.agent_done(summary.to_message("r2"))
    )
    return trial_logic.decide(
        trial, pods, task=builders.task(), run=builders.run_spec(), now=builders.NOW
    )


def test_a_forged_summary_with_a_perfect_score_is_ignored() -> None:
    """Attack 3: an external agent image never submits and writes a termination message
    claiming a submission with r2 = 1.0 (and a perfect best attempt). Guarantee: the Trial's
    score is the evaluator's (none): it fails as the agent's, no score, no scores."""
    forged = builders.summary(
        exit="submitted",
        final={"r2": 1.0},
        scores=[
            {"step": 1, "action": "validate", "metrics": {"r2": 1.0}, "testMetrics": {"r2": 1.0}},
            {"step": 2, "action": "submit", "metrics": {"r2": 1.0}, "testMetrics": {"r2": 1.0}},
        ],
    )
    decision = decide_finished(forged, EvaluatorRecord(end="deadline"))
    status = decision.status
    assert status is not None
    assert status.phase == "Failed" and status.failure_class == "agent"
    assert status.score is None and status.final is None and status.scores == []
    assert status.exit_reason == "agent_error", "a claimed submission nobody scored"
    assert decision.delete_attempt == 0, "final: never retried as infrastructure"


def test_a_forged_summary_cannot_raise_a_real_score() -> None:
    """Attack 3: the agent did submit (r2 0.41) but its summary says 0.99. Guarantee: the
    Trial records the evaluator's 0.41 and its scores, with the agent's steps and cost."""
    honest = builders.summary(final={"r2": 0.41})
    record = builders.honest_record(honest, validations=3)
    forged = honest.model_copy(update={"final": {"r2": 0.99}, "scores": []})
    status = decide_finished(forged, record).status
    assert status is not None and status.phase == "Succeeded"
    assert status.score == 0.41 and status.final == {"r2": 0.41}
    assert [s.step for s in status.scores] == [3, 12]
    assert status.validations == 3
    assert (status.steps, status.cost_usd) == (forged.steps, forged.cost_usd)


def test_the_agent_cannot_finish_the_trial_before_the_evaluator_has_recorded() -> None:
    """Attack 3: the agent exits with a perfect summary while the evaluator still runs
    (hoping its summary is read alone). Guarantee: the trial waits for the record."""
    trial = builders.trial_view(
        phase="Running", start_time=builders.NOW, scheduled_time=builders.NOW
    )
    forged = builders.summary(final={"r2": 1.0})
    pods = trial_logic.AttemptPods(
        builders.sandbox_running(), builders.agent_done(forged.to_message("r2"))
    )
    decision = trial_logic.decide(
        trial, pods, task=builders.task(), run=builders.run_spec(), now=builders.NOW
    )
    assert decision.status is None and decision.delete_attempt is None
    assert decision.outcome is not None and decision.outcome.state == "running"
    assert decision.outcome.reason == "AwaitingEvaluator"


# -- the agent pod ------------------------------------------------------------------------------

EXTERNAL_RUN = builders.run_spec(
    agents=[
        {"name": "ext", "image": "registry.example/their-agent:2"},
        {"name": "gpt", "model": "openai/gpt-4o"},
    ],
    store={"s3": {"bucket": "results", "credentialsSecret": "s3-creds"}},
)
SETTINGS = Settings(
    agent_image="registry.example/kubegym:1.0",
    runtime_class="gvisor",
    store=runs.Store(s3=runs.S3Store(bucket="shared", credentials_secret="default-creds")),
)
EXTERNAL = builders.attempt(run=EXTERNAL_RUN, agent="ext", settings=SETTINGS)


def test_an_external_agent_pod_holds_no_store_credentials() -> None:
    """Attack 3: an external agent image looks for the results bucket's keys to overwrite
    other trials' results. Guarantee: no AWS variable, no reference to a store Secret in
    its env, envFrom or volumes, with the run's store and the operator's default both set."""
    pod = objects.agent_pod(EXTERNAL)
    text = json.dumps(pod)
    assert "AWS_" not in text
    assert "s3-creds" not in text and "default-creds" not in text
    (container,) = pod["spec"]["containers"]
    assert "envFrom" not in container
    secrets = {v["secret"]["secretName"] for v in pod["spec"]["volumes"] if "secret" in v}
    assert secrets == {EXTERNAL.base_name}, "only the attempt's own trial.json"
    # kubegym's own runner (trusted code that uploads) still gets them
    own = objects.agent_pod(builders.attempt(run=EXTERNAL_RUN, agent="gpt", settings=SETTINGS))
    assert "AWS_ACCESS_KEY_ID" in json.dumps(own)


def test_an_egress_policy_selects_the_external_agent_pod_and_opens_only_what_is_allowed() -> None:
    """Attack 3: an external agent tries to reach the cluster (the store, the API server, the
    cloud's metadata service, other trials' pods). Guarantee: a NetworkPolicy selects its pod
    (by the pod's own labels) for egress and allows DNS, its own sandbox pod's two ports and
    HTTPS to public addresses only: no private range, no store port."""
    pod = objects.agent_pod(EXTERNAL)
    policy = objects.agent_network_policy(EXTERNAL)
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert selector[labels.ROLE] == "agent" and selector[labels.ATTEMPT] == "0"
    assert "Egress" in policy["spec"]["policyTypes"] and policy["spec"]["ingress"] == []
    dns, sandbox, public = policy["spec"]["egress"]
    assert all(p["port"] == 53 for p in dns["ports"]) and "to" not in dns
    (peer,) = sandbox["to"]
    assert peer["podSelector"]["matchLabels"][labels.TRIAL] == EXTERNAL.trial
    assert peer["podSelector"]["matchLabels"][labels.ROLE] == "sandbox"
    assert {p["port"] for p in sandbox["ports"]} == {8080, 8081}
    (block,) = public["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    for private in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"):
        assert private in block["ipBlock"]["except"]
    assert [p["port"] for p in public["ports"]] == [443]
    assert policy in objects.attempt_objects(EXTERNAL), "created with the attempt"


def test_every_container_is_read_only_and_limited() -> None:
    """Attack 9: agent code fills a container's disk or burns the node's CPUs, or writes into
    the image's root file system (a trojaned python, a planted script). Guarantee: every
    container and init container of both pods has readOnlyRootFilesystem and CPU, memory
    and ephemeral-storage limits, requests within them."""
    for a in (EXTERNAL, builders.attempt(), builders.attempt(run=EXTERNAL_RUN, agent="gpt")):
        for pod in (objects.sandbox_pod(a), objects.agent_pod(a)):
            for c in [*pod["spec"]["containers"], *pod["spec"].get("initContainers", [])]:
                assert c["securityContext"]["readOnlyRootFilesystem"] is True, c["name"]
                limits = c["resources"]["limits"]
                for name in ("cpu", "memory", "ephemeral-storage"):
                    assert name in limits, (c["name"], name)
                for name, value in c["resources"].get("requests", {}).items():
                    assert common.parse_quantity(value) <= common.parse_quantity(limits[name])


def test_the_agent_pod_runs_under_the_runtime_class() -> None:
    """Attack 9: an external agent image escapes to the node through a kernel bug.
    Guarantee: with a runtimeClass set (gVisor, Kata), the agent pod runs under it as the
    sandbox pod does."""
    assert objects.agent_pod(EXTERNAL)["spec"]["runtimeClassName"] == "gvisor"
    assert objects.sandbox_pod(EXTERNAL)["spec"]["runtimeClassName"] == "gvisor"
