"""A kubelet for kubegym's pods that runs their programs as processes on this machine.

KWOK binds pods and says they run; nothing runs. For the end-to-end tests this
plays the node's part for real: for an attempt whose pods KWOK made Running, it
reads the attempt's Secret (as a kubelet mounts it), fills the sandbox's
workspace and the evaluator's eval folder from the task's folder under
``examples/tasks`` (as the task image and the task's data image would), starts
the sandbox server and the evaluator server with the tokens from the Secret,
runs ``python -m kubegym.agent_runner`` with the agent container's environment
— secretKeyRefs resolved, the Service's address pointed at the local ports —
and reports the container's end with its termination message, like a kubelet.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubegym.sandbox.client import start_server

from .harness import Kubelet

SANDBOX_TOKEN, EVALUATOR_TOKEN, CONFIG = "sandbox-token", "evaluator-token", "trial.json"


class ProcessKubelet(Kubelet):
    """Runs attempts' programs locally; `Kubelet`'s status calls report how they ended."""

    def __init__(self, api_client: Any, namespace: str, repo: Path, workdir: Path) -> None:
        super().__init__(api_client, namespace)
        self.repo = repo
        self.workdir = workdir

    def run_attempt(self, agent_pod: dict[str, Any]) -> None:
        """Run the attempt of `agent_pod` to its end and report the agent container's end."""
        from tests.support import trial_pod

        found = agent_pod["metadata"]["labels"]
        base = f"{found['kubegym.io/trial']}-a{found['kubegym.io/attempt']}"
        files = self._secret(base)
        config = json.loads(files[CONFIG])
        task = config["task"]
        work = self.workdir / base
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / CONFIG).write_text(files[CONFIG])
        (work / "evaluator-token").write_text(files[EVALUATOR_TOKEN])
        folder = self.repo / "examples" / "tasks" / task["metadata"]["name"]
        workspace = self._workspace(folder, task["spec"], work / "workspace")
        eval_dir = self._eval_dir(folder, task["spec"], work / "eval")
        timeout = float(task["spec"].get("limits", {}).get("trainingTimeoutSeconds", 1800))
        # As in the task image: the first python on PATH has the task's packages (numpy).
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        sandbox = start_server(
            workspace=workspace,
            token=files[SANDBOX_TOKEN],
            timeout=timeout,
            env={**os.environ, "PATH": path},
        )
        evaluator = trial_pod.start_evaluator(
            work / CONFIG, eval_dir, workspace, work / "evaluator-token"
        )
        try:
            env = self._agent_env(agent_pod, work)
            env["KUBEGYM_SANDBOX_URL"] = sandbox.address
            env["KUBEGYM_EVALUATOR_URL"] = evaluator.url
            done = subprocess.run(
                [sys.executable, "-m", "kubegym.agent_runner"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
        finally:
            evaluator.stop()
            sandbox.stop()
        log = work / "termination-log"
        message = log.read_text() if log.is_file() else done.stderr[-4096:]
        self.terminate_agent(agent_pod, message, done.returncode)

    def _secret(self, name: str) -> dict[str, str]:
        secret = self.core.read_namespaced_secret(name, self.namespace)
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    def _agent_env(self, pod: dict[str, Any], work: Path) -> dict[str, str]:
        """The agent container's environment as a kubelet builds it, paths made local."""
        container = pod["spec"]["containers"][0]
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = item["value"]
                continue
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = self._secret(ref["name"])[ref["key"]]
        env["KUBEGYM_TRIAL_CONFIG"] = str(work / CONFIG)
        env["KUBEGYM_TERMINATION_LOG"] = str(work / "termination-log")
        env["KUBEGYM_OUTPUT"] = str(work / "output")
        env["KUBEGYM_CONNECT_TIMEOUT"] = "30"
        env["KUBEGYM_LOG_FORMAT"] = "json"
        return env

    @staticmethod
    def _workspace(folder: Path, spec: dict[str, Any], workspace: Path) -> Path:
        """The task image's starter code, and the data image's datasets at their mounts."""
        starter = spec.get("starterCode", {}).get("path")
        if starter:
            shutil.copytree(folder / starter, workspace)
        workspace.mkdir(parents=True, exist_ok=True)
        for dataset in spec.get("datasets", []):
            target = workspace / (dataset.get("mountPath") or f"data/{dataset['name']}")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / dataset["path"], target)
        return workspace

    @staticmethod
    def _eval_dir(folder: Path, spec: dict[str, Any], eval_dir: Path) -> Path:
        """The data image's evaluation part: the script and the hidden data at their paths."""
        evaluation = spec["evaluation"]
        eval_dir.mkdir(parents=True)
        shutil.copyfile(folder / evaluation["script"], eval_dir / evaluation["script"])
        for dataset in [*spec.get("validationData", []), *evaluation.get("testData", [])]:
            (eval_dir / dataset["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / dataset["path"], eval_dir / dataset["path"])
        return eval_dir
