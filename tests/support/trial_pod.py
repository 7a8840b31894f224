"""One trial attempt's pods, played by local processes: the sandbox server, the evaluator
server and the agent runner, wired as the operator wires them (`kubegym.operator.objects`).

The sandbox's workspace holds polyfit's starter code and agent data; the evaluator's eval
folder holds polyfit's evaluation script and hidden data at the task's paths, as the
task's data image would; ``trial.json`` is written by the operator's own `trial_config`.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubegym.api import documents, runs, tasks, trials
from kubegym.operator import objects
from kubegym.operator.settings import Settings

SANDBOX_TOKEN = "sandbox-token-8d1f"
EVALUATOR_TOKEN = "evaluator-token-52ac"
TRIAL = "pod-polyfit-a-s0-1a2b3c4d"
RUN = "pod"


def polyfit_task(repo: Path) -> tasks.Task:
    (task,) = documents.load_run_file(repo / "examples" / "tasks" / "polyfit" / "task.yaml").tasks
    return task


def make_workspace(repo: Path, folder: Path) -> Path:
    """The sandbox pod's workspace: the starter code, and the agent's datasets at their mounts."""
    root = repo / "examples" / "tasks" / "polyfit"
    shutil.copytree(root / "starter", folder)
    task = polyfit_task(repo)
    for dataset in task.spec.datasets:
        assert dataset.path is not None
        target = folder / (dataset.mount_path or f"data/{dataset.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / dataset.path, target)
    return folder


def make_eval_dir(repo: Path, folder: Path) -> Path:
    """The evaluator's eval folder: the evaluation script and the hidden data, at the task's paths."""
    root = repo / "examples" / "tasks" / "polyfit"
    task = polyfit_task(repo)
    folder.mkdir(parents=True)
    shutil.copyfile(root / task.spec.evaluation.script, folder / task.spec.evaluation.script)
    for dataset in [*task.spec.validation_data, *task.spec.evaluation.test_data]:
        assert dataset.path is not None
        (folder / dataset.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / dataset.path, folder / dataset.path)
    return folder


def write_trial_config(
    repo: Path,
    path: Path,
    agent: dict[str, Any],
    *,
    store: Path | None = None,
    validation: str = "heldout",
) -> dict[str, Any]:
    """``trial.json`` exactly as the operator writes it for attempt 0 of the trial."""
    task = polyfit_task(repo)
    run = runs.BenchmarkRunSpec.model_validate(
        {
            "tasks": {"names": ["polyfit"]},
            "agents": [agent],
            "seeds": 1,
            "validation": validation,
            **({"store": {"local": {"path": str(store)}}} if store is not None else {}),
        }
    )
    attempt = objects.Attempt(
        namespace="default",
        trial=TRIAL,
        trial_uid="uid",
        spec=trials.TrialSpec(run=RUN, task="polyfit", agent=agent["name"], seed=0),
        attempt=0,
        task=task,
        agent=run.agents[0],
        run=run,
        settings=Settings(),
    )
    config = objects.trial_config(attempt)
    path.write_text(json.dumps(config))
    return config


@dataclass
class Evaluator:
    """A running ``python -m kubegym.evaluator serve``."""

    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def start_evaluator(
    config: Path,
    eval_dir: Path,
    workspace: Path,
    token_file: Path,
    timeout: float = 30,
    python: Path | None = None,
    extra: tuple[str, ...] = (),
) -> Evaluator:
    """Start the evaluator server (``--python`` when given, then ``extra`` flags) and wait for
    its ready line."""
    argv = [
        sys.executable,
        "-m",
        "kubegym.evaluator",
        "serve",
        "--config",
        str(config),
        "--eval-dir",
        str(eval_dir),
        "--workspace",
        str(workspace),
        "--port",
        "0",
        "--token-file",
        str(token_file),
        *(["--python", str(python)] if python is not None else []),
        *extra,
    ]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.1)
        if ready:
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                break
            line += chunk
    if not line.endswith(b"\n"):
        with contextlib.suppress(Exception):
            process.kill()
        err = process.stderr.read().decode() if process.stderr else ""
        raise RuntimeError(f"the evaluator did not start: {err}")
    port = json.loads(line)["port"]
    return Evaluator(process, f"http://127.0.0.1:{port}")


def agent_env(
    sandbox_url: str, evaluator_url: str, config: Path, out: Path, **extra: str
) -> dict[str, str]:
    """The agent pod's environment, as `kubegym.operator.objects.agent_pod` sets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEGYM_")}
    env.update(
        KUBEGYM_SANDBOX_URL=sandbox_url,
        KUBEGYM_EVALUATOR_URL=evaluator_url,
        KUBEGYM_SANDBOX_TOKEN=SANDBOX_TOKEN,
        KUBEGYM_EVALUATOR_TOKEN=EVALUATOR_TOKEN,
        KUBEGYM_TRIAL_CONFIG=str(config),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        KUBEGYM_TERMINATION_LOG=str(out / "termination-log"),
        KUBEGYM_OUTPUT=str(out / "trial"),
        KUBEGYM_CONNECT_TIMEOUT="3",
        KUBEGYM_LOG_FORMAT="json",
    )
    env.update(extra)
    return env
