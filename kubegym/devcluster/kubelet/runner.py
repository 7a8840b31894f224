"""`ProcessKubelet`: plays the node's part for kubegym's attempts on the dev cluster, running
the sandbox pod's and the agent pod's programs as local processes.

It watches kubegym's agent pods that KWOK made Running, lays out each attempt's files
(`attempts`), starts the sandbox server, the jail server and the evaluator server and then
the agent runner, and reports the containers' ends in the pods' statuses (`podstatus`).
``kubegym dev-cluster kubelet`` (`kubegym.cli.dev_cluster`) and the cluster tests run it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import structlog

from kubegym.api import summary as summary_mod
from kubegym.api import tasks
from kubegym.devcluster.kubelet import attempts, podstatus
from kubegym.errors import ConfigError, KubegymError
from kubegym.evaluator import jails
from kubegym.operator import labels

log = structlog.get_logger()

SELECTOR = f"{labels.MANAGED_BY}=kubegym,{labels.ROLE}=agent"
"""The pods the kubelet looks at: kubegym's agent pods."""


class ProcessKubelet:
    """Runs attempts' programs locally and reports the agent container's end in the pod status.

    Args:
        api_client: a ``kubernetes.client.ApiClient`` (the dev cluster's admin).
        workdir: each attempt's files go to ``workdir/<trial>-a<n>/`` (kept afterwards:
            the workspace, trial.json, and the programs' standard error).
        namespace: the namespace to watch; None watches all.
        folders: where task folders are found (`task_folders` by default).
    """

    def __init__(
        self,
        api_client: Any,
        workdir: Path,
        namespace: str | None = None,
        folders: Sequence[Path] | None = None,
    ) -> None:
        from kubernetes import client

        self.core = client.CoreV1Api(api_client)
        self.workdir = workdir
        self.namespace = namespace
        self.folders = list(folders) if folders is not None else attempts.task_folders()
        self.stopping = threading.Event()
        self._started: set[tuple[str, str, str]] = set()
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()

    # -- the loop ------------------------------------------------------------------------------

    def running_agents(self) -> list[dict[str, Any]]:
        """kubegym's agent pods that run (KWOK made them Running) and have not ended yet."""
        kwargs: dict[str, Any] = {"label_selector": SELECTOR, "_preload_content": False}
        answer: Any
        if self.namespace is None:
            answer = self.core.list_pod_for_all_namespaces(**kwargs)
        else:
            answer = self.core.list_namespaced_pod(self.namespace, **kwargs)
        items: list[dict[str, Any]] = json.loads(answer.data)["items"]
        return [
            p
            for p in items
            if p["status"].get("phase") == "Running"
            and p["metadata"].get("deletionTimestamp") is None
        ]

    def new_attempts(self) -> list[dict[str, Any]]:
        """Running agent pods whose attempt this kubelet has not started; marks them started."""
        fresh = []
        for pod in self.running_agents():
            key = _key(pod)
            if key not in self._started:
                self._started.add(key)
                fresh.append(pod)
        return fresh

    def run(self, parallel: int = 1, once: bool = False, interval: float = 1.0) -> None:
        """Run attempts as their pods become Running, up to ``parallel`` at a time.

        Returns when `stop` is called or, with ``once``, when the attempts running
        now have ended. Ctrl-C (KeyboardInterrupt) stops it cleanly: the attempts'
        processes are ended and their pods left Running.
        """
        with futures.ThreadPoolExecutor(parallel, thread_name_prefix="attempt") as pool:
            try:
                self._loop(pool, once, interval)
            except KeyboardInterrupt:
                log.info("kubelet_stopping")
                self.stop()

    def _loop(self, pool: futures.ThreadPoolExecutor, once: bool, interval: float) -> None:
        pending: set[futures.Future[None]] = set()
        while not self.stopping.is_set():
            try:
                pods = self.new_attempts()
            except Exception as exc:  # an API server blip: try again
                log.warning("kubelet_list_failed", error=str(exc))
                pods = []
            pending |= {pool.submit(self.run_attempt, pod) for pod in pods}
            pending = {f for f in pending if not f.done()}
            if once:
                futures.wait(pending)
                return
            self.stopping.wait(interval)

    def stop(self) -> None:
        """Stop starting attempts and end the running ones' processes (their pods stay Running)."""
        self.stopping.set()
        with self._lock:
            children = list(self._children)
        for child in children:
            if child.poll() is None:
                child.terminate()

    # -- one attempt ---------------------------------------------------------------------------

    def run_attempt(self, agent_pod: dict[str, Any]) -> None:
        """Run the attempt of ``agent_pod`` to its end and report the agent container's end.

        A task that cannot be found or prepared ends the agent container with an
        agent_error summary naming the cause; nothing raises out of here.
        """
        namespace, trial, attempt = _key(agent_pod)
        base = f"{trial}-a{attempt}"
        found = agent_pod["metadata"]["labels"]
        bound = log.bind(
            namespace=namespace,
            trial=trial,
            attempt=int(attempt),
            task=found.get(labels.TASK),
            agent=found.get(labels.AGENT),
        )
        work = self.workdir / base
        started = time.monotonic()
        try:
            shutil.rmtree(work, ignore_errors=True)
            # The eval folder, the token and the record inside: the kubelet's uid only.
            work.mkdir(parents=True, mode=0o700)
            bound.info("kubelet_attempt_started", work=str(work))
            message, code = self._run(agent_pod, namespace, base, work)
        except KubegymError as exc:
            message, code = attempts.error_message(str(exc)), 1
        except Exception as exc:
            bound.exception("kubelet_attempt_crashed")
            message, code = attempts.error_message(f"the dev-cluster kubelet failed: {exc!r}"), 1
        if self.stopping.is_set():
            bound.info("kubelet_attempt_interrupted")
            return
        try:
            # The evaluator ended with the agent (SIGTERM writes its record's end): its
            # record first, since the operator waits for it once the agent has finished.
            self.terminate_evaluator(namespace, f"{base}-sandbox", work / attempts.EVALUATOR_RECORD)
            self.terminate_agent(agent_pod, message, code)
        except Exception as exc:
            bound.warning("kubelet_status_failed", error=str(exc))
            return
        outcome = _outcome(message)
        bound.info(
            "kubelet_attempt_finished",
            exit_code=code,
            seconds=round(time.monotonic() - started, 1),
            **outcome,
        )

    def _run(
        self, agent_pod: dict[str, Any], namespace: str, base: str, work: Path
    ) -> tuple[str, int]:
        from kubegym.sandbox import client as sandbox_client
        from kubegym.tasks import venvs

        container = agent_pod["spec"]["containers"][0]
        if container.get("command") != ["python", "-m", "kubegym.agent_runner"]:
            raise ConfigError(
                f"the agent runs its own image {container.get('image')}: "
                "the dev-cluster kubelet runs only kubegym's agent runner"
            )
        lookup = self._secret_lookup(namespace)
        files = attempts.derived_files(agent_pod, lookup) or lookup(base)
        config = json.loads(files[attempts.CONFIG])
        task = tasks.Task.model_validate(config["task"])
        (work / attempts.CONFIG).write_text(files[attempts.CONFIG])
        (work / attempts.EVALUATOR_TOKEN).write_text(files[attempts.EVALUATOR_TOKEN])
        bundle = attempts.find_task(task, self.folders)
        workspace, eval_dir = work / "workspace", work / "eval"
        attempts.lay_out(bundle, workspace, eval_dir)
        venv = venvs.ensure(task.spec.environment.requirements)
        env = attempts.agent_env(container, lookup, work)
        for variable, key in (
            ("KUBEGYM_SANDBOX_TOKEN_FILE", attempts.SANDBOX_TOKEN),
            ("KUBEGYM_EVALUATOR_TOKEN_FILE", attempts.EVALUATOR_TOKEN),
        ):
            if variable in env:  # derived tokens: files, as the init container leaves them
                (work / f"agent-{key}").write_text(files[key])
                env[variable] = str(work / f"agent-{key}")
        # As in the task image: the first python on PATH is the task's.
        path = f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        proxy = self._sandbox_proxy_env(namespace, f"{base}-sandbox")
        sandbox = sandbox_client.start_server(
            workspace=workspace,
            token=files[attempts.SANDBOX_TOKEN],
            timeout=float(task.spec.limits.training_timeout_seconds),
            env={**os.environ, "PATH": path, **proxy},
        )
        evaluator: subprocess.Popen[bytes] | None = None
        jail_server: subprocess.Popen[bytes] | None = None
        jail_root = Path(tempfile.mkdtemp(prefix="kubegym-jail-"))  # short: a socket's path
        try:
            jail_server, remote = self._start_jail_server(work, jail_root, venvs.python(venv))
            evaluator, evaluator_url = self._start_evaluator(
                work, workspace, eval_dir, venvs.python(venv), remote
            )
            env["KUBEGYM_SANDBOX_URL"] = sandbox.address
            env["KUBEGYM_EVALUATOR_URL"] = evaluator_url
            with (work / "agent.stderr").open("wb") as err:
                agent = self._child(
                    [sys.executable, "-m", "kubegym.agent_runner"], env=env, stdout=err, stderr=err
                )
                code = agent.wait()
                self._end(agent)
        finally:
            (work / "sandbox.stderr").write_text(sandbox.log())
            sandbox.stop()
            if evaluator is not None:
                self._end(evaluator)
            if jail_server is not None:
                self._end(jail_server)
            shutil.rmtree(jail_root, ignore_errors=True)
        termination = work / "termination-log"
        if termination.is_file() and termination.read_text().strip():
            return termination.read_text(), code
        tail = (work / "agent.stderr").read_text(errors="replace")[-4096:]
        return tail or attempts.error_message(f"the agent runner exited with status {code}"), code

    def _start_jail_server(
        self, work: Path, root: Path, python: Path
    ) -> tuple[subprocess.Popen[bytes], jails.Remote]:
        """The jail container's ``jail-serve`` over the task's python; it and its `jails.Remote`.

        ``root`` holds the shared folder (written by the evaluator, read by the server) and
        the socket's folder; it lies outside ``work``, which the jail never enters.
        """
        from kubegym.sandbox.client import _read_ready_line

        root.chmod(0o755)
        remote = jails.Remote(root / "socket" / "jails.sock", root / "share")
        for folder in (remote.share, remote.socket.parent):
            folder.mkdir(mode=0o755)
        argv = [
            sys.executable,
            *("-m", "kubegym.evaluator", "jail-serve"),
            *("--socket", str(remote.socket), "--share", str(remote.share)),
            *("--python", str(python), "--mode", "auto"),
        ]
        err_path = work / "jail.stderr"
        with err_path.open("wb") as err:
            process = self._child(argv, stdout=subprocess.PIPE, stderr=err, cwd=str(root))
        try:
            _read_ready_line(process, 60)
        except KubegymError:
            self._end(process)
            raise ConfigError(
                "the jail server did not start: " + err_path.read_text(errors="replace")[-2000:]
            ) from None
        return process, remote

    def _start_evaluator(
        self, work: Path, workspace: Path, eval_dir: Path, python: Path, remote: jails.Remote
    ) -> tuple[subprocess.Popen[bytes], str]:
        """``python -m kubegym.evaluator serve`` scoring with the task's python, its agent code
        in the jail server's jails; it and its URL."""
        from kubegym.sandbox.client import _read_ready_line

        argv = [
            sys.executable,
            "-m",
            "kubegym.evaluator",
            "serve",
            *("--config", str(work / attempts.CONFIG), "--eval-dir", str(eval_dir)),
            *("--workspace", str(workspace), "--port", "0"),
            *("--token-file", str(work / attempts.EVALUATOR_TOKEN), "--python", str(python)),
            *("--record", str(work / attempts.EVALUATOR_RECORD)),
            *("--jail-socket", str(remote.socket), "--jail-share", str(remote.share)),
        ]
        err_path = work / "evaluator.stderr"
        with err_path.open("wb") as err:
            process = self._child(argv, stdout=subprocess.PIPE, stderr=err)
        try:
            ready = _read_ready_line(process, 60)
        except KubegymError:
            self._end(process)
            raise ConfigError(
                "the evaluator did not start: " + err_path.read_text(errors="replace")[-2000:]
            ) from None
        return process, f"http://127.0.0.1:{ready['port']}"

    def _child(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a child process that `stop` ends."""
        with self._lock:
            if self.stopping.is_set():
                raise ConfigError("the kubelet is stopping")
            child: subprocess.Popen[bytes] = subprocess.Popen(argv, **kwargs)
            self._children.add(child)
        return child

    def _end(self, child: subprocess.Popen[bytes]) -> None:
        """SIGTERM ``child`` if it still runs, SIGKILL after 5 s; forget it."""
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if child.stdout is not None:
            child.stdout.close()
        with self._lock:
            self._children.discard(child)

    def _sandbox_proxy_env(self, namespace: str, pod: str) -> dict[str, str]:
        """The sandbox container's egress proxy variables, from its pod and Secret."""
        found = self.core.read_namespaced_pod(pod, namespace)
        body = self.core.api_client.sanitize_for_serialization(found)
        (container,) = [c for c in body["spec"]["containers"] if c["name"] == "sandbox"]
        return attempts.sandbox_env(container, self._secret_lookup(namespace))

    def _secret_lookup(self, namespace: str) -> attempts.SecretLookup:
        return lambda name: self._secret(namespace, name)

    def _secret(self, namespace: str, name: str) -> dict[str, str]:
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self.core.read_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise ConfigError(f"secret {namespace}/{name} does not exist") from None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}

    # -- the pod's status ----------------------------------------------------------------------

    def terminate_evaluator(self, namespace: str, name: str, record: Path) -> None:
        """The sandbox pod's evaluator container ends with its record as the termination
        message (an empty message when it never wrote one); nothing when the pod is gone."""
        from kubernetes.client.exceptions import ApiException

        try:
            pod = self.core.api_client.sanitize_for_serialization(
                self.core.read_namespaced_pod(name, namespace)
            )
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        text = record.read_text(encoding="utf-8") if record.is_file() else ""
        statuses = [
            s
            for s in (pod.get("status") or {}).get("containerStatuses") or []
            if s.get("name") != "evaluator"
        ]
        statuses.append(podstatus.terminated_status(pod, "evaluator", 0, "Completed", text))
        podstatus.replace_pod_status(self.core, pod, {"containerStatuses": statuses})

    def terminate_agent(self, pod: dict[str, Any], message: str, exit_code: int = 0) -> None:
        """The agent container ends with ``message`` as its termination message."""
        container = pod["spec"]["containers"][0]["name"]
        reason = "Completed" if exit_code == 0 else "Error"
        status = {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [
                podstatus.terminated_status(pod, container, exit_code, reason, message)
            ],
        }
        podstatus.replace_pod_status(self.core, pod, status)


def _key(pod: Mapping[str, Any]) -> tuple[str, str, str]:
    found = pod["metadata"]["labels"]
    return pod["metadata"]["namespace"], found[labels.TRIAL], found[labels.ATTEMPT]


def _outcome(message: str) -> dict[str, Any]:
    """The exit reason and final metrics of a termination message, for the log line."""
    try:
        found = summary_mod.TrialSummary.model_validate_json(message)
    except ValueError:
        return {"exit": "unknown"}
    return {"exit": found.exit, "final": found.final, "cause": found.message}
