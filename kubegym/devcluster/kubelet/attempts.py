"""What an attempt's programs get from the dev-cluster kubelet: the task's folder found by
name, the workspace and the evaluator's eval folder laid out as the task's images would
have them, the agent container's environment, and the names of an attempt's files.

Called by `kubegym.devcluster.kubelet.runner.ProcessKubelet` for every attempt, and by the
tests (`lay_out`, `agent_env`, `find_task`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kubegym.api import summary as summary_mod
from kubegym.api import tasks
from kubegym.errors import ConfigError
from kubegym.tasks import catalog

SANDBOX_TOKEN, EVALUATOR_TOKEN, CONFIG = "sandbox-token", "evaluator-token", "trial.json"
EVALUATOR_RECORD = "evaluator-record"
"""The evaluator's record in an attempt's folder: its container's termination message."""

SecretLookup = Callable[[str], Mapping[str, str]]
"""A Secret's decoded data by name (in the pod's namespace)."""


def task_folders() -> list[Path]:
    """Where task folders are looked for: `kubegym.tasks.catalog.search_path`, plus examples/tasks.

    ``$KUBEGYM_TASK_PATH`` first, then a source checkout's ``examples/tasks/`` and
    ``task_images/``.
    """
    examples = Path(__file__).resolve().parents[3] / "examples"
    return catalog.search_path(examples if examples.is_dir() else None)


def find_task(task: tasks.Task, folders: Sequence[Path]) -> catalog.TaskBundle:
    """The Task of a trial with the folder its files come from (found by the Task's name).

    The Task is the one in the trial's config (the cluster's); only its folder comes
    from the search path.

    Raises:
        ConfigError: no task folder of that name is on the search path.
    """
    found = catalog.discover(folders)
    if task.name not in found:
        raise ConfigError(
            f"task {task.name}: no task folder of that name in "
            f"{', '.join(map(str, folders)) or 'no folder'}",
            hint="put the task's folder (with its task.yaml) on KUBEGYM_TASK_PATH",
        )
    return catalog.TaskBundle(task, found[task.name].root)


def lay_out(bundle: catalog.TaskBundle, workspace: Path, eval_dir: Path) -> None:
    """Fill the workspace and the eval folder as the task image and its data image would.

    The workspace gets the starter code and the agent's datasets at their mount
    paths; the eval folder the task's evaluation files (the script, the modules beside
    it and the starter code: `catalog.TaskBundle.evaluation_files`), the validation and
    the test data at their relative paths (their names for data from other sources),
    as the data image has them.

    Raises:
        ConfigError: data is missing, cannot be prepared or fetched, or its sha256 differs.
    """
    from kubegym.tasks import datasets

    spec = bundle.task.spec
    if spec.starter_code is not None:
        shutil.copytree(bundle.resolve(spec.starter_code.path), workspace, dirs_exist_ok=True)
    workspace.mkdir(parents=True, exist_ok=True)
    for dataset in spec.datasets:
        _copy(datasets.materialize(bundle, dataset), workspace / _mount(dataset))
    eval_dir.mkdir(parents=True, exist_ok=True)
    for part in bundle.evaluation_files():
        _copy(bundle.resolve(part), eval_dir / part)
    for dataset in [*spec.validation_data, *spec.evaluation.test_data]:
        relative = dataset.path if dataset.path and not Path(dataset.path).is_absolute() else None
        _copy(datasets.materialize(bundle, dataset), eval_dir / (relative or dataset.name))


def _mount(dataset: tasks.Dataset) -> str:
    return dataset.mount_path or f"data/{dataset.name}"


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True)
    else:
        shutil.copyfile(source, target)


#: What the sandbox server here takes from the sandbox container's env: the egress proxy's
#: variables (its trial's allowlist). HOME and the rest are this machine's.
SANDBOX_VARIABLES = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "NO_PROXY", "no_proxy"}
)


def sandbox_env(container: Mapping[str, Any], secret: SecretLookup) -> dict[str, str]:
    """The sandbox container's proxy variables (`SANDBOX_VARIABLES`), resolved as a kubelet
    resolves them (`resolve_env`); none when its trial has no egress hosts."""
    found = resolve_env(container, secret)
    return {k: v for k, v in found.items() if k in SANDBOX_VARIABLES}


def resolve_env(container: Mapping[str, Any], secret: SecretLookup) -> dict[str, str]:
    """A container's env entries: ``value``s as they are, ``secretKeyRef``s read from the Secret.

    Raises:
        ConfigError: an entry refers to a Secret or key that does not exist, or to
            something other than a Secret's key.
    """
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = (item.get("valueFrom") or {}).get("secretKeyRef")
        if ref is None:
            raise ConfigError(f"env {item['name']}: only values and secretKeyRefs are supported")
        data = secret(ref["name"])
        if ref["key"] not in data:
            raise ConfigError(f"env {item['name']}: secret {ref['name']} has no key {ref['key']!r}")
        env[item["name"]] = data[ref["key"]]
    return env


def agent_env(container: Mapping[str, Any], secret: SecretLookup, work: Path) -> dict[str, str]:
    """The agent container's environment as a kubelet builds it, with its paths made local.

    ``value`` entries are taken as they are and ``secretKeyRef`` entries read from
    the Secret; the trial config, termination log and output point into ``work``.

    Raises:
        ConfigError: an entry refers to a Secret or key that does not exist, or to
            something other than a Secret's key.
    """
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    env.update(resolve_env(container, secret))
    env["KUBEGYM_TRIAL_CONFIG"] = str(work / CONFIG)
    env["KUBEGYM_TERMINATION_LOG"] = str(work / "termination-log")
    env["KUBEGYM_OUTPUT"] = str(work / "output")
    env["KUBEGYM_CONNECT_TIMEOUT"] = "30"
    env["KUBEGYM_LOG_FORMAT"] = "json"
    return env


def derived_files(pod: Mapping[str, Any], secret: SecretLookup) -> dict[str, str] | None:
    """What a pod's ``credentials`` init container would write, as the attempt's Secret's keys
    (tokens and trial.json): derived from the run's key (`kubegym.sandbox.tokens`), the
    init container's arguments and its config variable. None for a pod without one (its
    attempt has a Secret of its own).

    Raises:
        ConfigError: the run's key Secret is missing, or the init container is malformed.
    """
    from kubegym.sandbox import tokens

    inits = {c["name"]: c for c in (pod.get("spec") or {}).get("initContainers") or []}
    init = inits.get("credentials")
    if init is None:
        return None
    args = list(init.get("command") or [])
    flags = dict(zip(args[3::2], args[4::2], strict=False))
    volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
    mounted = [m["name"] for m in init.get("volumeMounts") or [] if "secret" in volumes[m["name"]]]
    if not mounted:
        raise ConfigError("the credentials init container mounts no key Secret")
    source = volumes[mounted[0]]["secret"]
    key_name = source["items"][0]["key"]
    data = secret(source["secretName"])
    if key_name not in data:
        raise ConfigError(f"secret {source['secretName']} has no key {key_name!r}")
    key = data[key_name].strip().encode()
    namespace, trial, attempt = flags["--namespace"], flags["--trial"], int(flags["--attempt"])
    files = {
        SANDBOX_TOKEN: tokens.derive(key, "sandbox", namespace, trial, attempt),
        EVALUATOR_TOKEN: tokens.derive(key, "evaluator", namespace, trial, attempt),
    }
    for item in init.get("env") or []:
        if item["name"] == flags.get("--config-env"):
            files[CONFIG] = str(item["value"])
    return files


def error_message(cause: str) -> str:
    """The termination message of an attempt that could not run: an agent_error summary."""
    return summary_mod.TrialSummary(exit="agent_error", message=cause[-2000:]).to_message()
