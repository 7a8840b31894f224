"""The evaluator server and its client: tokens, hidden data kept hidden, one submission,
validate calls counted and capped, the record written however it ends, retries."""

from __future__ import annotations

import http.client
import json
import signal
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from kubegym.api.summary import EvaluatorRecord
from kubegym.errors import InfraError
from kubegym.evaluator import client as client_mod
from kubegym.evaluator import server
from kubegym.evaluator.client import EvaluatorClient, EvaluatorError
from kubegym.evaluator.judge import Judge
from kubegym.tasks.catalog import TaskBundle
from tests.support import trial_pod
from tests.unit.evaluator.conftest import StartEvaluator


def call(url: str, method: str, path: str, body: object = None, token: str | None = None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    answer = json.loads(response.read())
    conn.close()
    return response.status, answer


def test_healthz_is_open_and_everything_else_needs_the_token(
    start_evaluator: StartEvaluator,
) -> None:
    evaluator, _ = start_evaluator()
    assert call(evaluator.url, "GET", "/healthz") == (
        200,
        {"ok": True, "api": "v1", "task": "polyfit"},
    )
    for token in (None, "wrong", trial_pod.SANDBOX_TOKEN):
        status, answer = call(evaluator.url, "POST", "/v1/validate", {"step": 1}, token)
        assert status == 401 and answer["error"]["code"] == "unauthorized"
    with pytest.raises(EvaluatorError, match="token does not match") as caught:
        EvaluatorClient(evaluator.url, "wrong").validate(1)
    assert caught.value.status == 401


def read_record(workspace: Path) -> EvaluatorRecord:
    """The record the server wrote (``--record`` beside the workspace, as the fixture sets)."""
    return EvaluatorRecord.from_message((workspace.parent / "record").read_text())


def test_validate_answers_validation_metrics_only_and_records_the_hidden_ones(
    start_evaluator: StartEvaluator,
) -> None:
    evaluator, workspace = start_evaluator("heldout")
    assert read_record(workspace) == EvaluatorRecord()  # written at the start, empty
    verdict = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN).validate(3)
    assert verdict.ok and verdict.score.step == 3 and verdict.score.action == "validate"
    assert verdict.score.metrics and verdict.score.test_metrics is None
    assert "validation data" in verdict.observation
    # the raw answer too: no hidden metrics at all
    status, answer = call(
        evaluator.url, "POST", "/v1/validate", {"step": 4}, trial_pod.EVALUATOR_TOKEN
    )
    assert status == 200 and set(answer) == {"score", "observation"}
    assert "testMetrics" not in answer["score"]
    # the record has them, for the operator
    record = read_record(workspace)
    assert [s.step for s in record.scores] == [3, 4] and record.validations == 2
    hidden = record.scores[0].test_metrics
    assert hidden is not None and hidden["r2"] == pytest.approx(0.4416, abs=1e-4)
    assert hidden != verdict.score.metrics
    for value in hidden.values():
        assert f"{round(value, 6)}" not in verdict.observation
        assert f"{round(value, 6)}" not in json.dumps(answer)


def test_submit_ends_the_trial_and_answers_the_same_verdict_again(
    start_evaluator: StartEvaluator,
) -> None:
    evaluator, workspace = start_evaluator("test")
    client = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN)
    first = client.submit(5)
    assert first.ok and first.score.metrics and first.score.test_metrics is None
    assert client.submit(9) == first  # a retried submit is not scored again
    with pytest.raises(EvaluatorError) as caught:
        client.validate(6)
    assert caught.value.status == 409 and caught.value.code == "submitted"
    record = read_record(workspace)
    assert record.final == first.score.metrics and record.submitted


def test_validate_calls_are_counted_and_capped_and_a_refusal_is_no_error(
    start_evaluator: StartEvaluator,
) -> None:
    evaluator, workspace = start_evaluator(max_validations=2)
    client = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN)
    assert client.validate(1).ok and client.validate(2).ok
    status, answer = call(
        evaluator.url, "POST", "/v1/validate", {"step": 3}, trial_pod.EVALUATOR_TOKEN
    )
    assert status == 429 and answer["error"]["code"] == server.VALIDATION_LIMIT
    assert server.VALIDATION_LIMIT == client_mod.VALIDATION_LIMIT
    refused = client.validate(4)  # the client turns it into an observation
    assert not refused.ok and "Validation refused" in refused.observation
    assert "2 validate call(s)" in refused.observation
    assert refused.score.metrics is None
    assert client.submit(5).ok, "submit still works past the cap"
    record = read_record(workspace)
    assert (record.validations, record.refused, record.max_validations) == (2, 2, 2)
    assert [s.step for s in record.scores] == [1, 2, 5]


def test_a_task_cap_and_a_run_cap_the_smaller_wins(repo: Path) -> None:
    bundle_task = trial_pod.polyfit_task(repo)
    limits = bundle_task.spec.limits.model_copy(update={"max_validations": 3})
    capped = bundle_task.model_copy(
        update={"spec": bundle_task.spec.model_copy(update={"limits": limits})}
    )
    judge = Judge.__new__(Judge)  # only the bundle is read for the cap
    judge.bundle = TaskBundle(capped, repo)
    app_config = server.ServerConfig(workspace=repo, token="t", max_validations=5)
    assert server.EvaluatorApp(judge, app_config).ledger.max_validations == 3
    app_config = server.ServerConfig(workspace=repo, token="t", max_validations=1)
    assert server.EvaluatorApp(judge, app_config).ledger.max_validations == 1


def test_finish_ends_the_server_with_the_final_record(start_evaluator: StartEvaluator) -> None:
    evaluator, workspace = start_evaluator()
    client = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN)
    client.validate(1)
    assert client.finish() == {"ok": True, "end": "finished", "validations": 1}
    assert evaluator.process.wait(30) == 0
    record = read_record(workspace)
    assert record.end == "finished" and record.validations == 1 and record.final is None


def test_a_submit_ends_the_server_after_its_linger(start_evaluator: StartEvaluator) -> None:
    evaluator, workspace = start_evaluator(extra=("--linger-seconds", "0.2"))
    verdict = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN).submit(2)
    assert evaluator.process.wait(30) == 0
    record = read_record(workspace)
    assert record.end == "submitted" and record.final == verdict.score.metrics


def test_sigterm_and_the_deadline_end_it_with_the_record_written(
    start_evaluator: StartEvaluator,
) -> None:
    stopped, stopped_workspace = start_evaluator()
    EvaluatorClient(stopped.url, trial_pod.EVALUATOR_TOKEN).validate(1)
    stopped.process.send_signal(signal.SIGTERM)
    assert stopped.process.wait(30) == 0
    record = read_record(stopped_workspace)
    assert record.end == "stopped" and record.validations == 1
    late, late_workspace = start_evaluator(extra=("--deadline-seconds", "0.5"))
    assert late.process.wait(30) == 0
    assert read_record(late_workspace).end == "deadline"


def test_a_missing_artifact_is_a_verdict_not_an_http_error(
    start_evaluator: StartEvaluator,
) -> None:
    evaluator, _ = start_evaluator(baseline=False)
    verdict = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN).validate(1)
    assert not verdict.ok and "no submission found" in verdict.observation


def test_bad_steps_are_refused_naming_the_field(start_evaluator: StartEvaluator) -> None:
    evaluator, _ = start_evaluator()
    for body in ({}, {"step": -1}, {"step": "1"}, {"step": True}):
        status, answer = call(evaluator.url, "POST", "/v1/submit", body, trial_pod.EVALUATOR_TOKEN)
        assert status == 400 and answer["error"]["field"] == "step", body


def test_concurrent_calls_wait_for_each_other(start_evaluator: StartEvaluator) -> None:
    evaluator, _ = start_evaluator()
    client = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN)
    verdicts = []
    threads = [
        threading.Thread(target=lambda n=n: verdicts.append(client.validate(n))) for n in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v.score.step for v in verdicts) == [0, 1, 2]
    assert all(v.ok for v in verdicts)


def test_an_unreachable_evaluator_is_an_infra_error_after_retries() -> None:
    waits: list[float] = []
    client = EvaluatorClient("http://127.0.0.1:9", "t", attempts=3, backoff=0.5, sleep=waits.append)
    with pytest.raises(InfraError) as caught:
        client.validate(1)
    assert caught.value.reason == "EvaluatorUnreachable"
    assert waits == [0.5, 1.0]


def test_a_task_it_cannot_judge_stops_it_at_start(repo: Path, tmp_path: Path) -> None:
    workspace = trial_pod.make_workspace(repo, tmp_path / "workspace")
    eval_dir = trial_pod.make_eval_dir(repo, tmp_path / "eval")
    (eval_dir / "hidden" / "test.csv").write_text("id,y\n0,1\n")  # not the declared data
    config = tmp_path / "trial.json"
    trial_pod.write_trial_config(repo, config, {"name": "base", "builtin": "baseline"})
    token = tmp_path / "token"
    token.write_text("t")
    with pytest.raises(RuntimeError, match="sha256"):
        trial_pod.start_evaluator(config, eval_dir, workspace, token)


def _evaluator_files(repo: Path, root: Path) -> tuple[Path, Path, Path, Path]:
    workspace = trial_pod.make_workspace(repo, root / "workspace")
    eval_dir = trial_pod.make_eval_dir(repo, root / "eval")
    config = root / "trial.json"
    trial_pod.write_trial_config(repo, config, {"name": "base", "builtin": "baseline"})
    token = root / "token"
    token.write_text(trial_pod.EVALUATOR_TOKEN)
    return config, eval_dir, workspace, token


def test_python_runs_the_evaluation_script_with_the_tasks_interpreter(
    repo: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    config, eval_dir, workspace, token = _evaluator_files(repo, tmp_path)
    subprocess.run([sys.executable, "baseline.py"], cwd=workspace, check=True, capture_output=True)
    marker = tmp_path / "used"
    python = tmp_path / "task-python"
    python.write_text(f'#!/bin/sh\necho "$@" >> {marker}\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    evaluator = trial_pod.start_evaluator(config, eval_dir, workspace, token, python=python)
    try:
        verdict = EvaluatorClient(evaluator.url, trial_pod.EVALUATOR_TOKEN).validate(1)
    finally:
        evaluator.stop()
    assert verdict.ok
    assert "evaluate.py" in marker.read_text()


def test_a_python_that_is_not_an_executable_stops_it_at_start(repo: Path, tmp_path: Path) -> None:
    config, eval_dir, workspace, token = _evaluator_files(repo, tmp_path)
    with pytest.raises(RuntimeError, match=r"--python .* is not an executable"):
        trial_pod.start_evaluator(
            config, eval_dir, workspace, token, python=tmp_path / "no-such-python"
        )
