"""Attack: with per-run NetworkPolicies an agent pod can connect to another trial's sandbox pod of
the same run (`tests/unit/devcluster/test_netpol.py` shows the policies let it). Guarantee: the
attempt's tokens keep it out. Each attempt's Secret (`objects.secret`) mints its own sandbox
and evaluator tokens; an agent pod reads only its own attempt's Secret; the real sandbox
server and evaluator, started with another trial's tokens, refuse (401) the agent's own
tokens, either token at the other server, a missing token and forged ones, and do nothing
for them: no command runs, no validate or submit is scored, the evaluator does not end.
"""

from __future__ import annotations

import http.client
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from kubegym.api.summary import EvaluatorRecord
from kubegym.operator import objects
from kubegym.sandbox.client import ServerProcess, start_server
from tests.support import trial_pod
from tests.unit.operator.builders import attempt

#: Two trials of run `demo` (task toy, agent gpt, seeds 0 and 1).
ATTACKER = attempt(trial="demo-toy-gpt-s0-1a2b3c4d")
VICTIM = attempt(trial="demo-toy-gpt-s1-5e6f7a8b")
COMMAND = "touch pwned"


@dataclass
class Servers:
    """One attempt's sandbox server and evaluator, started with its Secret's tokens."""

    tokens: dict[str, str]
    sandbox: ServerProcess
    evaluator: trial_pod.Evaluator
    workspace: Path

    @property
    def record(self) -> EvaluatorRecord:
        return EvaluatorRecord.from_message((self.workspace.parent / "record").read_text())


def agent_tokens(a: objects.Attempt, secrets_by_name: dict[str, dict[str, str]]) -> dict[str, str]:
    """The tokens the attempt's agent pod holds: its env's secretKeyRefs, read as a kubelet does."""
    (container,) = objects.agent_pod(a)["spec"]["containers"]
    held = {}
    for entry in container["env"]:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref is not None and ref["name"] in secrets_by_name:
            held[entry["name"]] = secrets_by_name[ref["name"]][ref["key"]]
    return held


@pytest.fixture
def victim(repo: Path, tmp_path: Path) -> Iterator[tuple[Servers, dict[str, dict[str, str]]]]:
    """The victim's servers, and both attempts' Secrets (name → data)."""
    made = {a.base_name: objects.secret(a)["stringData"] for a in (ATTACKER, VICTIM)}
    tokens = made[VICTIM.base_name]
    workspace = trial_pod.make_workspace(repo, tmp_path / "workspace")
    config = tmp_path / "trial.json"
    trial_pod.write_trial_config(repo, config, {"name": "base", "builtin": "baseline"})
    token_file = tmp_path / "evaluator-token"
    token_file.write_text(tokens[objects.EVALUATOR_TOKEN])
    eval_dir = trial_pod.make_eval_dir(repo, tmp_path / "eval")
    sandbox = start_server(workspace=workspace, token=tokens[objects.SANDBOX_TOKEN], timeout=20)
    try:
        evaluator = trial_pod.start_evaluator(
            config, eval_dir, workspace, token_file, extra=("--record", str(tmp_path / "record"))
        )
        try:
            yield Servers(tokens, sandbox, evaluator, workspace), made
        finally:
            evaluator.stop()
    finally:
        sandbox.stop()


def call(url: str, method: str, path: str, body: Any, token: str | None) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    conn.request(method, path, body=json.dumps(body), headers=headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_each_attempt_has_its_own_tokens_and_its_agent_holds_only_its_own() -> None:
    made = {a.base_name: objects.secret(a)["stringData"] for a in (ATTACKER, VICTIM)}
    mine, theirs = made[ATTACKER.base_name], made[VICTIM.base_name]
    for key in (objects.SANDBOX_TOKEN, objects.EVALUATOR_TOKEN):
        assert mine[key] != theirs[key] and len(mine[key]) >= 43  # 32 random bytes
    held = agent_tokens(ATTACKER, made)
    assert set(held) == {"KUBEGYM_SANDBOX_TOKEN", "KUBEGYM_EVALUATOR_TOKEN"}
    assert set(held.values()) == {mine[objects.SANDBOX_TOKEN], mine[objects.EVALUATOR_TOKEN]}
    assert not set(held.values()) & set(theirs.values())
    # the pods name the attempt's own Secret only (env and volumes)
    for pod in (objects.agent_pod(ATTACKER), objects.sandbox_pod(ATTACKER)):
        text = json.dumps(pod)
        assert VICTIM.base_name not in text


def test_an_agent_is_refused_at_another_trials_sandbox_and_evaluator(
    victim: tuple[Servers, dict[str, dict[str, str]]],
) -> None:
    servers, made = victim
    held = agent_tokens(ATTACKER, made)
    own = [held["KUBEGYM_SANDBOX_TOKEN"], held["KUBEGYM_EVALUATOR_TOKEN"]]
    theirs_swapped = [
        servers.tokens[objects.EVALUATOR_TOKEN],  # the victim's evaluator token at its sandbox
        servers.tokens[objects.SANDBOX_TOKEN],  # and the other way round
    ]
    forged = [None, "", secrets.token_urlsafe(32), servers.tokens[objects.SANDBOX_TOKEN][:-1]]
    sandbox_calls = [
        ("/v1/exec", {"command": COMMAND}),
        ("/v1/files/read", {"path": "baseline.py"}),
    ]
    evaluator_calls = [
        ("/v1/validate", {"step": 1}),
        ("/v1/submit", {"step": 2}),
        ("/v1/finish", {}),
    ]
    for token in [*own, theirs_swapped[0], *forged]:
        for path, body in sandbox_calls:
            assert call(servers.sandbox.address, "POST", path, body, token) == 401, (path, token)
    for token in [*own, theirs_swapped[1], *forged]:
        for path, body in evaluator_calls:
            assert call(servers.evaluator.url, "POST", path, body, token) == 401, (path, token)
    # nothing happened for the attacker: no command ran, nothing was scored, it still serves
    assert not (servers.workspace / "pwned").exists()
    assert servers.record == EvaluatorRecord()
    assert servers.evaluator.process.poll() is None
    # the victim's own agent, with its own tokens, is served (the refusals were the tokens')
    victim_held = agent_tokens(VICTIM, made)
    status = call(
        servers.sandbox.address,
        "POST",
        "/v1/exec",
        {"command": COMMAND},
        victim_held["KUBEGYM_SANDBOX_TOKEN"],
    )
    assert status == 200 and (servers.workspace / "pwned").exists()
    status = call(
        servers.evaluator.url,
        "POST",
        "/v1/validate",
        {"step": 1},
        victim_held["KUBEGYM_EVALUATOR_TOKEN"],
    )
    assert status == 200 and [s.step for s in servers.record.scores] == [1]
