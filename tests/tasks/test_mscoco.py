"""The MS-COCO captioning task (real loader on a fixture) and its synthetic proxy.

mscoco-captioning's data lives on cocodataset.org only: offline, preparing it
must fail with a clear error, and its real prepare.py is tested on a fixture
in the archives' exact form (annotations_trainval2014.zip with the captions
JSON, train2014.zip and val2014.zip with the images). mscoco-proxy generates
its data, so it is tested like any offline task: reproducible preparation, its
baseline in a stated range through the sandbox and the evaluator, malformed
submissions refused. Both share the evaluation (BLEU as MLGym computes it).
"""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubegym.api import tasks
from kubegym.cli import main
from kubegym.errors import ConfigError
from kubegym.evaluator import scorer
from kubegym.local import baselines
from kubegym.tasks import catalog, checksums, datasets, preparation, venvs
from tests.tasks.conftest import TASK_IMAGES, baseline, bundle, prepared, score_file

REAL, PROXY = "mscoco-captioning", "mscoco-proxy"
_COLOURS = {
    "red": (210, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 70, 210),
    "yellow": (230, 210, 40),
}
_THINGS = ["a cat on a sofa", "a bus in the street", "a plate of food", "a man with a kite"]


def _ppm(colour: tuple[int, int, int], size: int = 24) -> bytes:
    """A plain picture; Pillow reads it by its content whatever the file's name says."""
    return f"P6\n{size} {size}\n255\n".encode() + bytes(colour) * (size * size)


def _coco_split(split: str, count: int, first_id: int, rng: random.Random) -> tuple[dict, dict]:
    """The captions JSON of one COCO split and its images' bytes by file name."""
    images, annotations, files = [], [], {}
    for n in range(count):
        image_id = first_id + n
        colour = rng.choice(list(_COLOURS))
        name = f"COCO_{split}_{image_id:012d}.jpg"
        images.append({"id": image_id, "file_name": name, "height": 24, "width": 24})
        files[name] = _ppm(_COLOURS[colour])
        for k in range(5):
            caption = f"A {colour} picture of {rng.choice(_THINGS)}."
            annotations.append({"image_id": image_id, "id": image_id * 10 + k, "caption": caption})
    return {"info": {}, "images": images, "annotations": annotations}, files


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def fixture_task(tmp_path_factory: pytest.TempPathFactory) -> catalog.TaskBundle:
    """mscoco-captioning with its URL sources replaced by small archives of the same form."""
    folder = tmp_path_factory.mktemp("coco-fixture")
    rng = random.Random(7)
    train, train_files = _coco_split("train2014", 80, 1, rng)
    val, val_files = _coco_split("val2014", 40, 1000, rng)
    archives = {
        "annotations": _zip(
            folder / "annotations_trainval2014.zip",
            {
                "annotations/captions_train2014.json": json.dumps(train).encode(),
                "annotations/captions_val2014.json": json.dumps(val).encode(),
            },
        ),
        "train-images": _zip(
            folder / "train2014.zip", {f"train2014/{n}": b for n, b in train_files.items()}
        ),
        "val-images": _zip(
            folder / "val2014.zip", {f"val2014/{n}": b for n, b in val_files.items()}
        ),
    }
    real = bundle(REAL)
    spec = real.task.spec
    assert spec.preparation is not None
    sources = [
        tasks.Dataset(name=s.name, path=str(archives[s.name])) for s in spec.preparation.sources
    ]
    preparing = spec.preparation.model_copy(update={"sources": sources})
    task = real.task.model_copy(update={"spec": spec.model_copy(update={"preparation": preparing})})
    return catalog.TaskBundle(task, real.root)


def _local_sets(task: catalog.TaskBundle) -> list[tasks.Dataset]:
    spec = task.task.spec
    return [
        d for d in [*spec.datasets, *spec.validation_data, *spec.evaluation.test_data] if d.path
    ]


def _hashes(task: catalog.TaskBundle) -> dict[str, str]:
    root = preparation.prepare(task, force=True)
    return {d.path: checksums.sha256_of(root / d.path) for d in _local_sets(task)}


@pytest.mark.parametrize("name", [REAL, PROXY])
def test_the_task_validates(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", str(TASK_IMAGES / name / "task.yaml")])
    assert result.exit_code == 0, result.output


def test_offline_preparation_of_coco_names_the_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBEGYM_CACHE", str(tmp_path))  # no cached copy of the archives
    with pytest.raises(ConfigError) as caught:
        preparation.prepare(bundle(REAL), force=True)
    message = str(caught.value)
    assert "cannot download dataset 'annotations'" in message
    assert "images.cocodataset.org" in message
    assert "path:" in message  # the hint: download it elsewhere and point `path:` at it


def test_coco_preparation_reads_the_archives_reproducibly(fixture_task: catalog.TaskBundle) -> None:
    assert _hashes(fixture_task) == _hashes(fixture_task)
    root = preparation.prepared_root(fixture_task)
    train = [json.loads(line) for line in (root / "data" / "train_captions.jsonl").open()]
    evaluation = [json.loads(line) for line in (root / "data" / "eval_images.jsonl").open()]
    valid = [json.loads(line) for line in (root / "hidden" / "valid.jsonl").open()]
    test = [json.loads(line) for line in (root / "hidden" / "test.jsonl").open()]
    assert (len(train), len(evaluation), len(valid), len(test)) == (80, 40, 20, 20)
    assert len(list((root / "data" / "train").iterdir())) == 80
    assert all((root / "data" / "eval" / e["file_name"]).is_file() for e in evaluation)
    assert {v["image_id"] for v in valid}.isdisjoint(t["image_id"] for t in test)
    assert all(t["reference"] in t["captions"] and len(t["captions"]) == 5 for t in test)


def test_the_coco_baseline_runs_on_the_fixture(fixture_task: catalog.TaskBundle) -> None:
    results = baselines.run_baseline(fixture_task, budget=0.01)
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None
    # Retrieval by colour gets "a <colour> picture of" right, the thing is a guess: 0.661, 0.914.
    assert 0.60 <= results.final["bleu"] <= 0.75
    assert 0.80 <= results.final["bleu_words"] <= 1.0


def test_the_proxy_preparation_is_reproducible_and_pinned() -> None:
    task = bundle(PROXY)
    assert _hashes(task) == _hashes(task) == {d.path: d.sha256 for d in _local_sets(task)}


def test_the_proxy_baseline_scores_in_range() -> None:
    results = baseline(PROXY, budget=0.05)
    assert results.exit_reason == "submitted", results.message
    assert results.final is not None
    # 0.4413 at this budget (1,000 training pictures indexed), 0.4501 at budget 1.
    assert 0.40 <= results.final["bleu"] <= 0.48
    assert 0.48 <= results.final["bleu_words"] <= 0.60


def test_perfect_and_broken_proxy_submissions(tmp_path: Path) -> None:
    root = preparation.prepared_root(prepared(PROXY))
    truth = [json.loads(line) for line in (root / "hidden" / "test.jsonl").open()]
    (tmp_path / "perfect").mkdir()
    perfect = tmp_path / "perfect" / "submission.csv"
    perfect.write_text(
        "image_id,caption\n" + "".join(f'{t["image_id"]},"{t["reference"]}"\n' for t in truth)
    )
    scoring = score_file(PROXY, perfect, "test")
    assert scoring.metrics is not None, scoring.error
    assert scoring.metrics["bleu"] == pytest.approx(1.0)

    (tmp_path / "columns").mkdir()
    wrong = tmp_path / "columns" / "submission.csv"
    wrong.write_text("id,text\n1,a red circle\n")
    scoring = score_file(PROXY, wrong, "test")
    assert scoring.metrics is None
    assert "must have the columns image_id,caption" in (scoring.error or "")

    (tmp_path / "short").mkdir()
    short = tmp_path / "short" / "submission.csv"
    short.write_text(f"image_id,caption\n{truth[0]['image_id']},a red circle\n")
    scoring = score_file(PROXY, short, "validation")
    assert "the submission has no caption for" in (scoring.error or "")


def test_a_broken_coco_submission_is_refused(
    fixture_task: catalog.TaskBundle, tmp_path: Path
) -> None:
    spec = fixture_task.task.spec
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "submission.csv").write_text("image_id,caption\nnot-a-number,a cat\n")
    scoring = scorer.score(
        spec.evaluation,
        task_dir=fixture_task.root,
        workspace=workspace,
        data={d.name: datasets.materialize(fixture_task, d) for d in spec.evaluation.test_data},
        split="test",
        python=str(venvs.python(venvs.ensure(spec.environment.requirements))),
        env={"KUBEGYM_BUDGET": "1"},
    )
    assert scoring.metrics is None
    assert "image_id must be an integer" in (scoring.error or "")
