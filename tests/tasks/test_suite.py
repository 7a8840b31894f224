"""The task suite as a whole: 13 MLGym tasks, each folder complete and valid, proxies apart."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from kubegym.cli import main
from tests.tasks.conftest import TASK_IMAGES, bundle

SUITE = TASK_IMAGES / "suites" / "mlgym-bench.yaml"
TASK_FOLDERS = sorted(p.parent for p in TASK_IMAGES.glob("*/task.yaml"))


def test_the_suite_lists_mlgyms_13_tasks() -> None:
    names = yaml.safe_load(SUITE.read_text())["tasks"]
    assert len(names) == 13 == len(set(names))
    assert not [n for n in names if n.endswith("-proxy")]
    assert sorted(names) == sorted(n for n in names if (TASK_IMAGES / n / "task.yaml").is_file())


def test_every_task_folder_is_complete() -> None:
    assert len(TASK_FOLDERS) >= 13
    for folder in TASK_FOLDERS:
        # The task's files: its folder laid over the families it includes.
        files = bundle(folder.name).root
        for needed in ("Dockerfile", "README.md", "evaluate.py", "starter"):
            assert (files / needed).exists(), f"{folder.name} lacks {needed}"
        for own in ("Dockerfile", "README.md"):
            assert (folder / own).is_file(), f"{folder.name} lacks its own {own}"
        assert "sandbox-base" in (folder / "Dockerfile").read_text(), folder.name


def test_every_task_validates() -> None:
    result = CliRunner().invoke(main, ["validate", *(str(f / "task.yaml") for f in TASK_FOLDERS)])
    assert result.exit_code == 0, result.output


def test_tasks_list_shows_the_suite_with_metrics_and_baselines(monkeypatch: object) -> None:
    import json

    result = CliRunner().invoke(main, ["tasks", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {row["task"]: row for row in json.loads(result.stdout)}
    for name in yaml.safe_load(SUITE.read_text())["tasks"]:
        assert listed[name]["metric"] and listed[name]["direction"] in ("max", "min")
    proxies = [n for n in listed if n.endswith("-proxy")]
    for proxy in proxies:
        assert "proxy" in (TASK_IMAGES / proxy / "task.yaml").read_text().lower()


def test_folder_names_are_task_names() -> None:
    for folder in TASK_FOLDERS:
        doc = yaml.safe_load((folder / "task.yaml").read_text())
        assert doc["metadata"]["name"] == folder.name
        assert Path(bundle(folder.name).root / doc["spec"]["evaluation"]["script"]).is_file()


def test_the_offline_suite_holds_runnable_tasks_and_the_proxies() -> None:
    offline = yaml.safe_load((TASK_IMAGES / "suites" / "offline.yaml").read_text())["tasks"]
    assert all((TASK_IMAGES / name / "task.yaml").is_file() for name in offline)
    proxies = sorted(f.name for f in TASK_FOLDERS if f.name.endswith("-proxy"))
    assert proxies and set(proxies) <= set(offline)
    online_only = {"cifar10", "mnli", "mscoco-captioning", "fineweb-lm"}
    assert not online_only & set(offline)
