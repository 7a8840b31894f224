"""The dev-cluster kubelet's pure parts: the agent's environment, finding and laying out a task."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym.api import summary
from kubegym.cli import main
from kubegym.devcluster import kubelet
from kubegym.errors import ConfigError
from tests.support import trial_pod

SECRETS = {
    "pod-a0": {"sandbox-token": "s3cret", "evaluator-token": "e-tok"},
    "openai": {"api-key": "sk-test"},
}


def _lookup(name: str) -> dict[str, str]:
    if name not in SECRETS:
        raise ConfigError(f"secret {name} does not exist")
    return SECRETS[name]


def _ref(name: str, secret: str, key: str) -> dict[str, object]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def test_the_agent_env_resolves_secret_key_refs_and_makes_paths_local(tmp_path: Path) -> None:
    container = {
        "env": [
            {"name": "KUBEGYM_SANDBOX_URL", "value": "http://svc:8000"},
            _ref("KUBEGYM_SANDBOX_TOKEN", "pod-a0", "sandbox-token"),
            _ref("KUBEGYM_MODEL_API_KEY", "openai", "api-key"),
            {"name": "KUBEGYM_TRIAL_CONFIG", "value": "/var/run/kubegym/trial.json"},
        ]
    }
    env = kubelet.agent_env(container, _lookup, tmp_path)
    assert env["KUBEGYM_SANDBOX_URL"] == "http://svc:8000"
    assert env["KUBEGYM_SANDBOX_TOKEN"] == "s3cret"
    assert env["KUBEGYM_MODEL_API_KEY"] == "sk-test"
    assert env["KUBEGYM_TRIAL_CONFIG"] == str(tmp_path / "trial.json")
    assert env["KUBEGYM_TERMINATION_LOG"] == str(tmp_path / "termination-log")


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (_ref("KEY", "missing", "api-key"), "secret missing does not exist"),
        (_ref("KEY", "openai", "token"), "secret openai has no key 'token'"),
        ({"name": "KEY", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}, "only values"),
    ],
)
def test_an_env_entry_it_cannot_resolve_names_the_cause(
    tmp_path: Path, entry: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        kubelet.agent_env({"env": [entry]}, _lookup, tmp_path)


def test_a_task_is_found_by_name_and_keeps_the_clusters_spec(repo: Path) -> None:
    task = trial_pod.polyfit_task(repo)
    task.spec.image = "registry.invalid/task-polyfit:0.1"
    bundle = kubelet.find_task(task, [repo / "examples" / "tasks"])
    assert bundle.root == (repo / "examples" / "tasks" / "polyfit").resolve()
    assert bundle.task.spec.image == "registry.invalid/task-polyfit:0.1"


def test_an_unknown_task_names_the_task_and_the_folders(repo: Path, tmp_path: Path) -> None:
    task = trial_pod.polyfit_task(repo).model_copy(deep=True)
    task.metadata.name = "no-such-task"
    with pytest.raises(ConfigError, match=f"no-such-task: no task folder .* in {tmp_path}"):
        kubelet.find_task(task, [tmp_path])


def test_the_default_folders_include_the_examples_and_the_task_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEGYM_TASK_PATH", str(tmp_path))
    folders = kubelet.task_folders()
    assert folders[0] == tmp_path
    assert any(f.parts[-2:] == ("examples", "tasks") for f in folders)


def test_the_workspace_and_the_eval_folder_are_laid_out_as_the_images_would(
    repo: Path, tmp_path: Path
) -> None:
    bundle = kubelet.find_task(trial_pod.polyfit_task(repo), [repo / "examples" / "tasks"])
    kubelet.lay_out(bundle, tmp_path / "ws", tmp_path / "eval")
    assert (tmp_path / "ws" / "baseline.py").is_file()
    assert (tmp_path / "ws" / "data" / "train.csv").is_file()
    assert not (tmp_path / "ws" / "hidden").exists()
    assert (tmp_path / "eval" / "evaluate.py").is_file()
    assert (tmp_path / "eval" / "hidden" / "test.csv").is_file()
    assert (tmp_path / "eval" / "hidden" / "valid.csv").is_file()


def test_data_that_does_not_match_its_sha256_is_a_config_error(repo: Path, tmp_path: Path) -> None:
    folder = tmp_path / "tasks" / "polyfit"
    shutil.copytree(repo / "examples" / "tasks" / "polyfit", folder)
    (folder / "data" / "train.csv").write_text("x,y\n0,0\n")
    bundle = kubelet.find_task(trial_pod.polyfit_task(repo), [tmp_path / "tasks"])
    with pytest.raises(ConfigError, match="sha256"):
        kubelet.lay_out(bundle, tmp_path / "ws", tmp_path / "eval")


def test_an_attempt_that_cannot_run_ends_with_an_agent_error_summary() -> None:
    message = kubelet.error_message("task x: no task folder of that name")
    found = summary.TrialSummary.model_validate(json.loads(message))
    assert found.exit == "agent_error"
    assert found.message == "task x: no task folder of that name"


def test_the_command_refuses_without_a_dev_cluster(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["dev-cluster", "kubelet", "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no development cluster is up" in result.output


def test_derived_credentials_are_what_the_pods_init_container_would_write(tmp_path: Path) -> None:
    # The dev kubelet runs no init container: it derives what `credentials` would write
    # from the run's key Secret, and the agent runner reads its tokens from those files.
    import secrets as token_source

    from kubegym.agent_runner.pod import PodSettings
    from kubegym.operator import objects
    from kubegym.sandbox import tokens
    from tests.unit.operator.builders import attempt, run_spec

    a = attempt()
    key = token_source.token_urlsafe(32)
    secret_name = objects.credentials.run_key_secret_name(a.spec.run)
    lookup = {secret_name: {objects.credentials.RUN_KEY: key}}
    pod = objects.agent_pod(a)
    files = kubelet.attempts.derived_files(pod, lambda name: lookup[name])
    assert files is not None
    expected = tokens.derive(key.encode(), "sandbox", a.namespace, a.trial, a.attempt)
    assert files[kubelet.SANDBOX_TOKEN] == expected
    assert json.loads(files[kubelet.CONFIG])["trial"] == a.trial
    # the agent runner reads *_FILE when the variable itself is absent
    (tmp_path / "s").write_text(files[kubelet.SANDBOX_TOKEN] + "\n")
    (tmp_path / "e").write_text(files[kubelet.EVALUATOR_TOKEN])
    settings = PodSettings.from_environ(
        {
            "KUBEGYM_SANDBOX_URL": "http://sandbox:8080",
            "KUBEGYM_EVALUATOR_URL": "http://sandbox:8081",
            "KUBEGYM_SANDBOX_TOKEN_FILE": str(tmp_path / "s"),
            "KUBEGYM_EVALUATOR_TOKEN_FILE": str(tmp_path / "e"),
            "KUBEGYM_TRIAL_CONFIG": str(tmp_path / "trial.json"),
        }
    )
    assert settings.sandbox_token == expected
    assert settings.evaluator_token == files[kubelet.EVALUATOR_TOKEN]
    # a run whose key Secret is missing is a clear error naming it
    with pytest.raises(ConfigError, match="attempt-key"):
        kubelet.attempts.derived_files(pod, lambda name: _missing(name))
    # an attempt with a Secret of its own (an external image) has nothing to derive
    external = attempt(run=run_spec(agents=[{"name": "gpt", "image": "x/agent:1"}]))
    assert kubelet.attempts.derived_files(objects.agent_pod(external), lambda n: {}) is None


def test_an_unreadable_token_file_names_the_variable(tmp_path: Path) -> None:
    from kubegym.agent_runner.pod import PodSettings

    with pytest.raises(ConfigError, match="KUBEGYM_SANDBOX_TOKEN_FILE"):
        PodSettings.from_environ(
            {
                "KUBEGYM_SANDBOX_URL": "http://sandbox:8080",
                "KUBEGYM_EVALUATOR_URL": "http://sandbox:8081",
                "KUBEGYM_SANDBOX_TOKEN_FILE": str(tmp_path / "absent"),
                "KUBEGYM_EVALUATOR_TOKEN": "e",
                "KUBEGYM_TRIAL_CONFIG": str(tmp_path / "trial.json"),
            }
        )


def _missing(name: str) -> dict[str, str]:
    raise ConfigError(f"secret ns/{name} does not exist")
