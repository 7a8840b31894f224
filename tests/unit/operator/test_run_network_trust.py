"""Attack: with per-run NetworkPolicies an agent pod can connect to another trial's sandbox pod of
the same run (`tests/unit/devcluster/test_netpol.py` shows the policies let it). Guarantee: the
attempt's tokens keep it out. Each attempt's tokens are derived from the run's key by its pods'
``credentials`` init containers (`objects.credentials`), run here for real from the pods'
manifests; the agent pod holds only its own attempt's tokens and never the key; the real
sandbox server and evaluator, started with another trial's tokens, refuse (401) the agent's
own tokens, either token at the other server, a missing token and forged ones, and do nothing
for them: no command runs, no validate or submit is scored, the evaluator does not end.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import subprocess
import sys
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


def run_init(pod: dict[str, Any], key: Path, out: Path) -> Path:
    """Run the pod's credentials init container as its manifest says, its key volume at `key`
    and the volumes it fills under `out`; the folder of those volumes."""
    (init,) = [c for c in pod["spec"]["initContainers"] if c["name"] == "credentials"]
    args = [
        a.replace(objects.credentials.KEY_DIR, str(key)).replace(
            objects.credentials.OUT_DIR, str(out)
        )
        for a in init["command"]
    ]
    assert args[:3] == ["python", "-m", "kubegym.sandbox.tokens"]
    env = {**os.environ, **{e["name"]: e["value"] for e in init["env"]}}
    subprocess.run([sys.executable, *args[1:]], env=env, check=True, timeout=60)
    return out


def agent_tokens(a: objects.Attempt, key: Path, tmp: Path) -> dict[str, str]:
    """The tokens the attempt's agent pod holds: the files its init container writes, where
    the agent container's ``*_FILE`` variables point."""
    pod = objects.agent_pod(a)
    out = run_init(pod, key, tmp / f"agent-{a.base_name}")
    (container,) = pod["spec"]["containers"]
    held = {}
    for entry in container["env"]:
        if entry["name"].endswith("_TOKEN_FILE"):
            path = Path(entry["value"].replace(objects.SECRETS_DIR, str(out / "trial")))
            held[entry["name"].removesuffix("_FILE")] = path.read_text()
    return held


def sandbox_tokens(a: objects.Attempt, key: Path, tmp: Path) -> dict[str, str]:
    """The tokens the attempt's sandbox pod holds (its sandbox's and its evaluator's)."""
    out = run_init(objects.sandbox_pod(a), key, tmp / f"sandbox-{a.base_name}")
    return {
        objects.SANDBOX_TOKEN: (out / "sandbox-token" / "token").read_text(),
        objects.EVALUATOR_TOKEN: (out / "evaluator-files" / "token").read_text(),
    }


@pytest.fixture
def run_key(tmp_path: Path) -> Path:
    """The run's key as its Secret volume holds it."""
    folder = tmp_path / "run-key"
    folder.mkdir()
    (folder / objects.credentials.RUN_KEY).write_text(secrets.token_urlsafe(32))
    return folder


@pytest.fixture
def victim(repo: Path, tmp_path: Path, run_key: Path) -> Iterator[Servers]:
    """The victim's servers, started with the tokens its sandbox pod derives."""
    tokens = sandbox_tokens(VICTIM, run_key, tmp_path)
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
            yield Servers(tokens, sandbox, evaluator, workspace)
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


def test_each_attempt_has_its_own_tokens_and_its_agent_holds_only_its_own(
    run_key: Path, tmp_path: Path
) -> None:
    mine, theirs = (sandbox_tokens(a, run_key, tmp_path) for a in (ATTACKER, VICTIM))
    for key in (objects.SANDBOX_TOKEN, objects.EVALUATOR_TOKEN):
        assert mine[key] != theirs[key] and len(mine[key]) >= 43  # HMAC-SHA256, 32 bytes
    assert mine[objects.SANDBOX_TOKEN] != mine[objects.EVALUATOR_TOKEN]
    held = agent_tokens(ATTACKER, run_key, tmp_path)
    assert set(held) == {"KUBEGYM_SANDBOX_TOKEN", "KUBEGYM_EVALUATOR_TOKEN"}
    assert set(held.values()) == {mine[objects.SANDBOX_TOKEN], mine[objects.EVALUATOR_TOKEN]}
    assert not set(held.values()) & set(theirs.values())
    # another run's key gives other tokens for the very same trial name
    other_key = tmp_path / "other-key"
    other_key.mkdir()
    (other_key / objects.credentials.RUN_KEY).write_text(secrets.token_urlsafe(32))
    elsewhere = sandbox_tokens(ATTACKER, other_key, tmp_path / "elsewhere")
    assert not set(elsewhere.values()) & set(mine.values())
    # the pods name nothing of the other attempt
    for pod in (objects.agent_pod(ATTACKER), objects.sandbox_pod(ATTACKER)):
        assert VICTIM.base_name not in json.dumps(pod)


def test_only_the_credentials_init_containers_mount_the_runs_key() -> None:
    key = objects.credentials.KEY_VOLUME
    for pod in (objects.agent_pod(ATTACKER), objects.sandbox_pod(ATTACKER)):
        spec = pod["spec"]
        mounting = [
            c["name"]
            for c in [*spec.get("initContainers", []), *spec["containers"]]
            if any(m["name"] == key for m in c.get("volumeMounts", []))
        ]
        assert mounting == ["credentials"], pod["metadata"]["name"]
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            for entry in c.get("env", []):
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef") or {}
                assert ref.get("name") != objects.credentials.run_key_secret_name("demo")
        (volume,) = [v for v in spec["volumes"] if v["name"] == key]
        assert volume["secret"]["secretName"] == "demo.attempt-key"


def test_an_agent_is_refused_at_another_trials_sandbox_and_evaluator(
    victim: Servers, run_key: Path, tmp_path: Path
) -> None:
    servers = victim
    held = agent_tokens(ATTACKER, run_key, tmp_path)
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
    victim_held = agent_tokens(VICTIM, run_key, tmp_path)
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
