"""Suite profiles: reading them, applying them to a run's tasks and defaults, and their errors.

A profile sets another benchmark's resources, limits, software, data and egress for
the tasks it covers, and the run's defaults where the run file left a field unset
(`kubegym.tasks.profiles`). Most tests use a profile of their own over the polyfit
example (copied, with a `full` variant of its training data); the first checks the
content of the real `mlgym-bench` profile against MLGym's own configuration. The
attacks: a profile cannot show the sandbox hidden data, and a run cannot carry a
profile's name while running something else.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegym import rollups
from kubegym.api import documents, tasks
from kubegym.errors import ConfigError
from kubegym.local.runner import LocalRun
from kubegym.tasks import catalog, datasets, profiles

TASK = "polyfit"
FULL_ROWS = 450  # the variant's rows besides the header: polyfit's 300 and 150 more

PROFILE: dict[str, Any] = {
    "description": "A test setting.",
    "run": {
        "validation": "test",
        "bestSubmission": "last-score",
        "sandboxEgress": {"hosts": ["pypi.org"]},
    },
    "tasks": {
        TASK: {
            "resources": {"gpu": {"count": 2}, "memory": "2Gi"},
            "limits": {"trainingTimeoutSeconds": 300},
            "environment": {"requirements": ["scipy>=1.10"]},
            "egress": {"hosts": ["huggingface.co"]},
            "datasets": {"train": {"path": "data/full/train.csv"}},
            "note": "`data/train.csv` holds 450 points.",
        }
    },
}


def write_profile(folder: Path, content: dict[str, Any], name: str = "demo") -> Path:
    path = folder / profiles.PROFILES_DIR / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(content))
    return path


def with_task(change: dict[str, Any]) -> dict[str, Any]:
    """PROFILE with the polyfit setting's keys replaced by ``change``'s (None removes one)."""
    setting = {**PROFILE["tasks"][TASK], **change}
    return {**PROFILE, "tasks": {TASK: {k: v for k, v in setting.items() if v is not None}}}


@pytest.fixture
def shelf(tmp_path: Path, repo: Path) -> Path:
    """A task folder: polyfit with a `full` variant of its training data, and profile demo."""
    folder = tmp_path / "shelf"
    shutil.copytree(repo / "examples" / "tasks" / TASK, folder / TASK)
    train = (folder / TASK / "data" / "train.csv").read_text().splitlines()
    full = folder / TASK / "data" / "full" / "train.csv"
    full.parent.mkdir()
    full.write_text("\n".join([*train, *train[1:151]]) + "\n")
    write_profile(folder, PROFILE)
    return folder


def polyfit(shelf: Path) -> tasks.Task:
    return catalog.discover([shelf])[TASK].task


def load(shelf: Path, name: str = "demo") -> profiles.Profile:
    return profiles.load(profiles.find(name, [shelf]))


def run_file(spec: dict[str, Any], *extra: dict[str, Any]) -> documents.RunFile:
    run = {
        "apiVersion": "kubegym.io/v1alpha1",
        "kind": "BenchmarkRun",
        "metadata": {"name": "profiled"},
        "spec": {"tasks": {"names": [TASK]}, "agents": [{"name": "b", "builtin": "baseline"}]}
        | spec,
    }
    return documents.parse_run_file(yaml.safe_dump_all([*extra, run]))


def chosen(shelf: Path, spec: dict[str, Any], *extra: dict[str, Any]) -> catalog.RunTasks:
    parsed = run_file(spec, *extra)
    return catalog.select_for_run(parsed.run, parsed, shelf.parent, [shelf])


# -- the mlgym-bench profile --------------------------------------------------------------

#: MLGym's settings, read from its repository (facebookresearch/MLGym): GPUs per agent from
#: scripts/experiments/mlgym_bench_v0/<task>.sh, training_timeout from configs/tasks/*.yaml.
MLGYM = {
    "house-price": (1, 1800),  # regressionKaggleHousePrice
    "3-sat": (0, 1800),  # 3SATTime
    "cifar10": (1, 1800),  # imageClassificationCifar10
    "fashion-mnist": (1, 1800),  # imageClassificationFMnist
    "mscoco-captioning": (1, 2400),  # imageCaptioningCOCO
    "mnli": (2, 2400),  # naturalLanguageInferenceMNLI
    "fineweb-lm": (2, 2400),  # languageModelingFineWeb
    "prisoners-dilemma": (0, 1800),
    "battle-of-sexes": (0, 1800),
    "colonel-blotto": (0, 1800),
    "metamaze": (2, 1800),  # rlMetaMaze
    "mountain-car-continuous": (2, 1800),  # rlMountainCarContinuous
    "breakout-minatar": (2, 1800),  # rlBreakoutMinAtar
}


def test_the_mlgym_bench_profile_sets_mlgyms_resources_data_and_defaults(repo: Path) -> None:
    folders = [repo / "task_images"]
    profile = profiles.load(profiles.find("mlgym-bench", folders))
    suite = yaml.safe_load((repo / "task_images" / "suites" / "mlgym-bench.yaml").read_text())
    assert set(profile.content.tasks) == set(suite["tasks"]) == set(MLGYM)
    run = profile.content.run
    assert (run.validation, run.best_submission) == ("test", "last-score")
    assert run.sandbox_egress is not None and run.sandbox_egress.hosts == [
        "pypi.org",
        "files.pythonhosted.org",
        "huggingface.co",
        "*.huggingface.co",
        "*.hf.co",
    ]
    known = catalog.discover(folders)
    applied = {
        name: profiles.apply_task(profile, known[name].task, validation="test") for name in MLGYM
    }
    for name, (gpus, timeout) in MLGYM.items():
        spec = applied[name].spec
        assert (spec.resources.gpu.count, spec.limits.training_timeout_seconds) == (gpus, timeout)
        if gpus:  # a GPU task lands on MLGym's kind of GPU
            assert spec.resources.gpu.product == "NVIDIA-A100-SXM4-80GB", name
        # MLGym's image had torch for every task but the RL ones (JAX there).
        has_torch = any(r.startswith("torch") for r in spec.environment.requirements)
        assert has_torch == (
            name
            in {
                "house-price",
                "cifar10",
                "fashion-mnist",
                "mscoco-captioning",
                "mnli",
                "fineweb-lm",
            }
        ), name
    # The full training sets, MLGym's: the variants each task's preparation writes.
    variants = {
        name: {d.name: d.path for d in applied[name].spec.datasets if "full" in (d.path or "")}
        for name in ("cifar10", "fashion-mnist", "mnli")
    }
    assert variants == {
        "cifar10": {
            "train-images": "data/full/train_images.npy",
            "train-labels": "data/full/train_labels.npy",
        },
        "fashion-mnist": {
            "train-images": "data/full/train_images.npy",
            "train-labels": "data/full/train_labels.npy",
        },
        "mnli": {"train": "data/full/train.jsonl"},
    }
    for name in ("cifar10", "fashion-mnist", "mnli"):
        prepare = (known[name].root / "prepare.py").read_text()
        assert '"full"' in prepare, f"{name}'s prepare.py writes no full variant"


# -- applying -----------------------------------------------------------------------------


def test_a_task_gets_what_the_profile_names_and_keeps_the_rest(shelf: Path) -> None:
    task = polyfit(shelf)
    applied = profiles.apply_task(load(shelf), task, validation="test")
    spec, before = applied.spec, task.spec
    assert spec.resources.gpu.count == 2 and spec.resources.memory == "2Gi"
    assert spec.resources.cpu == before.resources.cpu  # merged, not replaced
    assert spec.limits.training_timeout_seconds == 300
    assert spec.limits.wall_time_seconds == before.limits.wall_time_seconds
    assert spec.environment.requirements == ["numpy>=1.24", "scipy>=1.10"]
    assert spec.egress.hosts == ["huggingface.co"]
    train = next(d for d in spec.datasets if d.name == "train")
    # The variant's path; the dataset's own pin would refuse the variant, so it goes.
    assert (train.path, train.sha256, train.mount_path) == (
        "data/full/train.csv",
        None,
        "data/train.csv",
    )
    assert spec.description.rstrip().endswith("`data/train.csv` holds 450 points.")
    # Nothing else moves: the hidden data, the evaluation, the network.
    assert spec.validation_data == before.validation_data
    assert spec.evaluation == before.evaluation
    assert spec.network == before.network
    # Applying twice is applying once (how the operator checks a rendered Task).
    assert profiles.apply_task(load(shelf), applied, validation="test") == applied


def test_the_runs_unset_fields_take_the_profiles_defaults(shelf: Path) -> None:
    selected = chosen(shelf, {"profile": "demo"})
    spec = selected.run.spec
    assert (spec.validation, spec.best_submission) == ("test", "last-score")
    assert spec.sandbox_egress.hosts == ["pypi.org"]
    assert selected.profile == "demo"
    (bundle,) = selected.bundles
    assert bundle.task.spec.resources.gpu.count == 2
    # The variant is what the sandbox's data/train.csv will be.
    train = next(d for d in bundle.task.spec.datasets if d.name == "train")
    assert len(datasets.materialize(bundle, train).read_text().splitlines()) == FULL_ROWS + 1
    # Without a profile nothing changes.
    plain = chosen(shelf, {})
    assert plain.profile is None and plain.run.spec.validation == "heldout"
    assert plain.bundles[0].task == polyfit(shelf)


def test_the_run_files_own_fields_win_and_the_scope_says_so(shelf: Path) -> None:
    same = chosen(shelf, {"profile": "demo", "validation": "test"})
    assert same.profile == "demo"  # written, but the profile's own value
    own = chosen(
        shelf,
        {
            "profile": "demo",
            "bestSubmission": "final-submit",
            "sandboxEgress": {"hosts": ["example.org"]},
        },
    )
    assert own.run.spec.best_submission == "final-submit"
    assert own.run.spec.sandbox_egress.hosts == ["example.org"]
    assert own.profile == "demo (bestSubmission=final-submit; sandboxEgress=['example.org'])"


def test_variants_need_validation_on_test_data(shelf: Path) -> None:
    # A full training set holds the held-out validation data: validate must not score it.
    with pytest.raises(ConfigError, match="validate on test data") as caught:
        chosen(shelf, {"profile": "demo", "validation": "heldout"})
    assert caught.value.field == "spec.validation"
    # A profile without variants lets the run keep held-out validation, and says so.
    write_profile(shelf, with_task({"datasets": None}), "plain")
    kept = chosen(shelf, {"profile": "plain", "validation": "heldout"})
    assert kept.run.spec.validation == "heldout"
    assert kept.profile == "plain (validation=heldout)"


# -- errors -------------------------------------------------------------------------------


def test_an_unknown_profile_names_the_field_and_the_known_ones(shelf: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        chosen(shelf, {"profile": "mlgym"})
    assert caught.value.field == "spec.profile"
    assert "unknown profile 'mlgym'" in str(caught.value) and "known profiles: demo" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"resourcez": {"cpu": 2}}, "tasks.polyfit.resourcez", "unknown field"),
        (
            {"resources": {"gpus": {"count": 1}}},
            "tasks.polyfit.resources.gpus",
            "did you mean 'gpu'",
        ),
        ({"resources": {"gpu": {"count": 99}}}, "tasks.polyfit.resources.gpu.count", "16"),
        ({"resources": {"memory": "0Gi"}}, "tasks.polyfit.resources.memory", "positive"),
        (
            {"limits": {"trainingTimeoutSeconds": 0}},
            "tasks.polyfit.limits.trainingTimeoutSeconds",
            "1",
        ),
        ({"egress": {"hosts": ["10.0.0.1"]}}, "tasks.polyfit.egress.hosts.0", "pattern"),
        (
            {"environment": {"requirements": ["--index-url=https://pypi.example/simple"]}},
            "tasks.polyfit.environment.requirements.0",
            "pattern",
        ),
        (
            {"datasets": {"trian": {"path": "data/x.csv"}}},
            "tasks.polyfit.datasets.trian",
            "no agent dataset",
        ),
    ],
)
def test_a_bad_setting_names_the_profile_file_and_the_field(
    shelf: Path, change: dict[str, Any], field: str, message: str
) -> None:
    path = write_profile(shelf, with_task(change), "bad")
    with pytest.raises(ConfigError) as caught:
        chosen(shelf, {"profile": "bad"})
    text = str(caught.value)
    assert str(path) in text and field in text and message in text, text


def test_a_profile_that_is_not_yaml_or_lacks_tasks_is_refused(shelf: Path) -> None:
    broken = shelf / profiles.PROFILES_DIR / "broken.yaml"
    broken.write_text("tasks: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read the profile"):
        load(shelf, "broken")
    write_profile(shelf, {"description": "x"}, "empty")
    with pytest.raises(ConfigError, match="tasks: required field is missing"):
        load(shelf, "empty")


def test_a_task_the_profile_does_not_cover_is_refused(shelf: Path, repo: Path) -> None:
    # Running it under the profile's name would label numbers of a setting nobody wrote.
    shutil.copytree(repo / "examples" / "tasks" / "xor-blobs", shelf / "xor-blobs")
    with pytest.raises(ConfigError, match="does not cover task xor-blobs") as caught:
        chosen(shelf, {"profile": "demo", "tasks": {"names": [TASK, "xor-blobs"]}})
    assert caught.value.field == "spec.profile"


# -- attacks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "hidden/test.csv",  # the test answers themselves
        "hidden/valid.csv",  # the validation answers
        "hidden",  # the folder holding both
        "hidden/copy.csv",  # anything beside hidden data
        "data/../hidden/test.csv",  # a way round
        "/etc/passwd",  # outside the task
        "starter/baseline.py",  # outside the dataset's own folder
    ],
)
def test_a_variant_cannot_show_the_sandbox_hidden_data(shelf: Path, path: str) -> None:
    write_profile(shelf, with_task({"datasets": {"train": {"path": path}}}), "leak")
    with pytest.raises(ConfigError) as caught:
        chosen(shelf, {"profile": "leak"})
    assert "tasks.polyfit.datasets.train" in str(caught.value)


def test_a_variant_of_a_dataset_at_the_root_cannot_be_the_evaluation_script(shelf: Path) -> None:
    # A dataset at the task's root would let a variant anywhere but hidden folders: never
    # beside the evaluation script, which the sandbox must not hold either.
    task = polyfit(shelf)
    root_train = [
        d.model_copy(update={"path": "train.csv"}) if d.name == "train" else d
        for d in task.spec.datasets
    ]
    moved = task.model_copy(update={"spec": task.spec.model_copy(update={"datasets": root_train})})
    for path in ("evaluate.py", "train-full.csv"):
        write_profile(shelf, with_task({"datasets": {"train": {"path": path}}}), "root")
        with pytest.raises(ConfigError, match="beside the evaluation script"):
            profiles.apply_task(load(shelf, "root"), moved, validation="test")


def test_hidden_data_beside_the_agents_data_closes_that_folder_to_variants(shelf: Path) -> None:
    # A task keeping its answers in data/ (next to the agent's files): no variant goes there.
    task = polyfit(shelf)
    answers = task.spec.evaluation.test_data[0].model_copy(update={"path": "data/answers.csv"})
    evaluation = task.spec.evaluation.model_copy(update={"test_data": [answers]})
    moved = task.model_copy(
        update={"spec": task.spec.model_copy(update={"evaluation": evaluation})}
    )
    with pytest.raises(ConfigError, match="reaches hidden data"):
        profiles.apply_task(load(shelf), moved, validation="test")


@pytest.mark.parametrize(
    "key",
    ["validationData", "evaluation", "testData", "network", "image", "description", "starterCode"],
)
def test_a_profile_cannot_touch_a_tasks_hidden_data_evaluation_or_network(
    shelf: Path, key: str
) -> None:
    write_profile(shelf, with_task({key: {"path": "hidden/test.csv"}}), "reach")
    with pytest.raises(ConfigError, match=f"tasks.polyfit.{key}: unknown field"):
        load(shelf, "reach")


def test_a_variant_cannot_move_where_the_sandbox_mounts_it(shelf: Path) -> None:
    change = {"datasets": {"train": {"path": "data/full/train.csv", "mountPath": "../hidden"}}}
    write_profile(shelf, with_task(change), "mount")
    with pytest.raises(ConfigError, match=r"datasets\.train\.mountPath: unknown field"):
        load(shelf, "mount")


def test_a_run_files_own_task_under_a_profiled_name_is_not_the_profiles(shelf: Path) -> None:
    # A run file brings a Task called polyfit with an easy bar, and asks for profile demo:
    # the numbers would be labelled "demo" while the task was the run file's.
    own = yaml.safe_load((shelf / TASK / "task.yaml").read_text())
    own["spec"]["baselineScores"] = {"r2": -5.0, "rmse": 99.0}
    (shelf.parent / "data").mkdir(exist_ok=True)  # its paths resolve against the run file
    selected = chosen(shelf, {"profile": "demo"}, own)
    assert selected.profile == "demo (task polyfit from the run file)"


def test_a_profiled_run_records_its_profile_in_the_leaderboards_scope(
    tmp_path: Path, shelf: Path, repo: Path
) -> None:
    # End to end through the local runner and the real sandbox: the agent sees the full
    # training set, validate scores on test data, and the scope names the profile.
    replay = tmp_path / "agent.jsonl"
    actions = ["wc -l data/train.csv", "ls data", "python baseline.py", "validate", "submit"]
    replay.write_text("".join(json.dumps({"action": a}) + "\n" for a in actions))
    # Without sandbox egress: this test is about the data and the scope, not the proxy.
    write_profile(
        shelf, {**PROFILE, "run": {"validation": "test", "bestSubmission": "last-score"}}, "offline"
    )
    spec = {
        "profile": "offline",
        "agents": [{"name": "replayer", "builtin": "replay", "replayPath": str(replay)}],
    }
    parsed = run_file(spec)
    (tmp_path / "tasks").symlink_to(shelf)
    summary = asyncio.run(LocalRun(parsed, tmp_path, tmp_path / "out").execute())
    (result,) = summary.trials
    trajectory = (tmp_path / "out" / "trials" / result.trial / "trajectory.jsonl").read_text()
    steps = [json.loads(line) for line in trajectory.splitlines()]
    assert f"{FULL_ROWS + 1} data/train.csv" in steps[0]["observation"]
    assert "hidden" not in steps[1]["observation"]
    validate = next(s for s in result.scores if s.action == "validate")
    assert validate.metrics == validate.test_metrics  # validation: test, the profile's
    board = json.loads((tmp_path / "out" / rollups.LEADERBOARD_JSON).read_text())
    assert board["scope"]["profile"] == "offline"
    assert board["scope"]["best_submission"] == "last-score"


def test_a_profile_naming_a_task_there_is_not_is_refused(shelf: Path) -> None:
    # A misspelt name would set nothing, and the run would go ahead in another setting.
    path = write_profile(shelf, {**PROFILE, "tasks": {**PROFILE["tasks"], "polyfitt": {}}}, "typo")
    with pytest.raises(ConfigError) as caught:
        chosen(shelf, {"profile": "typo"})
    assert f"{path}: tasks.polyfitt: unknown task" in str(caught.value)
    assert "known tasks: polyfit" in str(caught.value)
