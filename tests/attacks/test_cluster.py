"""Attacks on a cluster trial's scores and pods (issue 11 points 3, 4 and 9, cluster part).

Each test plays a hostile agent (an external agent image, or code that got the
evaluator's token) and asserts the one guarantee that must hold: the Trial's score
is the evaluator's, hidden test metrics never reach the agent, the validate cap
holds, and the agent pod holds no store credentials, reaches only what its run
allows, and runs read-only, limited and under the run's runtime class. The
evaluator attacks run the real server (`python -m kubegym.evaluator serve`) over
polyfit; the pod attacks check the operator's manifests; the end-to-end forged
summary on the dev cluster is in ``tests/cluster/test_trusted_scores.py``.

The jail attacks play hostile strategies against the sandbox pod's jail container: its
manifest, and the jail server itself (``python -m kubegym.evaluator jail-serve``) started
as a separate process, as another uid when the tests run as root, with the real scorer
forwarding to it; the end-to-end trial on the dev cluster is in
``tests/cluster/test_dev_kubelet.py``.
"""

from __future__ import annotations

import errno
import http.client
import json
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubegym.api import common, runs
from kubegym.api.summary import EvaluatorRecord, TrialSummary
from kubegym.evaluator import jails, scorer
from kubegym.operator import labels, objects
from kubegym.operator import trials as trial_logic
from kubegym.operator.settings import Settings
from kubegym.tasks import datasets, venvs
from tests.support import jail_server as jail_server_support
from tests.support import trial_pod
from tests.tasks.conftest import prepared
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
    # The status may only gain what the kubelet reports (the images that ran): no phase,
    # no score, no summary of the agent's.
    if decision.status is not None:
        assert decision.status.model_dump(exclude={"images"}) == trial.status.model_dump(
            exclude={"images"}
        )
    assert decision.delete_attempt is None
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
    cloud's metadata service, other runs' pods). Guarantee: its run's NetworkPolicy for the
    agent selects its pod (by the pod's own labels) for egress and allows DNS, its run's
    sandbox pods' two ports and HTTPS to public addresses only: no private range, no store
    port. (Another trial's sandbox of the same run is kept out by the attempt's tokens:
    tests/unit/operator/test_run_network_trust.py.)"""
    pod = objects.agent_pod(EXTERNAL)
    r = objects.RunObjects(EXTERNAL.namespace, "demo", "run-uid", EXTERNAL_RUN, [], SETTINGS)
    (policy,) = [m for m in objects.run_objects(r) if m["metadata"]["name"] == "demo.agent.ext"]
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    assert selector[labels.ROLE] == "agent" and selector[labels.AGENT] == "ext"
    assert "Egress" in policy["spec"]["policyTypes"] and policy["spec"]["ingress"] == []
    dns, sandbox, public = policy["spec"]["egress"]
    assert all(p["port"] == 53 for p in dns["ports"]) and "to" not in dns
    (peer,) = sandbox["to"]
    assert peer["podSelector"]["matchLabels"] == {labels.RUN: "demo", labels.ROLE: "sandbox"}
    assert {p["port"] for p in sandbox["ports"]} == {8080, 8081}
    (block,) = public["to"]
    assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
    for private in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"):
        assert private in block["ipBlock"]["except"]
    assert [p["port"] for p in public["ports"]] == [443]


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


# -- the jail container: agent code an evaluation runs (issue 11 point 1, cluster part) ---------


def _containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod["spec"]["containers"]}


def test_the_jail_container_holds_no_eval_data_no_token_no_record_and_its_own_uid() -> None:
    """Attack 1 (cluster): a strategy the evaluation plays looks, from its container, for the
    hidden data, the evaluation script, the evaluator's token, the record it could rewrite, a
    service-account token, the evaluator's processes, or a writable root to plant a trojan.
    Guarantee: the sandbox pod's jail container mounts only its shared folder (read-only),
    its socket's folder and its /tmp; no Secret, no eval volume, no termination log; it runs
    as another non-root uid than the evaluator, read-only, with no capabilities, in a pod
    without a service-account token or a shared process namespace, under its own limits."""
    for a in (EXTERNAL, builders.attempt(), builders.attempt(run=EXTERNAL_RUN, agent="gpt")):
        pod = objects.sandbox_pod(a)
        containers = _containers(pod)
        jail, evaluator = containers["jail"], containers["evaluator"]
        mounts = {m["name"]: m for m in jail["volumeMounts"]}
        assert set(mounts) == {"jail-share", "jail-socket", "jail-tmp"}
        assert mounts["jail-share"]["readOnly"] is True
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        for name in mounts:
            assert "emptyDir" in volumes[name], name  # never a Secret, never the eval data
        evaluator_only = {m["name"] for m in evaluator["volumeMounts"]} - set(mounts)
        assert {"eval", "evaluator-files", "workspace"} <= evaluator_only
        assert "terminationMessagePath" not in jail
        assert "env" not in jail or all("valueFrom" not in e for e in jail["env"])
        pod_uid = pod["spec"]["securityContext"]["runAsUser"]
        evaluator_uid = evaluator["securityContext"].get("runAsUser", pod_uid)
        jail_uid = jail["securityContext"]["runAsUser"]
        assert jail_uid != evaluator_uid and jail_uid != 0
        assert jail["securityContext"]["runAsGroup"] != evaluator_uid
        assert jail["securityContext"]["readOnlyRootFilesystem"] is True
        assert jail["securityContext"]["allowPrivilegeEscalation"] is False
        assert jail["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert not pod["spec"].get("shareProcessNamespace")
        limits = jail["resources"]["limits"]
        resources = a.task.spec.resources
        assert limits == {
            "cpu": resources.cpu,
            "memory": resources.memory,
            "ephemeral-storage": resources.ephemeral_storage,
        }
        command = evaluator["command"]
        assert command[command.index("--jail-socket") + 1].startswith(
            next(m["mountPath"] for m in evaluator["volumeMounts"] if m["name"] == "jail-socket")
        )
        assert jail["command"][:4] == ["python", "-m", "kubegym.evaluator", "jail-serve"]


# The strategies below run in a jail server started as its own process (another uid when the
# tests run as root), in its ``process`` mode: what the pod's jail container does where it
# cannot create namespaces. The evaluator's side is the real scorer with a `jails.Remote`.

PD = "prisoners-dilemma"
ALWAYS_DEFECT = "def row_strategy(history):\n    return 1\n"
CANARY = "sk-canary-" + uuid.uuid4().hex


@pytest.fixture
def jail_server() -> Iterator[jail_server_support.JailServerProcess]:
    server = jail_server_support.start(mode="process")
    yield server
    server.stop()


def _remote_score(
    source: str, root: Path, remote: jails.JailMode, *, split: str = "test"
) -> scorer.Scoring:
    """Score ``source`` as prisoner's dilemma's artifact, the task's folder copied to ``root``
    (private to the evaluator's uid, as the pod's eval volume is to its container)."""
    bundle = prepared(PD)
    spec = bundle.task.spec
    eval_dir = root / "eval"
    shutil.copytree(bundle.root, eval_dir, ignore=shutil.ignore_patterns("__pycache__"))
    workspace = root / "workspace"
    workspace.mkdir()
    (workspace / spec.evaluation.submission.path).write_text(source)
    sets = spec.evaluation.test_data if split == "test" else spec.validation_data
    return scorer.score(
        spec.evaluation,
        task_dir=eval_dir,
        workspace=workspace,
        data={d.name: datasets.materialize(bundle, d) for d in sets},
        split=split,
        python=str(venvs.python(venvs.ensure(spec.environment.requirements))),
        env={"KUBEGYM_BUDGET": "0.01"},
        jail=remote,
    )


def test_a_remote_strategy_scores_what_a_local_jail_scores(
    jail_server: jail_server_support.JailServerProcess, tmp_path: Path
) -> None:
    """Attack 1/2 (cluster): moving agent code to the jail container must not change a
    score. Guarantee: always-defect scores the same through the jail server (run as its
    own uid, its jail recorded as remote) as in the evaluator's own jail."""
    remote = _remote_score(ALWAYS_DEFECT, tmp_path / "remote", jail_server.remote)
    local = _remote_score(ALWAYS_DEFECT, tmp_path / "local", "auto")
    assert remote.metrics is not None, (remote.error, jail_server.stderr())
    assert local.metrics is not None, local.error
    assert remote.metrics == local.metrics
    described: list[dict[str, Any]] = remote.details["jails"]  # type: ignore[assignment]
    assert len(described) == 1
    assert described[0]["server"] == "remote" and described[0]["filtered"] is True
    assert described[0]["uid"] == jail_server.uid


@pytest.mark.skipif(
    not jail_server_support.other_uid_possible(),
    reason="needs root and a system Python another uid can run",
)
def test_a_remote_strategy_reads_no_hidden_data_no_script_no_token(
    jail_server: jail_server_support.JailServerProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack 1 (cluster): a strategy in the jail server reads the hidden split files, the
    evaluation script and the token file by path, and the environment of every process
    (the evaluator's holds a key), and reports what it found through its error.
    Guarantee: every read fails; no secret, no script text and no hidden data reach its
    error (the agent's observation)."""
    monkeypatch.setenv("OPENAI_API_KEY", CANARY)
    token = tmp_path / "token"
    token.write_text(CANARY)
    bundle = prepared(PD)
    spec = bundle.task.spec
    hidden = [
        datasets.materialize(bundle, d) for d in (*spec.validation_data, *spec.evaluation.test_data)
    ]
    script = tmp_path / "attack" / "eval" / "evaluate.py"
    targets = [str(p) for p in (*hidden, script, token)]
    source = f"""
import os
found = []
for pid in [str(os.getppid())] + [p for p in os.listdir('/proc') if p.isdigit()]:
    try:
        found.append(open(f'/proc/{{pid}}/environ', 'rb').read().decode(errors='replace'))
    except OSError as exc:
        found.append(type(exc).__name__)
for path in {targets!r}:
    try:
        found.append('READ ' + open(path).read())
    except OSError as exc:
        found.append('DENIED ' + type(exc).__name__)
raise RuntimeError(' | '.join(found)[-1500:] + ' ATTACK-RAN')
"""
    result = _remote_score(source, tmp_path / "attack", jail_server.remote)
    assert result.error is not None and "ATTACK-RAN" in result.error, result.error
    assert "READ " not in result.error
    assert result.error.count("DENIED ") == len(targets)
    assert CANARY not in result.error
    assert "column_move" not in result.error  # the evaluation script's text
    for path in hidden:
        assert path.read_text()[:40] not in result.error


def test_a_remote_strategy_cannot_reach_the_pods_network_or_ipc(
    jail_server: jail_server_support.JailServerProcess, tmp_path: Path
) -> None:
    """Attack 1 (cluster): a pod's containers share one network and IPC namespace, so a
    strategy could hand the hidden opponents' moves to the sandbox over localhost, an
    abstract Unix socket or SysV shared memory. Guarantee: in the jail server's jails,
    socket() and shmget() fail (EACCES) and a listener standing for the sandbox server is
    never connected to."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0)
    port = listener.getsockname()[1]
    source = f"""
import ctypes, socket
found = []
for family, address in ((socket.AF_INET, ('127.0.0.1', {port})), (socket.AF_UNIX, '\\0kg')):
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.connect(address)
        found.append('CONNECTED')
    except OSError as exc:
        found.append(f'{{family.name}} errno {{exc.errno}}')
libc = ctypes.CDLL(None, use_errno=True)
found.append('shm ' + str(libc.shmget(0, 4096, 0o1600)) + ' errno ' + str(ctypes.get_errno()))
raise RuntimeError(' | '.join(found) + ' ATTACK-RAN')
"""
    try:
        result = _remote_score(source, tmp_path, jail_server.remote)
        with pytest.raises(BlockingIOError):
            listener.accept()
    finally:
        listener.close()
    assert result.error is not None and "ATTACK-RAN" in result.error, result.error
    assert "CONNECTED" not in result.error
    assert f"AF_INET errno {errno.EACCES}" in result.error
    assert f"AF_UNIX errno {errno.EACCES}" in result.error
    assert f"shm -1 errno {errno.EACCES}" in result.error


def test_no_process_a_remote_strategy_starts_outlives_the_scoring(
    jail_server: jail_server_support.JailServerProcess, tmp_path: Path
) -> None:
    """Attack 2 (cluster): the strategy starts a detached process (its own session, its
    parent gone) that would run for an hour in the jail container. Guarantee: when scoring
    returns, no such process exists, and the jail server still serves the next scoring."""
    marker = "kg-straggler-" + uuid.uuid4().hex
    source = f"""
import os, subprocess, sys
if os.fork() == 0:
    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)', {marker!r}],
                     start_new_session=True)
    os._exit(0)
os.wait()
def row_strategy(history):
    return 1
"""
    result = _remote_score(source, tmp_path / "first", jail_server.remote)
    assert result.metrics is not None, (result.error, jail_server.stderr())
    running = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    running.append(entry.name)
            except OSError:
                pass
    assert running == []
    again = _remote_score(ALWAYS_DEFECT, tmp_path / "again", jail_server.remote)
    assert again.metrics == result.metrics
