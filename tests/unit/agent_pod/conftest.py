"""A trial attempt's three processes on loopback: the sandbox server, the evaluator server and
``python -m kubegym.agent_runner``, configured the way the operator configures the pods."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kubegym.api import summary
from kubegym.sandbox.client import ServerProcess, start_server
from tests.support import trial_pod


@dataclass
class Attempt:
    """One attempt's servers, its files, and a way to run its agent pod."""

    root: Path
    workspace: Path
    eval_dir: Path
    config: Path
    sandbox: ServerProcess
    evaluator: trial_pod.Evaluator
    store: Path
    env: dict[str, str] = field(default_factory=dict)

    def run_agent(self, timeout: float = 120, **extra: str) -> subprocess.CompletedProcess[str]:
        env = trial_pod.agent_env(
            self.sandbox.address, self.evaluator.url, self.config, self.root, **extra
        )
        return subprocess.run(
            [sys.executable, "-m", "kubegym.agent_runner"],
            env=env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @property
    def termination_log(self) -> Path:
        return self.root / "termination-log"

    def summary(self) -> summary.TrialSummary:
        return summary.TrialSummary.from_message(self.termination_log.read_text())


Launch = Callable[..., Attempt]


@pytest.fixture
def launch(repo: Path, tmp_path: Path) -> Iterator[Launch]:
    """Start an attempt's servers for an agent spec; everything is stopped after the test."""
    started: list[Attempt] = []

    def start(
        agent: dict[str, Any], validation: str = "heldout", store: Path | None = None
    ) -> Attempt:
        root = tmp_path / f"attempt{len(started)}"
        root.mkdir()
        workspace = trial_pod.make_workspace(repo, root / "workspace")
        eval_dir = trial_pod.make_eval_dir(repo, root / "eval")
        config = root / "trial.json"
        store = store or root / "store"
        trial_pod.write_trial_config(repo, config, agent, store=store, validation=validation)
        token_file = root / "evaluator-token"
        token_file.write_text(trial_pod.EVALUATOR_TOKEN)
        # As in the task image: the first python on PATH has the task's packages (numpy).
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        sandbox = start_server(
            workspace=workspace,
            token=trial_pod.SANDBOX_TOKEN,
            timeout=60,
            env={**os.environ, "PATH": path},
        )
        try:
            evaluator = trial_pod.start_evaluator(config, eval_dir, workspace, token_file)
        except Exception:
            sandbox.stop()
            raise
        attempt = Attempt(root, workspace, eval_dir, config, sandbox, evaluator, store)
        started.append(attempt)
        return attempt

    yield start
    for attempt in started:
        attempt.evaluator.stop()
        attempt.sandbox.stop()
