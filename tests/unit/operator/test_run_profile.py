"""A run's suite profile on a cluster: the operator applies it as the local runner does.

The operator reads the profile from its task search path (in its image,
``/opt/kubegym/task_images/profiles`` on ``KUBEGYM_TASK_PATH``), defaults the run's
unset fields from it, gives each Trial its Task under the profile, and refuses a run
whose Tasks lack what the profile puts in their images (requirements, dataset
variants): images are not rebuilt at run time, so running them would be a run of
another setting under the profile's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym.api import tasks
from kubegym.operator import runs as run_logic
from kubegym.operator.runs import RunView
from kubegym.tasks import profiles
from tests.unit.operator.builders import NAMESPACE, NOW, task

PROFILE: dict[str, Any] = {
    "description": "A test setting.",
    "run": {"validation": "test", "bestSubmission": "last-score"},
    "tasks": {
        "toy": {
            "resources": {"gpu": {"count": 2}},
            "limits": {"trainingTimeoutSeconds": 2400},
            "environment": {"requirements": ["torch>=2.5"]},
        }
    },
}


@pytest.fixture
def shelf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profile ``demo`` on the operator's task search path."""
    path = tmp_path / "profiles" / "demo.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(PROFILE))
    monkeypatch.setenv("KUBEGYM_TASK_PATH", str(tmp_path))
    return tmp_path


def body(**spec: Any) -> dict[str, Any]:
    """A BenchmarkRun as the API server stores it: only the fields written (the CRD
    defaults none of those a profile sets)."""
    return {
        "metadata": {"name": "demo", "namespace": NAMESPACE, "uid": "u", "generation": 1},
        "spec": {
            "tasks": {"names": ["toy"]},
            "agents": [{"name": "gpt", "model": "openai/gpt-4o"}],
            **spec,
        },
    }


def rendered(shelf: Path) -> tasks.Task:
    """The toy Task as applied for the profile: what its images were built from."""
    profile = profiles.load(shelf / "profiles" / "demo.yaml")
    return profiles.apply_task(profile, task(), validation="test")


def test_the_run_takes_the_profiles_defaults_where_it_left_a_field_unset(shelf: Path) -> None:
    run = RunView.from_body(body(profile="demo"))
    assert (run.spec.validation, run.spec.best_submission) == ("test", "last-score")
    assert run.profile_label == "demo"
    own = RunView.from_body(body(profile="demo", bestSubmission="final-submit"))
    assert own.spec.best_submission == "final-submit"
    assert own.profile_label == "demo (bestSubmission=final-submit)"


def test_a_trial_gets_its_task_under_the_profile(shelf: Path) -> None:
    run = RunView.from_body(body(profile="demo"))
    mine = run.task(rendered(shelf))
    assert mine.spec.resources.gpu.count == 2
    assert mine.spec.limits.training_timeout_seconds == 2400
    # The same Task from a run without a profile is the namespace's, unchanged.
    assert RunView.from_body(body()).task(task()) == task()


def test_a_task_not_built_for_the_profile_fails_the_run_naming_it(shelf: Path) -> None:
    # The Task in the namespace (and so its image) has no torch: running it would be a run
    # of kubegym's setting labelled with the profile.
    decision = run_logic.decide(RunView.from_body(body(profile="demo")), [task()], [], NOW)
    assert decision.status is not None and decision.status.phase == "Failed"
    assert not decision.create
    failed = next(c for c in decision.status.conditions if c.type == "Failed")
    assert failed.reason == "InvalidTask"
    assert "Task/toy: spec.environment.requirements: not built for profile demo" in failed.message


def test_a_task_rendered_for_the_profile_runs(shelf: Path) -> None:
    decision = run_logic.decide(RunView.from_body(body(profile="demo")), [rendered(shelf)], [], NOW)
    assert len(decision.create) == 1
    assert decision.status is not None and decision.status.phase != "Failed"


def test_an_unknown_profile_or_an_uncovered_task_fails_the_run(shelf: Path) -> None:
    unknown = run_logic.decide(RunView.from_body(body(profile="nope")), [task()], [], NOW)
    assert unknown.status is not None and unknown.status.phase == "Failed"
    message = next(c for c in unknown.status.conditions if c.type == "Failed").message
    assert "spec.profile" in message and "unknown profile 'nope'" in message
    other = task("other")
    uncovered = run_logic.decide(
        RunView.from_body(body(profile="demo", tasks={"names": ["other"]})), [other], [], NOW
    )
    assert uncovered.status is not None and uncovered.status.phase == "Failed"
    message = next(c for c in uncovered.status.conditions if c.type == "Failed").message
    assert "does not cover task other" in message


def test_the_crd_leaves_the_fields_a_profile_defaults_unset(repo: Path) -> None:
    # Were the API server to default them, every run would seem to set them itself and
    # a profile's defaults would never apply on a cluster.
    crd = yaml.safe_load((repo / "crds" / "kubegym.io_benchmarkruns.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for field in ("validation", "bestSubmission", "sandboxEgress"):
        assert "default" not in schema["properties"][field], field


def test_dataset_variants_need_a_data_image_of_their_own(shelf: Path) -> None:
    # The toy Task rendered for a profile with a variant, but still on the data image derived
    # from its image's name: that image holds kubegym's own data, so the run is refused.
    varied = {**PROFILE, "tasks": {"toy": {"datasets": {"train": {"path": "data/full/t.csv"}}}}}
    (shelf / "profiles" / "varied.yaml").write_text(yaml.safe_dump(varied))
    toy = task(datasets=[{"name": "train", "path": "data/t.csv"}])
    profile = profiles.load(shelf / "profiles" / "varied.yaml")
    applied = profiles.apply_task(profile, toy, validation="test")
    run = RunView.from_body(body(profile="varied"))
    refused = run_logic.decide(run, [applied], [], NOW)
    assert refused.status is not None and refused.status.phase == "Failed"
    message = next(c for c in refused.status.conditions if c.type == "Failed").message
    assert "Task/toy: spec.dataImage: not built for profile varied" in message
    own = applied.model_copy(
        update={"spec": applied.spec.model_copy(update={"data_image": "r.example/toy-full:1"})}
    )
    assert len(run_logic.decide(run, [own], [], NOW).create) == 1
